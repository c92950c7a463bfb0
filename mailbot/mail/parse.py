"""parse: raw bytes into a :class:`ParsedMail`, or a :class:`ParseError` with a reason.

Uses the stdlib ``email`` package. Every text part is decoded with a fallback chain
(:mod:`mailbot.mail.charsets`), the headers people write are read as ``policy.default``
reads them (:mod:`mailbot.mail.addresses`), HTML-only mail is turned into text, and
the MIME tree is walked with limits on depth and part count so hostile mail is
rejected quickly instead of parsed for minutes.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.message import Message
from email.utils import parsedate_to_datetime

from mailbot.errors import MessageTooLargeError, ParseError
from mailbot.mail.addresses import HeaderReader, address_list, single_address
from mailbot.mail.attachments import Attachment, attachment_of
from mailbot.mail.charsets import (
    SURROGATE,
    declared_charsets,
    decode_header_text,
    decode_part,
    printable,
    unfold,
)
from mailbot.mail.cutout import Cut, cut_runs, raw_payload
from mailbot.mail.headers import HEADER_END, MESSAGE_ID
from mailbot.mail.htmltext import html_to_text

__all__ = [
    "Attachment",
    "ParseLimits",
    "ParsedMail",
    "decode_header_text",
    "decode_part",
    "parse_message",
]

#: headers whose text people write, and so may be RFC 2047 encoded or 8-bit
_DECODED = frozenset(
    {"subject", "from", "to", "cc", "reply-to", "sender", "thread-topic", "comments", "keywords"}
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int = 25 * 1024 * 1024
    max_parts: int = 1000
    max_depth: int = 30
    #: the zone of a Date header that names none: the configured ``[sla] timezone``
    #: (the processor passes it); UTC for a caller without a configuration
    zone: tzinfo = UTC


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
    #: the files it carries, in the order of the mail (their content read on demand)
    attachments: tuple[Attachment, ...]
    #: what the parser had to repair, for the audit trail
    defects: tuple[str, ...]
    #: every header's lower-cased name, top to bottom: where a header stands (above or
    #: below our server's Received line) decides whether its verdict counts
    header_order: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedMail:
    limits = limits or ParseLimits()
    if len(raw) > limits.max_bytes:
        raise MessageTooLargeError(f"message too large: {len(raw)} bytes > {limits.max_bytes}")
    _check_structure(raw, limits)
    raw, repaired = _repair_header_block(raw)
    # Attachments' bodies stay out of the parser's hands (see mail.cutout).
    raw, cut = cut_runs(raw)
    try:
        # compat32 keeps headers as strings: the policy.default header registry parsed
        # every header the parser and body walk touched, a third of the per-mail cost.
        # The headers people write are decoded with policy.default one by one below.
        msg = email.message_from_bytes(raw)
    except Exception as exc:  # the parser is meant to be lenient; anything else is hostile
        raise ParseError(f"unparseable message: {type(exc).__name__}: {exc}") from exc
    if not isinstance(msg, Message):
        raise ParseError("unparseable message")

    defects: list[str] = [type(d).__name__ for d in msg.defects]
    if repaired:
        defects.append("header block repaired")
    reader = HeaderReader()
    headers = _headers(msg, defects, reader, declared_charsets(raw))

    def first(name: str) -> str:
        values = headers.get(name, ())
        return values[0] if values else ""

    from_name, from_addr = single_address(msg, "from", defects, reader)
    _, reply_to = single_address(msg, "reply-to", defects, reader)
    parts = _walk(msg, limits)
    text, html_only, attachments = _body(parts, defects, cut)

    return ParsedMail(
        message_id=_first_msgid(first("message-id")),
        subject=first("subject"),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=reply_to,
        to=address_list(msg, "to", defects, reader),
        cc=address_list(msg, "cc", defects, reader),
        date=_date(first("date"), limits.zone),
        in_reply_to=_first_msgid(first("in-reply-to")),
        references=tuple(MESSAGE_ID.findall(first("references")))[-50:],
        thread_index=first("thread-index"),
        text=text,
        html_only=html_only,
        headers=headers,
        content_type=msg.get_content_type(),
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
        header_order=tuple(key.lower() for key, _ in msg.raw_items()),
    )


def _check_structure(raw: bytes, limits: ParseLimits) -> None:
    """Reject absurd MIME trees before the parser builds them.

    Counting boundary declarations is a cheap upper bound on parts and nesting; the
    real tree is checked again while walking it.
    """
    declared = _count_folded(raw, b"boundary=")
    if declared > limits.max_depth * 4 and declared > limits.max_parts // 10:
        raise ParseError(f"too many nested multiparts: {declared} boundaries")
    if raw.count(b"\n--") > limits.max_parts * 4:
        raise ParseError(f"too many MIME parts (over {limits.max_parts})")


def _count_folded(raw: bytes, needle: bytes, window: int = 1 << 20) -> int:
    """How often ``needle`` (lower case) occurs in ``raw`` in any case, a window at a
    time: lower-casing a whole large mail held a second copy of it. The windows
    overlap by one byte less than the needle, so each occurrence counts once."""
    overlap = len(needle) - 1
    return sum(
        raw[start : start + window + overlap].lower().count(needle)
        for start in range(0, len(raw), window)
    )


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


def _headers(
    msg: Message,
    defects: list[str],
    reader: HeaderReader,
    fallbacks: tuple[str, ...] = (),
) -> dict[str, tuple[str, ...]]:
    result: dict[str, list[str]] = {}
    for key, source in msg.raw_items():
        name = key.lower()
        raw_text = source if isinstance(source, str) else str(source)
        if name not in _DECODED and raw_text.isascii():
            # Machine headers (Received, Auto-Submitted, Authentication-Results, ...)
            # are read as written: the policy's parser was a large part of the
            # per-mail cost, and the rules only match on their plain text.
            result.setdefault(name, []).append(printable(unfold(raw_text)).strip())
            continue
        try:
            # One header at a time: the policy raises on some hostile values (an
            # encoded CR/LF inside an address), and one bad header must not cost the rest.
            value = str(reader.parse(key, raw_text))
        except Exception:
            defects.append(f"undecodable header {name}")
            value = decode_header_text(raw_text, fallbacks)
        if "\ufffd" in value:
            # Raw 8-bit bytes or an encoded word in a mislabelled charset: decode
            # again with the charsets the mail itself declares.
            value = decode_header_text(raw_text, fallbacks)
        value = printable(value).strip()
        result.setdefault(name, []).append(value)
    return {k: tuple(v) for k, v in result.items()}


def _repair_header_block(raw: bytes) -> tuple[bytes, bool]:
    """Fold stray lines inside the header block into the header above them.

    Broken gateways write header lines without a colon ("X-Brightmail----") or
    wrapped without indentation. The stdlib parser then ends the headers there and
    Subject, From and the MIME structure that follow become body text. A stray line
    is only repaired when a real header line still follows before the blank line, so
    a mail that lacks the blank line but has its body right after the headers is left
    as it is. Lines before the first header (a banner) are dropped.
    """
    end = HEADER_END.search(raw[: 1 << 20])
    head = raw[: end.start()] if end else raw[: 1 << 20]
    lines = head.split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an mbox separator: the parser skips it too
    stray = [
        i
        for i, line in enumerate(lines)
        if line.strip() and not line[:1].isspace() and not _HEADER_LINE.match(line)
    ]
    if not stray:
        return raw, False
    last_header = max((i for i, line in enumerate(lines) if _HEADER_LINE.match(line)), default=-1)
    if last_header < 0 or stray[0] > last_header:
        return raw, False  # the body starts there: nothing to repair
    fixed: list[bytes] = []
    seen_header = False
    for index, line in enumerate(lines):
        if index in stray and index < last_header:
            if not seen_header:
                continue
            line = b" " + line
        elif _HEADER_LINE.match(line):
            seen_header = True
        fixed.append(line)
    rest = raw[end.start() :] if end else raw[len(head) :]
    return b"\n".join(fixed) + rest, True


def _first_msgid(value: str) -> str:
    match = MESSAGE_ID.search(value)
    return match.group(0) if match else ""


def _date(value: str, zone: tzinfo) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000" (or no zone at all) means the zone is unknown; our own
        # local time is the best guess.
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _body(
    parts: list[Message], defects: list[str], cut: Cut
) -> tuple[str, bool, tuple[Attachment, ...]]:
    plain: list[str] = []
    html: list[str] = []
    files: list[Message] = []
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
            files.append(part)
            continue
        if ctype in ("text/plain", "text/html"):
            if cut.token and cut.token in (payload := raw_payload(part)):
                part.set_payload(cut.restore(payload))
            (plain if ctype == "text/plain" else html).append(decode_part(part))
        elif ctype.startswith("message/") or ctype.startswith("text/"):
            # delivery reports and forwarded headers: readable, not the main text
            continue
        elif ctype != "application/octet-stream" or filename:
            files.append(part)
    if plain and any(p.strip() for p in plain):
        text = "\n".join(plain)
        html_only = False
    elif html:
        text = "\n".join(html_to_text(h) for h in html)
        html_only = True
    else:
        text = ""
        html_only = False
    attachments = tuple(
        attachment_of(part, position, cut, defects) for position, part in enumerate(files, 1)
    )
    return _normalise_newlines(text), html_only, attachments


def _normalise_newlines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = SURROGATE.sub("\ufffd", text)
    return text.strip("\n")
