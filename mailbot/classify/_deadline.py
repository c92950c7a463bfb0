"""Resolve the customer's deadline against the message date, in the service's zone.

Only a stated day counts (triage.md): "bis Freitag", "by December 3rd",
"innerhalb der nächsten 3 Tage", "Ende der Woche", or the day of a planned
change ("fängt am 1.12. an"). Vague spans ("Anfang nächster Woche", "in den
nächsten Tagen") and past days ("am Montag war der Server weg") give nothing.
The caller passes only the new text, so quoted dates never reach this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Deadline", "find_deadline", "local_day"]

_MONTHS: dict[str, int] = {}
for _num, _names in enumerate(
    (
        "januar jan january jänner",
        "februar feb february",
        "märz mär maerz mar march",
        "april apr",
        "mai may",
        "juni jun june",
        "juli jul july",
        "august aug",
        "september sep sept",
        "oktober okt oct october",
        "november nov",
        "dezember dez dec december",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _num
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_WEEKDAYS: dict[str, int] = {}
for _num, _names in enumerate(
    (
        "montag monday",
        "dienstag tuesday",
        "mittwoch wednesday",
        "donnerstag thursday",
        "freitag friday",
        "samstag sonnabend saturday",
        "sonntag sunday",
    )
):
    for _name in _names.split():
        _WEEKDAYS[_name] = _num
_WEEKDAY_RE = "|".join(_WEEKDAYS)

_NUMBERS = {
    "einem": 1, "einen": 1, "ein": 1, "eines": 1, "one": 1, "a": 1, "zwei": 2, "two": 2,
    "drei": 3, "three": 3, "vier": 4, "four": 4, "fünf": 5, "five": 5, "sechs": 6, "six": 6,
    "sieben": 7, "seven": 7, "acht": 8, "eight": 8, "neun": 9, "nine": 9, "zehn": 10, "ten": 10,
    "vierzehn": 14, "fourteen": 14,
}  # fmt: skip
_NUMBER_RE = r"\d{1,2}|" + "|".join(_NUMBERS)

# A day named by a date or a relative word.
_DAY_EXPR = (
    rf"(?P<dmy>\b(?P<d1>\d{{1,2}})\.\s?(?P<m1>\d{{1,2}})\.(?P<y1>(?:20)?\d{{2}}\b)?)"
    rf"|(?P<dmon>\b(?P<d2>\d{{1,2}})(?:\.|st|nd|rd|th)?\s+(?:of\s+)?(?P<m2>{_MONTH_RE})\b\.?"
    rf"(?:\s+(?P<y2>20\d{{2}}))?)"
    rf"|(?P<mond>\b(?P<m3>{_MONTH_RE})\.?\s+(?:the\s+)?(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?\b"
    rf"(?:,?\s+(?P<y3>20\d{{2}}))?)"
    rf"|(?P<nextweek_wd>\b(?:nächste|kommende)\s+woche\s+(?P<wd1>{_WEEKDAY_RE})\b"
    rf"|\b(?P<wd2>{_WEEKDAY_RE})\s+(?:nächster|kommender|der\s+nächsten)\s+woche\b"
    rf"|\b(?P<wd3>{_WEEKDAY_RE})\s+next\s+week\b)"
    rf"|(?P<wd>\b(?:(?:nächsten|kommenden|diesen|next|this|coming)\s+)?(?P<wd0>{_WEEKDAY_RE})\b)"
    r"|(?P<rel>\b(?:übermorgen|day after tomorrow|morgen|tomorrow|heute|today|tonight|"
    r"end of (?:the )?day|eod|cob)\b)"
)
_EXPLICIT_PREP = r"(?:bis\s+(?:spätestens\s+)?(?:zum\s+|am\s+|zur\s+)?|spätestens\s+(?:bis\s+)?(?:zum\s+|am\s+)?|by\s+(?:the\s+)?|no later than\s+(?:the\s+)?|before\s+(?:the\s+)?|until\s+(?:the\s+)?|deadline\s*:?\s*|frist\s*:?\s*)"  # noqa: E501
_SOFT_PREP = r"(?:am\s+|zum\s+|ab\s+(?:dem\s+)?|on\s+(?:the\s+)?|from\s+(?:the\s+)?|starting\s+(?:on\s+)?|für\s+|(?:tag|day|arbeitstag)\s+(?:ist|is)\s+(?:der\s+|the\s+)?)"  # noqa: E501

_EXPLICIT = re.compile(rf"{_EXPLICIT_PREP}(?:{_DAY_EXPR})")
_SOFT = re.compile(rf"{_SOFT_PREP}(?:{_DAY_EXPR})")
_BARE_REL = re.compile(r"\b(übermorgen|morgen|tomorrow|heute|today)\b")
_SPAN = re.compile(
    rf"\b(?:innerhalb\s+(?:der\s+nächsten\s+|von\s+|)|in\s+(?:den\s+nächsten\s+)?|"
    rf"within\s+(?:the\s+next\s+)?|in\s+the\s+next\s+)"
    rf"(?P<n>{_NUMBER_RE})\s+(?P<unit>werktage[n]?|arbeitstage[n]?|business days|working days|"
    r"tage[n]?|days?|wochen|woche|weeks?|stunden|hours)\b",
)
_WEEK_END = re.compile(
    r"\b(?:(?:bis\s+)?(?:zum\s+)?ende\s+(?P<de>der|dieser|diese|nächster|der\s+nächsten|kommender)\s+woche"
    r"|(?:by\s+)?(?:the\s+)?end\s+of\s+(?P<en>the|this|next)\s+week"
    r"|(?:bis\s+)?(?:zum\s+)?(?P<mde>monatsende|ende\s+des\s+monats|ende\s+dieses\s+monats)"
    r"|(?:by\s+)?(?:the\s+)?(?P<men>end\s+of\s+(?:the|this)\s+month))\b",
)
# Words that make a day in a sentence a need or the day of a change, not a mention.
_NEED = re.compile(
    r"\b(brauch\w*|benötig\w*|muss|müssen|musst|fertig|erledigt|bereit|einsatzbereit|"
    r"soll(?:te)?|need(?:s|ed)?|must|required|have to|has to|ready|done|"
    r"fängt|fangen|anfangen|beginnt|beginnen|startet|starten|anfängt|kommt|arbeitet|"
    r"verlässt|aufhören|hört|letzter arbeitstag|scheidet|umzug|ziehen|zieht|umziehen|"
    r"abfahrt|abholung|abgeholt|abholen|abholt|fährt|fahren|abfahren|leave|pickup|"
    r"pick(?:s|ed)?\s+up|collection|"
    r"geliefert|liefert|lieferung|installier\w*|einricht\w*|eingerichtet|"
    r"starts?|starting|joins?|joining|leaves|leaving|last day|moves?|moving|delivered|"
    r"install\w*|set up|setup|raus)\b",
)
_PAST = re.compile(
    # "last day" / "letzter Arbeitstag" is a leaver's day to come, not the past.
    r"\b(war|waren|gewesen|hatte[n]?|ging|gingen|seit|gestern|vorgestern|"
    r"letzte[nm]?(?!\s+(?:arbeits)?tag)|vergangene[nm]?|was|were|had|happened|since|"
    r"yesterday|last(?!\s+(?:working\s+)?day)|ago)\b",
)
_ABSENT = re.compile(
    r"\b(urlaub|nicht im büro|nicht da|abwesend|krank|i'?m off|i am off|out of (?:the )?office|"
    r"on leave|on holiday|on vacation|away)\b",
)
_VAGUE_BEFORE = re.compile(r"(anfang|mitte|early|mid|beginning of|start of)\s*$")
# "Montag bis Freitag erreichbar" is a range of days, not a deadline.
_RANGE_BEFORE = re.compile(rf"(\b({_WEEKDAY_RE}|mo|di|mi|do|fr|sa)|\d\.)\s*$")
# "am Montag, den 7.12." names one day; the weekday alone would resolve to the next Monday.
_WEEKDAY_BEFORE_DATE = re.compile(
    rf"\b(?:{_WEEKDAY_RE})\s*,?\s*(?:de[nmr]\s+|the\s+)?"
    rf"(?=\d{{1,2}}\.|\d{{1,2}}(?:st|nd|rd|th)\b|\d{{1,2}}\s+(?:of\s+)?(?:{_MONTH_RE})\b)",
    re.IGNORECASE,
)
# A date right after these is a date of record ("Rechnung vom 12.11."), not a day to plan for.
_RECORD_BEFORE = re.compile(r"\b(vom|seit|since|from|dated|datiert)\s*$")
# A bare "heute" / "today" is a mention ("seit heute früh", "heute ist der Server
# langsam", "we need it today?"). It names the day only in a firm form or as the day
# a person starts or leaves ("der Neue fängt heute an").
_CLOCK = r"(?:\d{1,2}[:.]\d{2}(?:\s*(?:uhr|h|am|pm))?|\d{1,2}\s*(?:uhr|am|pm|o'clock)|noon|midday)"
_TODAY_FIRM = re.compile(
    r"\b(?:heute\s+noch|noch\s+heute|today\s+at\s+the\s+latest|at\s+the\s+latest\s+today|"
    r"(?:end\s+of\s+(?:the\s+)?day|eod|cob)\s+today|today\s+(?:by|before)\s+(?:eod|cob|end))\b"
    r"|\b(?:fängt|fangen|beginnt|beginnen|startet|anfängt|starts?|joins?|verlässt|leaves|"
    # a person's first or last day; not the office's first day after the holidays
    r"(?<!unser\s)(?<!unsere\s)(?:letzter|erster)\s+arbeitstag(?!\s+nach)|"
    r"(?<!our\s)(?:last|first)\s+(?:working\s+)?day(?!\s+(?:back|after)))\b"
    # the day with a clock time ("heute bis 12 Uhr", "by 12 noon today", "trucks leave
    # at 15:00 today") or with what must go out ("muss heute raus")
    rf"|\b(?:heute|today)\b[^.!?\n]{{0,40}}?\b{_CLOCK}"
    rf"|\b{_CLOCK}[^.!?\n]{{0,30}}?\b(?:heute|today)\b"
    r"|\b(?:heute|today)\s+(?:noch\s+)?(?:raus|fertig|erledigt|abgeschickt|verschickt|eingereicht|"
    r"abgegeben)\b|\b(?:go(?:es)?|be\s+sent)\s+out\s+today\b"
)
# "bis dahin", "by then": the day named before, in this sentence or an earlier one
_THEN = re.compile(
    r"\b(?:bis\s+dahin|bis\s+zu\s+(?:diesem|dem)\s+(?:tag|termin|zeitpunkt)|"
    r"(?:until|by|before)\s+then)\b"
)
_TODAY = frozenset(("heute", "today"))
_GREETING_BEFORE = re.compile(r"guten\s*$|good\s*$")
_DAY = re.compile(_DAY_EXPR)
_FAREWELL = re.compile(r"^\W*(bis|see you)\s+(morgen|tomorrow|dann|bald)\W*$")
# A sentence without any of these cannot name a day; most sentences are skipped here.
# Matched on lower-case text with a leading \b: an IGNORECASE alternation tried at
# every character cost 45 us a sentence, more than the rest of the classifier.
_GATE = re.compile(
    rf"\b(?:\d{{1,2}}\.\s?\d{{1,2}}\.|\d{{1,2}}(?:st|nd|rd|th)\b|morgen|übermorgen|tomorrow|"
    rf"heute|today|tonight|eod\b|cob\b|ende|end\b|woche|week|monat|month|tage|days?\b|"
    rf"stunden|hours|{_WEEKDAY_RE}|{_MONTH_RE})"
)
_SENTENCE = re.compile(r"(?<!\d)(?<!\b[a-zA-Z])[.!?]+\s+|\n+")


@dataclass(frozen=True)
class Deadline:
    day: date
    #: the words that stated it, for the reasons
    phrase: str
    #: "explicit" (bis/by, spans) or "change" (the day of a planned change or a need)
    kind: str


def local_day(sent_at: datetime, zone: ZoneInfo) -> date:
    """The day in ``zone`` the message was sent; a naive date is taken as local time."""
    if sent_at.tzinfo is None:
        return sent_at.replace(tzinfo=zone).date()
    return sent_at.astimezone(zone).date()


def _next_weekday(base: date, weekday: int, *, strictly_after: bool = True) -> date:
    delta = (weekday - base.weekday()) % 7
    if delta == 0 and strictly_after:
        delta = 7
    return base + timedelta(days=delta)


def _on_or_after(base: date, month: int, day: int, year: int | None) -> date | None:
    try:
        if year is not None:
            return date(year if year > 99 else 2000 + year, month, day)
        candidate = date(base.year, month, day)
        if candidate < base:
            candidate = date(base.year + 1, month, day)
        return candidate
    except ValueError:
        return None


def _resolve(m: re.Match[str], base: date) -> date | None:
    g = m.groupdict()
    if g["dmy"]:
        return _on_or_after(base, int(g["m1"]), int(g["d1"]), int(g["y1"]) if g["y1"] else None)
    if g["dmon"]:
        return _on_or_after(
            base, _MONTHS[g["m2"].lower()], int(g["d2"]), int(g["y2"]) if g["y2"] else None
        )
    if g["mond"]:
        return _on_or_after(
            base, _MONTHS[g["m3"].lower()], int(g["d3"]), int(g["y3"]) if g["y3"] else None
        )
    if g["nextweek_wd"]:
        wd = _WEEKDAYS[(g["wd1"] or g["wd2"] or g["wd3"]).lower()]
        monday_next = base - timedelta(days=base.weekday()) + timedelta(days=7)
        return monday_next + timedelta(days=wd)
    if g["wd"]:
        return _next_weekday(base, _WEEKDAYS[g["wd0"].lower()])
    if g["rel"]:
        word = g["rel"].lower()
        if word in ("übermorgen", "day after tomorrow"):
            return base + timedelta(days=2)
        if word in ("morgen", "tomorrow"):
            return base + timedelta(days=1)
        return base
    return None


def _add_business_days(base: date, n: int) -> date:
    day = base
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _span(m: re.Match[str], base: date) -> date:
    raw = m.group("n").lower()
    n = int(raw) if raw.isdigit() else _NUMBERS[raw]
    unit = m.group("unit").lower()
    if unit.startswith(("werk", "arbeit", "business", "working")):
        return _add_business_days(base, n)
    if unit.startswith(("woche", "week")):
        return base + timedelta(days=7 * n)
    if unit.startswith(("stunde", "hour")):
        return base + timedelta(days=max(1, round(n / 24)))
    return base + timedelta(days=n)


def _week_end(m: re.Match[str], base: date) -> date:
    if m.group("mde") or m.group("men"):
        first_next = date(base.year + base.month // 12, base.month % 12 + 1, 1)
        return first_next - timedelta(days=1)
    which = (m.group("de") or m.group("en") or "").lower()
    friday = base - timedelta(days=base.weekday()) + timedelta(days=4)
    if "nächst" in which or "kommend" in which or which == "next" or friday < base:
        friday += timedelta(days=7)
    return friday


def _is_date(m: re.Match[str]) -> bool:
    return bool(m.group("dmy") or m.group("dmon") or m.group("mond"))


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _vague(sentence: str, start: int) -> bool:
    return _VAGUE_BEFORE.search(sentence[max(0, start - 15) : start]) is not None


@dataclass
class _Days:
    """What the sentences of one text said so far."""

    base: date
    planned: bool
    explicit: list[Deadline] = field(default_factory=list)
    change: list[Deadline] = field(default_factory=list)
    # Days of a change named by a calendar date: "Umzug am Samstag, 23.1." wins over
    # "am Montag soll alles laufen" said in passing.
    dated: list[Deadline] = field(default_factory=list)
    #: the last day named by a date or weekday, need or not: what "bis dahin" refers to
    named: date | None = None
    #: whether to keep ``named`` (the text says "bis dahin" somewhere)
    track: bool = False


def find_deadline(
    text: str, sent_at: datetime, *, zone: ZoneInfo, planned: bool = False
) -> Deadline | None:
    """The day the customer needs the matter done by, or None.

    ``zone``: the service's time zone; "morgen" is the day after the day ``sent_at``
    falls on there.

    ``planned``: the message is a planned change, so a day named with "am", "ab",
    "zum" is the day of the change even without a word of need in its sentence.
    """
    days = _Days(local_day(sent_at, zone), planned)
    # Which day was named last matters only to a "bis dahin" further on.
    days.track = _THEN.search(text.lower()) is not None
    for original in _sentences(text):
        # All patterns are written in lower case and run on lower-case text: with
        # IGNORECASE, Python's re tried every alternative at every character (5-10x slower).
        sentence = original.lower()
        if days.named is not None and _THEN.search(sentence):
            _then(sentence, original, days)
        if not _GATE.search(sentence) or _ABSENT.search(sentence):
            continue
        original = _WEEKDAY_BEFORE_DATE.sub("", original)
        sentence = _WEEKDAY_BEFORE_DATE.sub("", sentence)
        if len(original) != len(sentence):
            original = sentence
        _read_sentence(sentence, original, days)
    for found in (days.explicit, days.dated, days.change):
        if found:
            return min(found, key=lambda d: d.day)
    return None


def _then(sentence: str, original: str, days: _Days) -> None:
    """"Am 26.11. kommt die Begehung. Bis dahin muss der Drucker gehen": the day named
    before "bis dahin", if it is still to come."""
    m = _THEN.search(sentence)
    assert m is not None and days.named is not None
    before = [d for d in _DAY.finditer(sentence[: m.start()]) if _is_date(d) or d.group("wd")]
    day = _resolve(before[-1], days.base) if before else days.named
    if day is not None and day >= days.base:
        days.explicit.append(Deadline(day, original[m.start() : m.end()], "explicit"))


def _read_sentence(sentence: str, original: str, days: _Days) -> None:
    base, planned = days.base, days.planned

    def said(m: re.Match[str]) -> str:
        return original[m.start() : m.end()]

    for m in _DAY.finditer(sentence) if days.track else ():
        if _is_date(m) or m.group("wd") or m.group("nextweek_wd"):
            days.named = _resolve(m, base) or days.named
    past = _PAST.search(sentence) is not None
    need = _NEED.search(sentence) is not None
    for m in _SPAN.finditer(sentence):
        days.explicit.append(Deadline(_span(m, base), said(m), "explicit"))
    for m in _WEEK_END.finditer(sentence):
        days.explicit.append(Deadline(_week_end(m, base), said(m), "explicit"))
    taken: list[tuple[int, int]] = []
    for m in _EXPLICIT.finditer(sentence):
        day = _resolve(m, base)
        if _RANGE_BEFORE.search(sentence[: m.start()]) or _FAREWELL.match(sentence):
            continue
        if day is not None and day >= base and not _vague(sentence, m.start()):
            days.explicit.append(Deadline(day, said(m), "explicit"))
            taken.append(m.span())
    if not (need or planned) or past:
        return
    for m in _SOFT.finditer(sentence):
        day = _resolve(m, base)
        if day is not None and day >= base and not _vague(sentence, m.start()):
            (days.dated if _is_date(m) else days.change).append(Deadline(day, said(m), "change"))
            taken.append(m.span())
    if planned:
        # "für die Umstellung schlage ich Samstag, 6.2. vor": a calendar date in a
        # planned change is its day even without "am".
        for m in _DAY.finditer(sentence):
            if not _is_date(m) or any(a <= m.start() < b for a, b in taken):
                continue
            day = _resolve(m, base)
            if day is None or day < base or _RECORD_BEFORE.search(sentence[: m.start()]):
                continue
            if not _vague(sentence, m.start()):
                days.dated.append(Deadline(day, said(m), "change"))
    for m in _BARE_REL.finditer(sentence):
        if any(a <= m.start() < b for a, b in taken):
            continue
        if _GREETING_BEFORE.search(sentence[: m.start()]):
            continue
        if m.group(0) in _TODAY and not _TODAY_FIRM.search(sentence):
            continue
        day = _resolve(_DAY.match(m.group(0)) or m, base)
        if day is not None:
            days.change.append(Deadline(day, said(m), "change"))
