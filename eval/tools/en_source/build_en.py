#!/usr/bin/env python3
"""Build the English evaluation mails (eval/en/*.eml + labels.jsonl) from the
UTF-8 sources in this directory (eNNN.txt).

Source format (one mail per file):

    id: e001
    date: 2026-10-05 07:40            # local time Europe/Berlin, offset computed
    from: Name <addr@domain>          # non-ASCII display names get RFC 2047
    to: service@itservice.example     # optional, this is the default
    subject: text                     # may be empty
    subject-enc: q|b                  # optional: force RFC 2047 encoding
    type: plain|html|alt|dsn|rawhtml  # html: paragraphs -> <p>, lines -> <br>
    charset: utf-8|iso-8859-1|windows-1252
    cte: 7bit|8bit|quoted-printable|base64
    header: Name: value               # repeatable, extra headers in order
    label: priority=.. urgency=.. deadline=YYYY-MM-DD|null planned=true|false automated=true|false [language=en]
    ---
    body (UTF-8). For type dsn the body has three sections separated by the
    lines '--- delivery-status ---' and '--- original ---'.

Usage: build_en.py [SRC_DIR] [OUT_DIR]   (defaults: this dir, ../../en)
"""
import base64
import hashlib
import html
import json
import quopri
import re
import sys
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def parse_source(path):
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n---\n")
    meta = {"header": [], "to": "service@itservice.example", "subject": "",
            "type": "plain", "charset": "utf-8", "cte": "8bit", "subject-enc": ""}
    for line in head.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, val = line.partition(":")
        key, val = key.strip().lower(), val.strip()
        if key == "header":
            meta["header"].append(val)
        else:
            meta[key] = val
    meta["body"] = body.rstrip("\n") + "\n"
    return meta


def enc_words(s, charset, mode):
    if not mode and all(ord(c) < 128 for c in s):
        return s
    cs = charset if charset != "iso-8859-1" or all(ord(c) < 256 for c in s) else "utf-8"
    try:
        s.encode(cs)
    except UnicodeEncodeError:
        cs = "utf-8"
    return Header(s, cs).encode(maxlinelen=76, splitchars=" ") if mode != "b" else \
        "=?%s?b?%s?=" % (cs, base64.b64encode(s.encode(cs)).decode())


def enc_subject(s, charset, mode):
    if not mode and all(ord(c) < 128 for c in s):
        return s
    if mode == "b":
        return enc_words(s, charset, "b")
    # encode only the words that need it, like most mail clients do
    out = []
    for w in s.split(" "):
        if all(ord(c) < 128 for c in w) and mode != "q":
            out.append(w)
        else:
            cs = charset
            try:
                w.encode(cs)
            except UnicodeEncodeError:
                cs = "utf-8"
            b = w.encode(cs)
            q = "".join(chr(x) if (chr(x).isalnum() and x < 128) else "=%02X" % x for x in b)
            out.append("=?%s?q?%s?=" % (cs, q))
    return " ".join(out)


def enc_addr(a, charset):
    name, addr = parseaddr(a)
    if not name:
        return a
    if all(ord(c) < 128 for c in name):
        if re.search(r"[,.;:@()]", name):
            return '"%s" <%s>' % (name, addr)
        return "%s <%s>" % (name, addr)
    return "%s <%s>" % (enc_words(name, charset, "q"), addr)


def to_html(body):
    paras = re.split(r"\n\s*\n", body.strip("\n"))
    out = ['<html><head><meta http-equiv="Content-Type" content="text/html"></head>'
           '<body style="font-family:Calibri,sans-serif">']
    for p in paras:
        out.append("<p>" + "<br>\n".join(html.escape(l, quote=True) for l in p.split("\n")) + "</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def encode_body(text, charset, cte):
    raw = text.encode(charset)
    if cte == "7bit":
        raw.decode("ascii")
        assert all(len(l) < 998 for l in raw.split(b"\n"))
        return raw.decode("ascii")
    if cte == "8bit":
        assert all(len(l) < 998 for l in raw.split(b"\n")), "8bit line too long"
        return raw.decode(charset)
    if cte == "quoted-printable":
        return quopri.encodestring(raw).decode("ascii")
    if cte == "base64":
        return base64.encodebytes(raw).decode("ascii")
    raise ValueError(cte)


def body_bytes(s, charset, cte):
    return s.encode("ascii") if cte != "8bit" else s.encode(charset)


def build(meta):
    mid = meta["id"]
    local = datetime.strptime(meta["date"], "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN)
    _, addr = parseaddr(meta["from"])
    domain = addr.rsplit("@", 1)[1] if "@" in addr else "itservice.example"
    hexid = hashlib.sha256((mid + meta["date"] + addr).encode()).hexdigest()[:16]
    cs, cte, typ = meta["charset"], meta["cte"], meta["type"]
    body = meta["body"]
    hdr = ["MIME-Version: 1.0"]
    parts = None
    if typ in ("plain", "html", "rawhtml"):
        sub = "plain" if typ == "plain" else "html"
        content = to_html(body) if typ == "html" else body
        hdr.append('Content-Type: text/%s; charset="%s"' % (sub, cs))
        hdr.append("Content-Transfer-Encoding: %s" % cte)
        payload = encode_body(content, cs, cte)
    elif typ == "alt":
        bnd = "----=_NextPart_%s" % hexid[:12]
        hdr.append('Content-Type: multipart/alternative; boundary="%s"' % bnd)
        p1 = encode_body(body, cs, cte)
        p2 = encode_body(to_html(body), cs, cte)
        payload = ("This is a multi-part message in MIME format.\n\n"
                   "--%s\nContent-Type: text/plain; charset=\"%s\"\nContent-Transfer-Encoding: %s\n\n%s\n"
                   "--%s\nContent-Type: text/html; charset=\"%s\"\nContent-Transfer-Encoding: %s\n\n%s\n--%s--\n"
                   % (bnd, cs, cte, p1, bnd, cs, cte, p2, bnd))
    elif typ == "dsn":
        human, rest = body.split("\n--- delivery-status ---\n")
        status, orig = rest.split("\n--- original ---\n")
        bnd = "%s/%s" % (hexid[:10].upper(), domain)
        hdr.append('Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="%s"' % bnd)
        payload = ("This is a MIME-encapsulated message.\n\n"
                   "--%s\nContent-Description: Notification\nContent-Type: text/plain; charset=\"%s\"\n"
                   "Content-Transfer-Encoding: %s\n\n%s\n"
                   "--%s\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n%s\n"
                   "--%s\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n%s\n--%s--\n"
                   % (bnd, cs, cte, encode_body(human, cs, cte).rstrip("\n"), bnd, status.strip("\n") + "\n",
                      bnd, orig.strip("\n") + "\n", bnd))
    else:
        raise ValueError(typ)
    hdr.append("Date: " + format_datetime(local))
    hdr.append("From: " + enc_addr(meta["from"], cs))
    hdr.append("To: " + enc_addr(meta["to"], cs))
    hdr.append("Subject: " + enc_subject(meta["subject"], cs, meta["subject-enc"]) if meta["subject"] else "Subject:")
    hdr.append("Message-ID: <%s.%s@%s>" % (hexid, mid, domain))
    hdr.extend(meta["header"])
    text = "\n".join(hdr) + "\n\n" + payload
    return text.encode(cs if cte == "8bit" else "ascii")


def labels(meta):
    kv = dict(x.split("=", 1) for x in meta["label"].split())
    dl = kv["deadline"]
    return {"id": meta["id"], "language": kv.get("language", "en"), "priority": kv["priority"],
            "urgency": kv["urgency"], "deadline": None if dl == "null" else dl,
            "planned_change": kv["planned"] == "true", "automated": kv["automated"] == "true"}


def main():
    here = Path(__file__).resolve().parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else here
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent.parent / "en"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in sorted(src.glob("e[0-9][0-9][0-9].txt")):
        meta = parse_source(p)
        assert meta["id"] == p.stem, p
        try:
            data = build(meta)
        except Exception as exc:
            raise SystemExit("%s: %s" % (p.name, exc))
        (out / (meta["id"] + ".eml")).write_bytes(data)
        rows.append(labels(meta))
    with open(out / "labels.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("built %d mails into %s" % (len(rows), out))


if __name__ == "__main__":
    main()
