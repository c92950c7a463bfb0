"""mime: the raw bytes of an outgoing mail, headers and body written here directly.

Every value is cleaned and encoded before it is written, so no header ever carries a
line break from customer text (see :mod:`mailbot.mail.headers`). The body is a text
part with its HTML alternative; with files it is ``multipart/mixed``: that pair
first, then each file in base64 under an RFC 2231 file name.
"""

from __future__ import annotations

import binascii
import email.charset
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import quote

from mailbot.mail import headers as hdr
from mailbot.outbound.render import Rendered

_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP
_UTF8_QP.header_encoding = email.charset.QP

#: a MIME type as RFC 2045 allows it: token/token
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
#: what may stand in a quoted file name as it is (no quote, backslash or control)
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9 !#$%&'()+,.;=@\[\]^_`{}~-]+$")
#: RFC 2231 attribute-char besides letters and digits (urllib keeps "_.-~" anyway)
_ATTRIBUTE_CHARS = "!#$&+^`|"
#: the longest a file name parameter gets: its header stays one line far below 998
_MAX_PARAMETER = 400
#: base64 input bytes per line: 76 characters, as RFC 2045 asks
_LINE_BYTES = 57


@dataclass(frozen=True)
class Enclosure:
    """A file to send along: its name, its type and a way to read its content."""

    name: str
    content_type: str
    #: yields the content in chunks; called once, while the mail is composed
    content: Callable[[], Iterable[bytes]]


def _header_text(value: str) -> str:
    """ASCII as is; anything else as RFC 2047 encoded words."""
    if value.isascii():
        return value
    return Header(value, _UTF8_QP).encode(linesep="\r\n")


def _address(name: str, addr: str) -> str:
    name = hdr.clean(name)
    if not name:
        return addr
    if name.isascii():
        return formataddr((name, addr))
    return _header_text(name) + f" <{addr}>"


def compose(
    *,
    from_header: str,
    to: Sequence[str],
    subject: str,
    body: Rendered,
    message_id: str,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    auto_reply: bool | None = True,
    ticket_number: int | None = None,
    now: datetime,
    reply_to: str | None = None,
    thread_topic: str = "",
    thread_index: str = "",
    attachments: Sequence[Enclosure] = (),
) -> bytes:
    """The raw bytes of a text + HTML message (and its files) whose every header is
    single-line and clean.

    Written directly rather than through ``email.generator``: every value is cleaned
    and encoded here already, and the generator's folding machinery was a third of
    the per-mail time in the pipeline benchmark.
    """
    name, addr = parseaddr(from_header)
    headers: list[tuple[str, str]] = [
        ("From", _address(name, addr)),
        ("To", ", ".join(hdr.clean(a, 320, address=True) for a in to)),
        ("Subject", _header_text(hdr.clean(subject, 250))),
        ("Date", format_datetime(now)),
        ("Message-ID", hdr.clean(message_id, 250, address=True)),
    ]
    if in_reply_to:
        headers.append(("In-Reply-To", hdr.clean(in_reply_to, 998, address=True)))
    refs = [hdr.clean(r, 998, address=True) for r in references if r]
    if refs:
        # Long threads: keep the first and the newest references (RFC 5322 3.6.4 advice).
        if len(refs) > 20:
            refs = refs[:1] + refs[-19:]
        headers.append(("References", "\r\n ".join(refs)))
    # Outlook's conversation view (outbound/conversation.py): the topic is customer
    # text like the subject, the index base64 and never folded.
    topic = hdr.clean(thread_topic, 250)
    if topic:
        headers.append(("Thread-Topic", _header_text(topic)))
    index = hdr.clean(thread_index, 998, address=True)
    if index:
        headers.append(("Thread-Index", index))
    if reply_to:
        headers.append(("Reply-To", hdr.clean(reply_to, 320, address=True)))
    # True: an automatic answer (RFC 3834 auto-replied); False: a notice we generate;
    # None: a person's words we pass on (a technician's reply), which may be answered.
    if auto_reply is True:
        headers.append(("Auto-Submitted", "auto-replied"))
    elif auto_reply is False:
        headers.append(("Auto-Submitted", "auto-generated"))
    headers.append(("X-Auto-Response-Suppress", "All"))
    if ticket_number is not None:
        headers.append(("X-Mailbot-Ticket", str(ticket_number)))
    headers.append(("MIME-Version", "1.0"))
    return _with_body(headers, body, attachments)


def _with_body(
    headers: list[tuple[str, str]], body: Rendered, attachments: Sequence[Enclosure]
) -> bytes:
    boundary = f"=_mailbot_{uuid.uuid4().hex}"
    alternative = [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    for subtype, content in (("plain", body.text), ("html", body.html)):
        alternative += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(content),
        ]
    alternative += [f"--{boundary}--", ""]
    head = [f"{k}: {v}" for k, v in headers]
    if not attachments:
        return "\r\n".join(head + alternative).encode("ascii")
    mixed = f"=_mailbot_{uuid.uuid4().hex}"
    opening = [*head, f'Content-Type: multipart/mixed; boundary="{mixed}"', "", f"--{mixed}"]
    parts: list[bytes] = ["\r\n".join([*opening, *alternative]).encode("ascii")]
    for enclosure in attachments:
        parts.append(_file_head(mixed, enclosure))
        parts.extend(_base64_lines(enclosure.content()))
    parts.append(f"--{mixed}--\r\n".encode("ascii"))
    return b"".join(parts)


def _file_head(boundary: str, enclosure: Enclosure) -> bytes:
    """The boundary and the headers of one file part, each on one line."""
    ctype = enclosure.content_type.lower()
    if not _CONTENT_TYPE.match(ctype):
        ctype = "application/octet-stream"
    name = file_name(enclosure.name)
    lines = [
        f"--{boundary}",
        f"Content-Type: {ctype}; {name_parameter('name', name)}",
        f"Content-Disposition: attachment; {name_parameter('filename', name)}",
        "Content-Transfer-Encoding: base64",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def file_name(name: str) -> str:
    """A file name fit for a header parameter: printable characters only, short
    enough that its encoded form stays within :data:`_MAX_PARAMETER`; never empty."""
    text = "".join(ch if ch.isprintable() else " " for ch in name)
    text = " ".join(text.split()) or "attachment"
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        stem, extension = text, ""
    suffix = f".{extension}" if extension else ""
    while len(_encoded(stem + suffix)) > _MAX_PARAMETER - 20 and len(stem) > 1:
        stem = stem[: max(1, len(stem) * 3 // 4)]
    return stem + suffix


def name_parameter(key: str, name: str) -> str:
    """``key="name"`` for a plain ASCII name, else RFC 2231's ``key*=utf-8''...``."""
    if _PLAIN_NAME.match(name) and len(name) <= _MAX_PARAMETER:
        return f'{key}="{name}"'
    return f"{key}*=utf-8''{_encoded(name)}"


def _encoded(name: str) -> str:
    return quote(name.encode("utf-8"), safe=_ATTRIBUTE_CHARS)


def _base64_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` as base64 lines of 76 characters with CRLF, a chunk at a time."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        whole = len(data) - len(data) % _LINE_BYTES
        carry = data[whole:]
        if whole:
            yield _wrapped(binascii.b2a_base64(data[:whole], newline=False))
    if carry:
        yield _wrapped(binascii.b2a_base64(carry, newline=False))


def _wrapped(encoded: bytes) -> bytes:
    width = _LINE_BYTES * 4 // 3
    return b"".join(encoded[i : i + width] + b"\r\n" for i in range(0, len(encoded), width))


def _qp(text: str) -> str:
    """Quoted-printable with CRLF line ends (binascii does the work in C)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(normalised.encode("utf-8"), istext=True, header=False)
    return encoded.decode("ascii").replace("\n", "\r\n")
