"""Header values built from customer text must never smuggle in a line break.

The interpreter here predates the fix for CVE-2024-6923 (the email package could
emit a folded header containing a raw newline), so every value we put into an
outgoing header passes through :func:`clean`.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the Unicode line/paragraph separators, and lone
# surrogates (undecodable bytes kept by the parser): the stdlib's header folder
# crashes on those ("unknown-8bit"), which would make the mail unanswerable.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")
_TAG = re.compile(r"\[#\d+\]\s*")


def clean(value: str, max_length: int = 200, *, address: bool = False) -> str:
    """One line, no control characters, bounded length.

    ``address``: the value is an address, whose characters must stay as they are.
    """
    text = _CONTROL.sub(" ", value)
    if not address:
        # Text that merely looks like an RFC 2047 word ("=?utf-8?B?...?=" left undecoded
        # in a customer's subject) is decoded again by the stdlib when it folds the
        # header; an invalid one then crashes as_bytes(). A word joiner keeps it literal.
        text = text.replace("=?", "=\u2060?")
    text = " ".join(text.split())
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "…"
    return text


def tagged_subject(number: int, original: str) -> str:
    """``[#1042] original`` with any earlier tag of ours removed, so tags never pile up."""
    base = clean(_TAG.sub("", original)) if original else ""
    return f"[#{number}] {base}".rstrip()
