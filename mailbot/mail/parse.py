"""parse: raw bytes into a :class:`ParsedMail`, or a :class:`ParseError` with a reason.

Uses the stdlib ``email`` package with ``policy.default``. Every text part is decoded
with a fallback chain (declared charset, UTF-8, Windows-1252, replacement), HTML-only
mail is turned into text, and the MIME tree is walked with limits on depth and part
count so hostile mail is rejected quickly instead of parsed for minutes.
"""

from __future__ import annotations

import base64
import binascii
import email
import quopri
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import MessageDefect
from email.headerregistry import Address
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.errors import MessageTooLargeError, ParseError
from mailbot.mail.headers import HEADER_END, MESSAGE_ID
from mailbot.mail.htmltext import html_to_text

_BERLIN = ZoneInfo("Europe/Berlin")
# One address: local part of dot-atoms or a quoted string, a domain of labels.
_ADDR = re.compile(
    r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r'|"[^"\\\r\n]*")@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$'
)
# Message-IDs are printable ASCII (RFC 5322 msg-id); anything else is not one.
_HEADER_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_DEFAULT = policy.default
_FOLD = re.compile(r"\r?\n[ \t]*")
#: headers whose text people write, and so may be RFC 2047 encoded or 8-bit
_DECODED = frozenset(
    {"subject", "from", "to", "cc", "reply-to", "sender", "thread-topic", "comments", "keywords"}
)
#: lone surrogates: how the stdlib keeps undecodable bytes; no encoder will write them
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT = re.compile(r"\([^()@]*\)")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Labels real mail uses for encodings Python knows under a wider or other name. GB2312
#: mail is nearly always GBK/GB18030 in fact; ISO-2022-JP often carries JIS X 0212.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-gb2312": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cn-gb": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "unicode-1-1-utf-7": "utf-7",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-874": "cp874",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_CHARSET_PARAM = re.compile(rb"charset\s*=\s*\"?([A-Za-z0-9_.:+-]{1,40})", re.IGNORECASE)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_SINGLE_BYTE = re.compile(r"^(iso-?8859|latin|windows-12|cp12|koi8|us-ascii|ascii)")
#: headers policy.default reads as an address list (AddressHeader)
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})
#: the decoded headers policy.default reads as free text (UnstructuredHeader)
_UNSTRUCTURED = frozenset({"subject", "thread-topic", "comments", "keywords"})
# RFC 5322 atext as the stdlib parser has it for printable ASCII (not its SPECIALS).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
#: one list entry: "addr@domain", "Some Name <addr@domain>" or '"Name, Some" <addr@domain>',
#: nothing the parser would repair or complain about
_PLAIN_MAILBOX = re.compile(
    r"[ \t]*(?:"
    rf'(?:(?P<name>{_ATEXT}+(?:[ \t]+{_ATEXT}+)*)|"(?P<quoted>[ \t!#-\[\]-~]+)")?[ \t]*'
    rf"<(?P<local>{_DOT_ATOM})@(?P<domain>{_DOT_ATOM})>"
    rf"|(?P<bare_local>{_DOT_ATOM})@(?P<bare_domain>{_DOT_ATOM}))[ \t]*"
)


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
    raw, repaired = _repair_header_block(raw)
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
    registry = _Registry()
    headers = _headers(msg, defects, registry, _declared_charsets(raw))

    def first(name: str) -> str:
        values = headers.get(name, ())
        return values[0] if values else ""

    from_name, from_addr = _single_address(msg, "from", defects, registry)
    _, reply_to = _single_address(msg, "reply-to", defects, registry)
    parts = _walk(msg, limits)
    text, html_only, attachments = _body(parts, defects)

    return ParsedMail(
        message_id=_first_msgid(first("message-id")),
        subject=first("subject"),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=reply_to,
        to=_addresses(msg, "to", defects, registry),
        cc=_addresses(msg, "cc", defects, registry),
        date=_date(first("date")),
        in_reply_to=_first_msgid(first("in-reply-to")),
        references=tuple(MESSAGE_ID.findall(first("references")))[-50:],
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


class _Registry:
    """policy.default's parse of a header, once per mail: the address headers are
    read both as text and as addresses, and that parser is the dearest step here."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], Any] = {}

    def parse(self, name: str, raw_text: str) -> Any:
        key = (name.lower(), raw_text)
        if key not in self._seen:
            plain: Any = None
            if key[0] in _ADDRESS_HEADERS:
                plain = _plain_address_list(raw_text)
            elif key[0] in _UNSTRUCTURED and raw_text.isascii() and "=?" not in raw_text:
                # Without an encoded word, policy.default's text of an ASCII subject is
                # the value unfolded (tests/test_parse_addresses.py holds them equal).
                plain = raw_text.replace("\r", "").replace("\n", "")
            if plain is not None:
                self._seen[key] = plain
            else:
                try:
                    self._seen[key] = _DEFAULT.header_fetch_parse(name, raw_text)
                except Exception as exc:  # remembered, raised again for every reader
                    self._seen[key] = exc
        found = self._seen[key]
        if isinstance(found, Exception):
            raise found
        return found


@dataclass(frozen=True)
class _PlainAddressList:
    """What policy.default makes of a plain address header, as far as this module
    reads it: its text, its addresses and (none) defects."""

    text: str
    addresses: tuple[Address, ...]
    defects: tuple[MessageDefect, ...] = ()

    def __str__(self) -> str:
        return self.text


def _plain_address_list(raw_text: str) -> _PlainAddressList | None:
    """The address list of a header in the plain shape most mail has, or None.

    The stdlib parser (``get_address_list``) cost more than anything else in parsing
    a mail. Only values it reads without a repair or a defect are taken here:
    printable ASCII, dot-atoms around the "@", a display name of atoms or of one
    quoted string without quoted pairs; no comments, groups, routes, encoded words
    or empty entries. Everything else goes to the parser.
    tests/test_parse_addresses.py holds the two to the same output.
    """
    # As header_fetch_parse unfolds: line breaks go, the indentation stays.
    value = raw_text.replace("\r", "").replace("\n", "")
    if "=?" in value:
        return None
    addresses: list[Address] = []
    position, end = 0, len(value)
    while True:
        m = _PLAIN_MAILBOX.match(value, position)
        if m is None:
            return None
        if m["bare_local"] is not None:
            addresses.append(Address("", m["bare_local"], m["bare_domain"]))
        elif m["quoted"] is not None:
            # Inside quotes the parser keeps the blanks as written.
            addresses.append(Address(m["quoted"], m["local"], m["domain"]))
        else:
            # Between atoms it makes each run of blanks one space.
            name = " ".join(m["name"].split()) if m["name"] else ""
            addresses.append(Address(name, m["local"], m["domain"]))
        position = m.end()
        if position == end:
            break
        if value[position] != ",":
            return None
        position += 1
    return _PlainAddressList(", ".join(str(a) for a in addresses), tuple(addresses))


def _headers(
    msg: Message,
    defects: list[str],
    registry: _Registry,
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
            result.setdefault(name, []).append(
                _HEADER_CONTROL.sub("", _FOLD.sub(" ", raw_text)).strip()
            )
            continue
        try:
            # One header at a time: the policy raises on some hostile values (an
            # encoded CR/LF inside an address), and one bad header must not cost the rest.
            value = str(registry.parse(key, raw_text))
        except Exception:
            defects.append(f"undecodable header {name}")
            value = decode_header_text(raw_text, fallbacks)
        if "\ufffd" in value:
            # Raw 8-bit bytes or an encoded word in a mislabelled charset: decode
            # again with the charsets the mail itself declares.
            value = decode_header_text(raw_text, fallbacks)
        value = _SURROGATE.sub("\ufffd", _HEADER_CONTROL.sub("", value)).strip()
        result.setdefault(name, []).append(value)
    return {k: tuple(v) for k, v in result.items()}


def _charset(label: str) -> str:
    label = label.strip().strip('"').lower()
    return _CHARSET_ALIASES.get(label, label)


def _decode_bytes(data: bytes, charsets: tuple[str, ...]) -> str:
    """``data`` in the first of ``charsets`` (then UTF-8, then Windows-1252) that fits."""
    for label in (*charsets, "utf-8"):
        charset = _charset(label) if label else ""
        if not charset:
            continue
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            if charset.startswith("iso2022") and data.isascii():
                # 7-bit escapes that UTF-8 would "decode" as noise; vendor extensions
                # (NEC's circled digits) are the usual cause: keep the rest readable.
                return data.decode(charset, errors="replace")
            continue
        except (LookupError, ValueError):  # unknown, or not a name at all ("ascii\0")
            continue
    return data.decode("cp1252", errors="replace")


def _declared_charsets(raw: bytes) -> tuple[str, ...]:
    """Charsets to try on raw 8-bit header bytes: UTF-8, then what the parts declare.

    Multi-byte charsets come before single-byte ones, which accept any byte and would
    turn a GB2312 subject into Latin-1 noise; a Japanese label brings its siblings,
    since mail labelled ISO-2022-JP often carries Shift_JIS in its headers.
    """
    found = [m.decode("ascii", "replace").lower() for m in _CHARSET_PARAM.findall(raw[: 1 << 20])]
    labels = [c for c in dict.fromkeys(found) if c not in ("us-ascii", "ascii")][:5]
    extra = [j for c in labels if "jp" in c or "jis" in c for j in ("cp932", "euc_jp")]
    single = [c for c in labels if _SINGLE_BYTE.match(c)]
    multi = [c for c in labels if c not in single]
    return tuple(dict.fromkeys(["utf-8", *multi, *extra, *single]))


def decode_header_text(source: str, fallbacks: tuple[str, ...] = ()) -> str:
    """An unfolded header value with RFC 2047 words and raw 8-bit bytes decoded leniently.

    ``source`` is the value as the parser read it (8-bit bytes kept as surrogate
    escapes). Adjacent encoded words of one charset are joined before decoding: senders
    split multi-byte characters across them.
    """
    text = re.sub(r"\r?\n[ \t]*", " ", source)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(_decode_bytes(b"".join(pending), (pending_charset, *fallbacks)))
        pending, pending_charset = [], ""

    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if between.strip() or not pending:
            flush()
            out.append(_decode_bytes(between.encode("utf-8", "surrogateescape"), fallbacks))
        charset = match.group(1).split("*", 1)[0]
        word = match.group(3)
        try:
            if match.group(2) in "bB":
                data = base64.b64decode(word + "=" * (-len(word) % 4))
            else:
                data = quopri.decodestring(word.replace("_", " ").encode("ascii"), header=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            flush()
            out.append(match.group(0))
            position = match.end()
            continue
        if pending and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending.append(data)
        position = match.end()
    flush()
    out.append(_decode_bytes(text[position:].encode("utf-8", "surrogateescape"), fallbacks))
    return "".join(out)


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


def _single_address(
    msg: Message, name: str, defects: list[str], registry: _Registry
) -> tuple[str, str]:
    """Exactly one syntactically valid address, or nothing.

    A From header that parses into several addresses, or into something that is not
    a plain address, is ambiguous (CVE-2023-27043): we answer nobody rather than the
    wrong party.
    """
    raw_value = _raw_values(msg, name)
    if not raw_value:
        return "", ""
    try:
        header = registry.parse(name, raw_value[0])
        addresses = list(getattr(header, "addresses", ()))
    except Exception:
        defects.append(f"unparseable {name}")
        return "", ""
    valid = [a for a in addresses if _ADDR.match(a.addr_spec or "")]
    source = next((str(v) for k, v in msg.raw_items() if k.lower() == name), "")
    if len(addresses) != 1 or len(valid) != 1 or not _plainly(source, valid[0].addr_spec):
        if addresses:
            defects.append(f"ambiguous {name}")
        return "", ""
    name_text = _SURROGATE.sub("\ufffd", _HEADER_CONTROL.sub("", valid[0].display_name or ""))
    return name_text, valid[0].addr_spec.lower()


def _plainly(source: str, addr_spec: str) -> bool:
    """True when the raw header holds ``addr_spec`` and no other address, unambiguously.

    This interpreter's parser (before the CVE-2023-27043 fix) reads
    ``alice@good.example)<bob@evil.example>`` or ``alice@good.example <bob@evil.example>``
    as alice. We accept an address only if the raw text, with quoted strings blanked
    (a display name may say anything inside quotes), is either ``name <addr>`` with no
    other "@" outside the brackets, or the bare address with at most a comment.
    """
    text = _QUOTED.sub('""', source).replace("\r", "").replace("\n", "")
    addr = _QUOTED.sub('""', addr_spec).lower()
    angles = re.findall(r"<([^<>]*)>", text)
    if text.count("<") != len(angles) or text.count(">") != len(angles) or len(angles) > 1:
        return False
    if angles:
        outside = re.sub(r"<[^<>]*>", "", text)
        return angles[0].strip().lower() == addr and "@" not in outside
    bare = _COMMENT.sub("", text).strip()
    return bare.lower() == addr


def _addresses(
    msg: Message, name: str, defects: list[str], registry: _Registry
) -> tuple[str, ...]:
    found: list[str] = []
    try:
        for raw_value in _raw_values(msg, name):
            header = registry.parse(name, raw_value)
            for a in getattr(header, "addresses", ()):
                if _ADDR.match(a.addr_spec or ""):
                    found.append(a.addr_spec.lower())
    except Exception:
        defects.append(f"unparseable {name}")
    return tuple(dict.fromkeys(found))


def _raw_values(msg: Message, name: str) -> list[str]:
    return [v if isinstance(v, str) else str(v) for k, v in msg.raw_items() if k.lower() == name]


def _first_msgid(value: str) -> str:
    match = MESSAGE_ID.search(value)
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
    try:
        declared = part.get_content_charset() or ""
    except Exception:  # a charset parameter the stdlib cannot even read
        declared = ""
    # Mislabelled Western European mail is nearly always Windows-1252: the last resort.
    return _decode_bytes(payload, (declared,))


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
    names = (_SURROGATE.sub("\ufffd", _HEADER_CONTROL.sub("", a)) for a in attachments)
    return _normalise_newlines(text), html_only, tuple(names)


def _normalise_newlines(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _SURROGATE.sub("\ufffd", text)
    return text.strip("\n")
