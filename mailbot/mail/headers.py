"""Header values: the one place for the patterns every stage reads them with, and
the cleaning of every value we write.

Header values built from customer text must never smuggle in a line break.

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

#: our ticket tag in a subject, ``[#1042]``; group 1 is the number
TICKET_TAG = re.compile(r"\[#(\d{1,9})\]")
_TAG_AND_SPACE = re.compile(r"\[#\d{1,9}\]\s*")
#: one Message-ID (RFC 5322 msg-id: printable ASCII without angle brackets inside)
MESSAGE_ID = re.compile(r"<[!-;=?-~]+>")
#: the empty line that ends a header block
HEADER_END = re.compile(rb"\r?\n\r?\n")


def domain_of_address(address: str) -> str:
    """The domain of an address, lower-cased, without stray brackets or quotes."""
    return address.rpartition("@")[2].lower().strip("<>\"'")


def within_domain(domain: str, parent: str) -> bool:
    """``domain`` is ``parent`` or one of its subdomains (``mail.x.de`` within ``x.de``)."""
    return domain == parent or domain.endswith("." + parent)


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
    base = clean(_TAG_AND_SPACE.sub("", original)) if original else ""
    return f"[#{number}] {base}".rstrip()
