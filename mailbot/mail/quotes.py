"""Separate the new text of a mail from quoted history and signature.

Triage must judge only what the customer wrote now: an old "Server weg" in the
quoted thread, a newsletter forwarded below a question, or a phone number in
the signature must not count. The rules are line based and conservative: a
line is cut only when it looks like a reply header, a signature or a footer
in German or English mail client conventions.
"""

from __future__ import annotations

import re

__all__ = ["new_text"]

_FLAGS = re.IGNORECASE

# Lines that start quoted history: everything from here on is old.
_SEPARATOR = re.compile(
    r"^\s*[-_=*]{2,}\s*(ursprüngliche nachricht|original message|forwarded message|"
    r"weitergeleitete nachricht|nachricht im original|reply message)\s*[-_=*]{2,}\s*$",
    _FLAGS,
)
_FORWARD_INTRO = re.compile(
    r"^\s*(begin forwarded message|anfang der weitergeleiteten nachricht|"
    r"weitergeleitete nachricht)\s*:?\s*$",
    _FLAGS,
)
_UNDERSCORES = re.compile(r"^\s*_{8,}\s*$")
# "Am 23.11.2026 um 07:21 schrieb X <x@y>:", "On Mon, ... Jane wrote:", possibly wrapped.
_REPLY_HEADER = re.compile(
    r"^\s*((am|on|le|el|il|op|den|em)\s.{0,250}?"
    r"\b(schrieb|wrote|geschrieben|a écrit|escribió|ha scritto|schreef|skrev|escreveu)\b"
    r"|.{0,200}?\b(schrieb am|wrote on|schrieb|wrote)\b).{0,200}:\s*$",
    _FLAGS,
)
_HEADER_FROM = re.compile(r"^\s*\*?(von|from|de|da)\s*:\s*\*?\s*\S", _FLAGS)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(gesendet|sent|date|datum|an|to|cc|betreff|subject)\s*:\s*\*?", _FLAGS
)
_MOBILE = re.compile(
    r"^\s*((von|gesendet von|gesendet mit|diese nachricht wurde von) meine[mn]?\s.{0,40}"
    r"(gesendet|verschickt)?"
    r"|sent (from|with|via) (my|mobile|outlook|samsung|blackberry|android|iphone|ipad)\b.{0,40}"
    r"|get outlook for (ios|android).{0,20}"
    r"|(von|gesendet von) (outlook|mobil)\b.{0,80})\s*$",
    _FLAGS,
)
_SIG_DELIMITER = re.compile(r"^\s*--\s*$")
# The closing formula; what follows it is name, role, contact block and footer.
_GREETING = re.compile(
    r"^\s*((danke\s*(und|&|,)?\s*)?(mit\s+)?(den\s+)?"
    r"(freundliche[nm]?|viele[nm]?|beste[nm]?|liebe[nm]?|herzliche[nm]?|schöne[nm]?|"
    r"sonnige[nm]?|kollegiale[nm]?|nette[nm]?)?\s*"
    r"(grüße[nm]?|grüsse[nm]?|gruß|gruss)"
    r"|mfg|lg|vg|bg|beste grüße"
    r"|(best|kind|warm|many thanks and|thanks and|with kind|with best)?\s*regards"
    r"|cheers|best wishes|all the best|best|thanks|many thanks|thank you|tschüss|ciao)"
    r"\b[\s,.!]*([A-ZÄÖÜ][\w.\-]*\.?(\s+[A-ZÄÖÜ][\w.\-]*){0,3}|[a-zäöüß]+(\s+[a-zäöüß]+){0,2})?"
    r"[\s,.!]*$",
    _FLAGS,
)
# Written in lower case and matched on the lower-cased line: IGNORECASE made this
# alternation the most expensive test of a line.
_LEGAL = re.compile(
    r"(amtsgericht|registergericht|handelsregister|\bhr[ab]\s*\d|partnerschaftsregister|"
    r"geschäftsführer|geschäftsführung|ust-?id|steuernummer|sitz der gesellschaft|"
    r"vorstand:|aufsichtsrat|komplementärin|diese e-?mail enthält vertrauliche|"
    r"diese nachricht (ist|enthält) vertraulich|confidentiality notice|"
    r"this (e-?mail|message)( and any attachments?)? (is|are|may be|contains?) "
    r"(strictly )?(confidential|privileged)|registered in england|company registration)",
)
_CONTACT = re.compile(
    r"(\b(tel|telefon|fon|fax|mobil|mobile|phone|handy|e-?mail|web)\b\.?\s*:?\s*[+\d(]"
    r"|\bwww\.|\b\d{5}\s+[A-ZÄÖÜ][a-zäöüß]+|straße\s+\d|str\.\s*\d|strasse\s+\d|allee\s+\d|"
    r"\b(gmbh|ag|kg|mbb|partg|partgmbb|e\.\s?k\.|ltd|inc)\b|\+\d{2}\s?\d)",
    _FLAGS,
)


_WEAK_CLOSING = re.compile(r"^\s*(thanks|many thanks|thank you|best|cheers)\b", _FLAGS)


# A sign-off line: a name or role, capitalised words only ("Jens Schulz", "Steuerberater").
_NAME_LINE = re.compile(
    r"^\s*((dr|prof|dipl|ing|med|rer|nat)\.[\s-]*)*[A-ZÄÖÜ][\w'’.\-]*"
    r"(\s+((dr|von|van|de|der)\.?|[A-ZÄÖÜ][\w'’.\-]*)){0,3}\s*,?\s*$"
)


def _is_reply_header(lines: list[str], i: int) -> bool:
    """A reply header may be wrapped by the client over up to three lines."""
    for span in (1, 2, 3):
        joined = " ".join(part.strip() for part in lines[i : i + span])
        if len(joined) > 400:
            return False
        # The first line must carry the date or the verb, so that a text line that
        # happens to start with "Am"/"On" just above the header is kept.
        first = lines[i]
        if _REPLY_HEADER.match(joined) and (
            _DIGIT.search(first) or _WROTE.search(first)
        ):
            return True
    return False


def _is_header_block(lines: list[str], i: int) -> bool:
    """Outlook's "Von: / Gesendet: / An: / Betreff:" block without any quote marks."""
    if not _HEADER_FROM.match(lines[i]):
        return False
    following = [ln for ln in lines[i + 1 : i + 8] if ln.strip()]
    return sum(1 for ln in following[:5] if _HEADER_OTHER.match(ln)) >= 2


# Every line that can start history matches this; the others (nearly all) skip the
# eight specific tests below, which were most of the cost of a mail.
_MAYBE_CUT = re.compile(
    r"^\s*(?:[-_=*]{2}|\*?(?:von|from|de|da)\b|begin|anfang|weitergeleitet|gesendet|"
    r"diese nachricht|sent|get outlook|am\b|on\b|le\b)|schrieb|wrote|geschrieben",
    _FLAGS,
)
_WROTE = re.compile(r"schrieb|wrote|geschrieben", _FLAGS)
_DIGIT = re.compile(r"\d")


def _cut_index(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if not _MAYBE_CUT.search(line):
            continue
        if (
            _SEPARATOR.match(line)
            or _FORWARD_INTRO.match(line)
            or _MOBILE.match(line)
            or _SIG_DELIMITER.match(line)
            or _is_header_block(lines, i)
        ):
            return i
        if _UNDERSCORES.match(line) and any(_HEADER_FROM.match(ln) for ln in lines[i + 1 : i + 3]):
            return i
        maybe_header = line.lstrip().lower().startswith(("am ", "on ", "le ")) or _WROTE.search(
            line
        )
        if maybe_header and _is_reply_header(lines, i):
            return i
    return len(lines)


def _cut_greeting(lines: list[str]) -> list[str]:
    """Cut at the closing formula when only a short block (signature) follows it."""
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if len(line.strip()) <= 60 and _GREETING.match(line):
            rest = [ln for ln in lines[i + 1 :] if ln.strip()]
            # A greeting in the middle of a long text is probably a sentence, not a closing;
            # "Thanks" or "Best" may also open a paragraph, so they need a short, plain rest.
            weak = _WEAK_CLOSING.match(line) is not None
            if weak and (len(rest) > 8 or any(len(ln.strip()) > 80 for ln in rest)):
                continue
            if len(rest) <= 25:
                return lines[:i]
    return lines


def _cut_footer(lines: list[str]) -> list[str]:
    """Without a greeting: drop a legal footer and the contact paragraph above it."""
    for i, line in enumerate(lines):
        if _LEGAL.search(line.lower()):
            lines = lines[:i]
            break
    # Drop trailing paragraphs that are short lines with contact data (name, company, phone).
    while lines:
        end = len(lines)
        while end > 0 and not lines[end - 1].strip():
            end -= 1
        start = end
        while start > 0 and lines[start - 1].strip():
            start -= 1
        block = lines[start:end]
        contact = all(len(ln.strip()) <= 80 for ln in block) and any(
            _CONTACT.search(ln) for ln in block
        )
        names = len(block) <= 3 and all(_NAME_LINE.match(ln) for ln in block)
        if block and start > 0 and (contact or names):
            lines = lines[:start]
            continue
        break
    return lines


def new_text(body: str) -> str:
    """Return what the sender wrote now: no quoted history, no signature, no footer."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = text.split("\n")
    lines = lines[: _cut_index(lines)]
    # Quoted lines interleaved with the reply are history; the reply lines around them stay.
    lines = [ln for ln in lines if not ln.lstrip().startswith(">")]
    lines = _cut_greeting(lines)
    lines = _cut_footer(lines)
    result = "\n".join(ln.rstrip() for ln in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", result)
