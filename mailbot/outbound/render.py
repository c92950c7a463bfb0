"""render: templates into outgoing mail.

Customer-facing words live in ``templates/`` (German and English); this module only
fills them (text plus an HTML alternative); :mod:`.mime` makes the message of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parseaddr
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


def format_size(size: int, lang: str) -> str:
    """``830 Bytes``, ``12 KB``, ``1,4 MB`` (KB and MB of 1024, as mail programs count)."""
    if size < 1024:
        return f"{size} Bytes" if lang == "de" else f"{size} bytes"
    if size < 1024 * 1024:
        return f"{-(-size // 1024)} KB"
    text = f"{size / (1024 * 1024):.1f}"
    return f"{text.replace('.', ',') if lang == 'de' else text} MB"


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
        self.env.filters["size"] = format_size

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
