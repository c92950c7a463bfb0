#!/usr/bin/env python3
"""Build labelled evaluation mails (.eml + labels.jsonl) from plain UTF-8 sources.

Usage:
    python eval/tools/build.py SOURCE_DIR OUTPUT_DIR [--lang de]

Every ``*.txt`` file in SOURCE_DIR holds one or more messages; the format is
described in ``eval/README.md``.  Output: ``OUTPUT_DIR/<id>.eml`` (CRLF line
endings) and ``OUTPUT_DIR/labels.jsonl`` (sorted by id).  The build is
deterministic: the same sources always give byte-identical output.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import quopri
import re
import sys
from datetime import datetime
from email.utils import format_datetime, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")

PRIORITIES = {"critical", "normal", "low"}
URGENCIES = {"urgent", "not_urgent", "none"}
CTES = {"7bit", "8bit", "quoted-printable", "base64"}
FORMATS = {"plain", "html", "htmlsrc", "alternative", "raw"}
HTML_STYLES = {"p", "outlook", "gmail", "apple"}

FRONT = ("MIME-Version", "Content-Type", "Content-Transfer-Encoding",
         "Date", "From", "To", "Cc", "Subject", "Message-ID")


class SourceError(Exception):
    pass


def _hash(text: str, n: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


# --------------------------------------------------------------------------
# parsing of source files
# --------------------------------------------------------------------------

def parse_sources(src_dir: Path, default_lang: str):
    msgs = []
    for path in sorted(src_dir.glob("*.txt")):
        cur = None
        for lineno, line in enumerate(path.read_text("utf-8").split("\n"), 1):
            if line.startswith("%%% "):
                if cur:
                    msgs.append(cur)
                cur = {"id": line[4:].strip(), "file": f"{path.name}:{lineno}",
                       "lines": []}
                continue
            if cur is None:
                if line.strip() and not line.startswith("#"):
                    raise SourceError(f"{path}:{lineno}: text before first '%%% id'")
                continue
            cur["lines"].append(line)
        if cur:
            msgs.append(cur)
    return [parse_message(m, default_lang) for m in msgs]


def parse_message(m, default_lang):
    lines = m["lines"]
    d = {"id": m["id"], "where": m["file"], "lang": default_lang,
         "charset": "utf-8", "cte": "8bit", "format": "plain",
         "htmlstyle": None, "hdrenc": None, "headers": [], "labels": None}
    i = 0
    # directives
    while i < len(lines) and lines[i].startswith("@"):
        key, _, val = lines[i][1:].partition(" ")
        val = val.strip()
        if key == "labels":
            d["labels"] = parse_labels(val, d["where"])
        elif key in ("charset", "cte", "format", "htmlstyle", "hdrenc", "lang"):
            d[key] = val.lower() if key != "lang" else val
        else:
            raise SourceError(f"{d['where']}: unknown directive @{key}")
        i += 1
    # headers
    while i < len(lines) and lines[i].strip() != "":
        line = lines[i]
        if line[:1] in (" ", "\t") and d["headers"]:
            name, val = d["headers"][-1]
            d["headers"][-1] = (name, val + "\n" + line)
        else:
            name, sep, val = line.partition(":")
            if not sep:
                raise SourceError(f"{d['where']}: bad header line {line!r}")
            d["headers"].append((name.strip(), val.strip()))
        i += 1
    body = "\n".join(lines[i + 1:])
    d["body"] = body.rstrip() + "\n"
    if d["labels"] is None:
        raise SourceError(f"{d['where']}: missing @labels")
    if d["cte"] not in CTES:
        raise SourceError(f"{d['where']}: bad @cte {d['cte']}")
    if d["format"] not in FORMATS:
        raise SourceError(f"{d['where']}: bad @format {d['format']}")
    if d["htmlstyle"] and d["htmlstyle"] not in HTML_STYLES:
        raise SourceError(f"{d['where']}: bad @htmlstyle {d['htmlstyle']}")
    return d


def parse_labels(text, where):
    out = {}
    for part in text.split():
        k, sep, v = part.partition("=")
        if not sep:
            raise SourceError(f"{where}: bad label {part!r}")
        out[k] = v
    need = {"priority", "urgency", "deadline", "planned_change", "automated"}
    if set(out) != need:
        raise SourceError(f"{where}: labels need exactly {sorted(need)}, got {sorted(out)}")
    if out["priority"] not in PRIORITIES:
        raise SourceError(f"{where}: bad priority")
    if out["urgency"] not in URGENCIES:
        raise SourceError(f"{where}: bad urgency")
    for k in ("planned_change", "automated"):
        if out[k] not in ("true", "false"):
            raise SourceError(f"{where}: bad {k}")
        out[k] = out[k] == "true"
    if out["deadline"] in ("null", "-", "none"):
        out["deadline"] = None
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", out["deadline"]):
        raise SourceError(f"{where}: bad deadline")
    return out


# --------------------------------------------------------------------------
# header encoding
# --------------------------------------------------------------------------

def encoded_word(text: str, charset: str, enc: str) -> str:
    raw = text.encode(charset)
    if enc == "b":
        return f"=?{charset}?b?{base64.b64encode(raw).decode('ascii')}?="
    out = []
    for byte in raw:
        ch = chr(byte)
        if ch == " ":
            out.append("_")
        elif re.match(r"[A-Za-z0-9!*+\-/]", ch) and byte < 128:
            out.append(ch)
        else:
            out.append(f"={byte:02X}")
    return f"=?{charset}?q?{''.join(out)}?="


def encode_phrase(text: str, charset: str, enc: str) -> str:
    """RFC 2047-encode the non-ASCII part of a phrase (display name / subject).

    The run from the first to the last word containing non-ASCII characters is
    encoded (split into several encoded words if long); the ASCII words around
    it stay plain, as many mail clients do it.
    """
    if enc == "raw" or all(ord(c) < 128 for c in text):
        return text
    words = text.split(" ")
    idx = [k for k, w in enumerate(words) if any(ord(c) > 127 for c in w)]
    first, last = idx[0], idx[-1]
    head = " ".join(words[:first])
    mid = " ".join(words[first:last + 1])
    tail = " ".join(words[last + 1:])
    chunks, cur = [], ""
    for w in mid.split(" "):
        cand = (cur + " " + w) if cur else w
        if len(cand.encode(charset)) > 30 and cur:
            chunks.append(cur)
            cur = " " + w  # the space belongs to the next encoded word
        else:
            cur = cand
    chunks.append(cur)
    enc_words = [encoded_word(c, charset, enc) for c in chunks]
    parts = ([head] if head else []) + ["\n ".join(enc_words)] + ([tail] if tail else [])
    return " ".join(parts)


def encode_addresses(value: str, charset: str, enc: str) -> str:
    out = []
    for item in split_addresses(value):
        name, addr = parseaddr(item)
        if name and any(ord(c) > 127 for c in name):
            out.append(f"{encode_phrase(name, charset, enc)} <{addr}>")
        else:
            out.append(item.strip())
    return ", ".join(out)


def split_addresses(value: str):
    parts, cur, quote, angle = [], "", False, False
    for ch in value:
        if ch == '"':
            quote = not quote
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        if ch == "," and not quote and not angle:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def fold_subject(value: str) -> str:
    if len(value) + 9 <= 78 or "\n" in value:
        return value
    words = value.split(" ")
    lines, cur = [], "Subject:"
    for w in words:
        if len(cur) + 1 + len(w) > 76 and cur != "Subject:":
            lines.append(cur)
            cur = " " + w
        else:
            cur = cur + " " + w
    lines.append(cur)
    return "\n".join(lines)[len("Subject: "):]


def format_date(value: str, where: str) -> str:
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?", value)
    if not m:
        return value  # already an RFC 5322 date, keep verbatim
    dt = datetime.strptime(f"{m.group(1)} {m.group(2)}:{m.group(3)}:{m.group(4) or '00'}",
                           "%Y-%m-%d %H:%M:%S").replace(tzinfo=BERLIN)
    return format_datetime(dt)


# --------------------------------------------------------------------------
# body rendering
# --------------------------------------------------------------------------

def text_to_html(body: str, style: str, charset: str) -> str:
    paras = re.split(r"\n\s*\n", body.strip("\n"))
    head = (f'<html><head><meta http-equiv="Content-Type" content="text/html; '
            f'charset={charset}"></head>')
    out = []
    for para in paras:
        lines = para.split("\n")
        if all(l.startswith(">") for l in lines):
            inner = "<br>\n".join(html.escape(l.lstrip(">").lstrip(" "), quote=False)
                                  for l in lines)
            out.append(f'<blockquote type="cite" style="margin:0 0 0 .8ex;'
                       f'border-left:1px solid #ccc;padding-left:1ex">{inner}</blockquote>')
            continue
        esc = [html.escape(l, quote=False) for l in lines]
        if style == "outlook":
            out.append("\n".join(f'<p class="MsoNormal">{l or "&nbsp;"}</p>' for l in esc)
                       + '\n<p class="MsoNormal">&nbsp;</p>')
        elif style == "gmail":
            out.append("<div>" + "<br>\n".join(esc) + "</div><div><br></div>")
        elif style == "apple":
            out.append("\n".join(f"<div>{l or '<br>'}</div>" for l in esc) + "\n<div><br></div>")
        else:
            out.append("<p>" + "<br>\n".join(esc) + "</p>")
    if style == "outlook":
        body_open = ('<body lang="DE" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">'
                     '\n<div class="WordSection1">')
        body_close = "</div>\n</body></html>"
    elif style == "gmail":
        body_open = '<body>\n<div dir="ltr">'
        body_close = "</div>\n</body></html>"
    elif style == "apple":
        body_open = '<body style="word-wrap: break-word; -webkit-nbsp-mode: space;">'
        body_close = "</body></html>"
    else:
        body_open = '<body style="font-family:Calibri,sans-serif">'
        body_close = "</body></html>"
    return head + body_open + "\n" + "\n".join(out) + "\n" + body_close + "\n"


def encode_body(text: str, charset: str, cte: str, where: str) -> bytes:
    try:
        raw = text.encode(charset)
    except UnicodeEncodeError as e:
        raise SourceError(f"{where}: body not encodable in {charset}: {e}") from None
    raw = raw.replace(b"\r\n", b"\n")
    if cte == "7bit":
        if any(b > 127 for b in raw):
            raise SourceError(f"{where}: 7bit body contains non-ASCII")
        return raw
    if cte == "8bit":
        return raw
    if cte == "quoted-printable":
        return quopri.encodestring(raw, quotetabs=False)
    b64 = base64.encodebytes(raw)
    return b64


def content_headers(ctype: str, charset: str, cte: str):
    return [("Content-Type", f'{ctype}; charset="{charset}"'),
            ("Content-Transfer-Encoding", cte)]


def render(msg) -> bytes:
    where = msg["where"]
    charset, cte, fmt = msg["charset"], msg["cte"], msg["format"]
    h = _hash(msg["id"] + msg["body"][:200])
    style = msg["htmlstyle"] or ["p", "outlook", "gmail", "apple"][int(h[0], 16) % 4]
    hdrenc = msg["hdrenc"] or ("q" if int(h[1], 16) % 3 else "b")
    hdr_charset = charset if charset != "us-ascii" else "utf-8"

    src_headers = list(msg["headers"])
    names = [n.lower() for n, _ in src_headers]
    get = {n.lower(): v for n, v in src_headers}

    # body
    if fmt == "plain":
        ctype_hdrs = content_headers("text/plain", charset, cte)
        body = encode_body(msg["body"], charset, cte, where)
    elif fmt in ("html", "htmlsrc"):
        text = msg["body"] if fmt == "htmlsrc" else text_to_html(msg["body"], style, charset)
        ctype_hdrs = content_headers("text/html", charset, cte)
        body = encode_body(text, charset, cte, where)
    elif fmt == "alternative":
        boundary = f"----=_NextPart_000_{h[:4].upper()}_{h[4:12].upper()}.{h[12:16].upper()}"
        html_text = text_to_html(msg["body"], style, charset)
        parts = []
        for sub, txt in (("text/plain", msg["body"]), ("text/html", html_text)):
            ph = content_headers(sub, charset, cte)
            pb = encode_body(txt, charset, cte, where)
            parts.append("\n".join(f"{k}: {v}" for k, v in ph).encode("ascii") + b"\n\n" + pb)
        body = b"This is a multi-part message in MIME format.\n\n"
        for p in parts:
            body += f"--{boundary}\n".encode("ascii") + p + b"\n"
        body += f"--{boundary}--\n".encode("ascii")
        ctype_hdrs = [("Content-Type", f'multipart/alternative;\n\tboundary="{boundary}"')]
    else:  # raw: headers in source carry Content-Type etc.; body is verbatim
        ctype_hdrs = []
        body = msg["body"].encode("utf-8")
        if cte == "7bit" and any(b > 127 for b in body):
            raise SourceError(f"{where}: raw body contains non-ASCII")

    headers = []
    if "mime-version" not in names:
        headers.append(("MIME-Version", "1.0"))
    headers += ctype_hdrs
    from_addr = parseaddr(get.get("from", ""))[1]
    if not from_addr and "from" in get:
        raise SourceError(f"{where}: bad From")
    if "message-id" not in names:
        domain = from_addr.split("@")[-1] if "@" in from_addr else "localhost"
        src_headers.append(("Message-ID", f"<{h}.{msg['id']}@{domain}>"))

    def conv(name, value):
        low = name.lower()
        if low == "date":
            return format_date(value, where)
        if low in ("from", "to", "cc", "reply-to"):
            return encode_addresses(value, hdr_charset, hdrenc)
        if low == "subject":
            if any(ord(c) > 127 for c in value):
                return encode_phrase(value, hdr_charset, hdrenc)
            return fold_subject(value)
        return value

    ordered = sorted(src_headers, key=lambda kv: FRONT.index(kv[0]) if kv[0] in FRONT else 99)
    for name, value in ordered:
        headers.append((name, conv(name, value)))

    # trace headers such as Return-Path sit on top, as the receiving MTA adds them
    headers = ([h for h in headers if h[0].lower() == "return-path"]
               + [h for h in headers if h[0].lower() != "return-path"])
    head_lines = []
    for name, value in headers:
        v = value
        head_lines.append(f"{name}: {v}" if v else f"{name}:")
    head = "\n".join(head_lines).encode("utf-8")
    data = head + b"\n\n" + body
    if not data.endswith(b"\n"):
        data += b"\n"
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir", type=Path)
    ap.add_argument("output_dir", type=Path)
    ap.add_argument("--lang", default="de", help="default language label (de/en)")
    args = ap.parse_args(argv)

    try:
        msgs = parse_sources(args.source_dir, args.lang)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    ids = [m["id"] for m in msgs]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        print(f"error: duplicate ids {sorted(dup)}", file=sys.stderr)
        return 1
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for old in args.output_dir.glob("*.eml"):
        if old.stem not in ids:
            old.unlink()
    labels = []
    errors = 0
    for m in sorted(msgs, key=lambda m: m["id"]):
        try:
            data = render(m)
        except SourceError as e:
            print(f"error: {e}", file=sys.stderr)
            errors += 1
            continue
        (args.output_dir / f"{m['id']}.eml").write_bytes(data)
        lab = m["labels"]
        labels.append({"id": m["id"], "language": m["lang"], "priority": lab["priority"],
                       "urgency": lab["urgency"], "deadline": lab["deadline"],
                       "planned_change": lab["planned_change"], "automated": lab["automated"]})
    with open(args.output_dir / "labels.jsonl", "w", encoding="utf-8") as f:
        for lab in labels:
            f.write(json.dumps(lab, ensure_ascii=False) + "\n")
    print(f"built {len(labels)} messages into {args.output_dir}" + (f", {errors} errors" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
