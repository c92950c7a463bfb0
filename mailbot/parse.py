"""parse: raw bytes into a :class:`ParsedMail`, or a :class:`ParseError` with a reason.

Uses the stdlib ``email`` package with ``policy.default``. Every text part is decoded
with a fallback chain (declared charset, UTF-8, Windows-1252, replacement), HTML-only
mail is turned into text, and the MIME tree is walked with limits on depth and part
count so hostile mail is rejected quickly instead of parsed for minutes.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from mailbot.errors import MessageTooLargeError, ParseError
from mailbot.htmltext import html_to_text

_BERLIN = ZoneInfo("Europe/Berlin")
# One address: local part of dot-atoms or a quoted string, a domain of labels.
_ADDR = re.compile(
    r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r'|"[^"\\\r\n]*")@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$'
)
_MSGID = re.compile(r"<[^<>\s]+>")
_HEADER_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_FOLD = re.compile(r"\r?\n[ \t]*")


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int = 25 * 1024 * 1024
    max_parts: int = 1000
    max_depth: int = 30


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    subject: str
    #: the sender's address, lower-cased; "" when the From header is missing or ambiguous
    from_addr: str
    from_name: str
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    in_reply_to: str
    references: tuple[str, ...]
    thread_index: str
    #: the whole body as text (HTML converted), quotes and signature still in
    text: str
    html_only: bool
    #: lower-cased header name -> all its values, for the rules that look at headers
    headers: dict[str, tuple[str, ...]]
    content_type: str
    attachments: tuple[str, ...]
    #: what the parser had to repair, for the audit trail
    defects: tuple[str, ...]

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedMail:
    limits = limits or ParseLimits()
    if len(raw) > limits.max_bytes:
        raise MessageTooLargeError(f"message too large: {len(raw)} bytes > {limits.max_bytes}")
    _check_structure(raw, limits)
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # the parser is meant to be lenient; anything else is hostile
        raise ParseError(f"unparseable message: {type(exc).__name__}: {exc}") from exc
    if not isinstance(msg, EmailMessage):
        raise ParseError("unparseable message")

    defects: list[str] = [type(d).__name__ for d in msg.defects]
    headers = _headers(msg, defects)

    def first(name: str) -> str:
        values = headers.get(name, ())
        return values[0] if values else ""

    from_name, from_addr = _single_address(msg, "from", defects)
    _, reply_to = _single_address(msg, "reply-to", defects)
    parts = _walk(msg, limits)
    text, html_only, attachments = _body(parts, defects)

    return ParsedMail(
        message_id=_first_msgid(first("message-id")),
        subject=_subject(msg, first("subject"), defects),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=reply_to,
        to=_addresses(msg, "to", defects),
        cc=_addresses(msg, "cc", defects),
        date=_date(first("date")),
        in_reply_to=_first_msgid(first("in-reply-to")),
        references=tuple(_MSGID.findall(first("references")))[-50:],
        thread_index=first("thread-index"),
        text=text,
        html_only=html_only,
        headers=headers,
        content_type=msg.get_content_type(),
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
    )


def _check_structure(raw: bytes, limits: ParseLimits) -> None:
    """Reject absurd MIME trees before the parser builds them.

    Counting boundary declarations is a cheap upper bound on parts and nesting; the
    real tree is checked again while walking it.
    """
    declared = raw.lower().count(b"boundary=")
    if declared > limits.max_depth * 4 and declared > limits.max_parts // 10:
        raise ParseError(f"too many nested multiparts: {declared} boundaries")
    if raw.count(b"\n--") > limits.max_parts * 4:
        raise ParseError(f"too many MIME parts (over {limits.max_parts})")


def _walk(msg: Message, limits: ParseLimits) -> list[Message]:
    found: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > limits.max_depth:
            raise ParseError(f"MIME nesting deeper than {limits.max_depth}")
        found.append(part)
        if len(found) > limits.max_parts:
            raise ParseError(f"more than {limits.max_parts} MIME parts")
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
    return found


def _headers(msg: EmailMessage, defects: list[str]) -> dict[str, tuple[str, ...]]:
    """Every header as written (unfolded), without the policy's costly parsing.

    The rules read machine headers (Auto-Submitted, List-Id, Authentication-Results,
    ...); only the Subject needs decoding, which :func:`_subject` does.
    """
    result: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        text = value if isinstance(value, str) else str(value)
        # Raw 8-bit header bytes arrive as surrogate escapes: make them real text.
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = _FOLD.sub(" ", text)
        result.setdefault(name.lower(), []).append(_HEADER_CONTROL.sub("", text).strip())
    return {k: tuple(v) for k, v in result.items()}


def _subject(msg: EmailMessage, raw: str, defects: list[str]) -> str:
    try:
        value = msg.get("subject")
    except Exception:  # an encoded word the policy cannot decode: keep what is readable
        defects.append("undecodable subject")
        return raw
    if value is None:
        return ""
    return _HEADER_CONTROL.sub("", " ".join(str(value).split()))


def _single_address(msg: EmailMessage, name: str, defects: list[str]) -> tuple[str, str]:
    """Exactly one syntactically valid address, or nothing.

    A From header that parses into several addresses, or into something that is not
    a plain address, is ambiguous (CVE-2023-27043): we answer nobody rather than the
    wrong party.
    """
    try:
        header = msg.get(name)
        if header is None:
            return "", ""
        addresses = list(getattr(header, "addresses", ()))
    except Exception:
        defects.append(f"unparseable {name}")
        return "", ""
    valid = [a for a in addresses if _ADDR.match(a.addr_spec or "")]
    if len(addresses) != 1 or len(valid) != 1:
        if addresses:
            defects.append(f"ambiguous {name}")
        return "", ""
    return _HEADER_CONTROL.sub("", valid[0].display_name or ""), valid[0].addr_spec.lower()


def _addresses(msg: EmailMessage, name: str, defects: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    try:
        for header in msg.get_all(name, []) or []:
            for a in getattr(header, "addresses", ()):
                if _ADDR.match(a.addr_spec or ""):
                    found.append(a.addr_spec.lower())
    except Exception:
        defects.append(f"unparseable {name}")
    return tuple(dict.fromkeys(found))


def _first_msgid(value: str) -> str:
    match = _MSGID.search(value)
    return match.group(0) if match else ""


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000" means the zone is unknown; local time is the best guess.
        parsed = parsed.replace(tzinfo=_BERLIN)
    return parsed


def decode_part(part: Message) -> str:
    """A text part's content as str, whatever its declared charset claims."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return str(payload)
    declared = part.get_content_charset() or ""
    for charset in (declared, "utf-8"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    # Mislabelled Western European mail is nearly always Windows-1252.
    return payload.decode("cp1252", errors="replace")


def _body(parts: list[Message], defects: list[str]) -> tuple[str, bool, tuple[str, ...]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[str] = []
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = None
        try:
            filename = part.get_filename()
        except Exception:
            defects.append("bad attachment name")
        if disposition == "attachment" or (filename and ctype not in ("text/plain", "text/html")):
            attachments.append(filename or ctype)
            continue
        if ctype == "text/plain":
            plain.append(decode_part(part))
        elif ctype == "text/html":
            html.append(decode_part(part))
        elif ctype.startswith("message/") or ctype.startswith("text/"):
            # delivery reports and forwarded headers: readable, not the main text
            continue
        elif ctype != "application/octet-stream" or filename:
            attachments.append(filename or ctype)
    if plain and any(p.strip() for p in plain):
        text = "\n".join(plain)
        html_only = False
    elif html:
        text = "\n".join(html_to_text(h) for h in html)
        html_only = True
    else:
        text = ""
        html_only = False
    return _normalise_newlines(text), html_only, tuple(attachments)


def _normalise_newlines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.strip("\n")
