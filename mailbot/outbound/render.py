"""render: templates into outgoing mail.

Customer-facing words live in ``templates/`` (German and English); this module only
fills them and builds a safe MIME message (text plus an HTML alternative).
"""

from __future__ import annotations

import binascii
import email.charset
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailbot.mail import headers as hdr
from mailbot.sla import WeeklyHours

_WEEKDAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


_DAY_ABBR = {
    "de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def hours_lines(weekly: WeeklyHours, lang: str) -> tuple[HoursLine, ...]:
    """``Mo–Fr  07:00–19:00`` lines from the configured opening hours."""
    abbr = _DAY_ABBR.get(lang, _DAY_ABBR["de"])
    lines = []
    for group in weekly.groups():
        days = abbr[group.first_day]
        if group.last_day != group.first_day:
            days += ("–" if group.last_day > group.first_day + 1 else ", ") + abbr[group.last_day]
        hours = ", ".join(f"{r.start_text}–{r.end_text}" for r in group.ranges)
        lines.append(HoursLine(days, hours))
    return tuple(lines)


def default_template_dir() -> Path:
    env = os.environ.get("MAILBOT_TEMPLATES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "templates"


def format_day(day: date, lang: str) -> str:
    """``Montag, 30.11.2026`` / ``Monday, 30 November 2026``."""
    name = _WEEKDAYS[lang][day.weekday()]
    if lang == "de":
        return f"{name}, {day:%d.%m.%Y}"
    return f"{name}, {day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def format_when(moment: datetime, lang: str) -> str:
    """``Montag, 30.11.2026, 10:30 Uhr`` / ``Monday, 30 November 2026, 10:30``."""
    day = format_day(moment.date(), lang)
    return f"{day}, {moment:%H:%M} Uhr" if lang == "de" else f"{day}, {moment:%H:%M}"


@dataclass(frozen=True)
class HoursLine:
    days: str
    hours: str


@dataclass(frozen=True)
class AckView:
    """Everything an acknowledgement says, already decided; templates only phrase it."""

    language: str
    number: int
    subject: str
    customer_name: str
    contract: bool
    priority: str
    urgency: str
    reasons: Sequence[str]
    due_at: datetime | None
    #: set when the message came outside the applicable hours
    clock_starts: datetime | None
    on_call_now: bool
    scheduled_for: date | None
    deadline: date | None
    adjustments: Sequence[str]
    service_hours: Sequence[HoursLine]
    extended_hours: Sequence[HoursLine]
    hotline: str
    service_name: str
    #: "new" for the first acknowledgement, "update" after a follow-up changed the plan
    kind: str = "new"
    #: (what, value) pairs a follow-up changed, e.g. ("urgency", "not_urgent")
    changes: Sequence[tuple[str, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


class Renderer:
    def __init__(self, template_dir: Path | None = None) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(template_dir or default_template_dir())),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates are read once per process; a changed template takes a restart.
            # (With auto_reload, every render asked the file system for a modification time.)
            auto_reload=False,
        )
        self.env.filters["when"] = format_when
        self.env.filters["day"] = format_day

    def warm(self) -> None:
        """Compile every template now (before forking, so children share them)."""
        for name in self.env.list_templates(extensions=["j2"]):
            self.env.get_template(name)

    def render(self, name: str, lang: str, *, title: str = "", **context: Any) -> Rendered:
        """The text template, and the same words in the autoescaping HTML frame."""
        lang = lang if lang in _WEEKDAYS else "de"
        text = self.env.get_template(f"{name}.{lang}.txt.j2").render(lang=lang, **context)
        html = self.env.get_template("frame.html.j2").render(
            lang=lang, title=title, blocks=text_blocks(text)
        )
        return Rendered(text=text, html=html)

    def subject(self, name: str, lang: str, **context: Any) -> str:
        """A one-line subject from ``<name>.<lang>.subject.j2``."""
        lang = lang if lang in _WEEKDAYS else "de"
        text = self.env.get_template(f"{name}.{lang}.subject.j2").render(lang=lang, **context)
        return hdr.clean(text, 250)


@dataclass(frozen=True)
class Block:
    kind: str  # "para" | "list"
    lines: tuple[str, ...]


def text_blocks(text: str) -> list[Block]:
    """Paragraphs and "  - " lists of a rendered text, for the HTML alternative.

    The HTML frame escapes every line, so customer words cannot become markup.
    """
    blocks: list[Block] = []
    current: list[str] = []
    kind = "para"

    def flush() -> None:
        nonlocal current
        if current:
            blocks.append(Block(kind, tuple(current)))
        current = []

    for line in text.splitlines():
        stripped = line.strip()
        item = stripped.startswith("- ") and line.startswith("  ")
        if not stripped:
            flush()
            continue
        this_kind = "list" if item else "para"
        if this_kind != kind:
            flush()
            kind = this_kind
        current.append(stripped[2:] if item else stripped)
    flush()
    return blocks


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain or 'mailbot.invalid'}>"


def domain_of(address: str) -> str:
    _, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "mailbot.invalid"


_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP
_UTF8_QP.header_encoding = email.charset.QP


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
) -> bytes:
    """The raw bytes of a text + HTML message whose every header is single-line and clean.

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
    boundary = f"=_mailbot_{uuid.uuid4().hex}"
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    lines = [f"{k}: {v}" for k, v in headers]
    lines.append("")
    for subtype, content in (("plain", body.text), ("html", body.html)):
        lines += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(content),
        ]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode("ascii")


def _qp(text: str) -> str:
    """Quoted-printable with CRLF line ends (binascii does the work in C)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(normalised.encode("utf-8"), istext=True, header=False)
    return encoded.decode("ascii").replace("\n", "\r\n")
