"""cutout: long base64 runs taken out of a large mail before the stdlib parses it.

The stdlib parser keeps every body line as a string of its own until the part ends,
so a 40 MB mail with a 30 MB attachment cost about 300 MB while it was parsed. The
bodies of attachments are long runs of base64 lines, and nothing but an attachment's
decoder reads them: each run of at least :data:`MIN_RUN` bytes is replaced by a
marker line, and the decoder reads the run from the original bytes when it needs it
(:class:`Cut`). The marker carries a random token of each parse, so a sender cannot
write one that names a run.

A run never crosses a MIME boundary or a header line: both carry characters outside
the base64 alphabet ("-" and ":"). Text parts whose body happens to be such a run get
it back before they are read (:meth:`Cut.restore`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email.message import Message

#: below this, a mail is parsed as it is (scanning costs more than it saves)
MIN_MAIL = 256 * 1024
#: shorter runs stay in the mail
MIN_RUN = 64 * 1024
#: a line break, then one or more lines of base64 alphabet, 40 to 998 characters each;
#: the leading line break lets the regular expression engine jump from line to line
#: instead of trying every position
#: possessive, so the engine keeps no way back for each of the run's lines (with a
#: plain "+" it held about three bytes for every byte of the run)
_RUN = re.compile(rb"\n((?:[A-Za-z0-9+/=]{40,998}\r?\n)++)")
_PREFIX = "MAILBOTCUT"


@dataclass(frozen=True)
class Cut:
    """The runs taken out of ``source`` (by marker) and how to find the markers."""

    source: bytes = b""
    #: marker -> (start, end) of the run in ``source``, its last line break excluded
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    token: str = ""

    def pieces(self, text: str) -> tuple[str | tuple[int, int], ...]:
        """``text`` (a part's payload) as its own text and the spans its markers name."""
        if not self.spans or self.token not in text:
            return (text,)
        found: list[str | tuple[int, int]] = []
        position = 0
        for match in self._marker.finditer(text):
            span = self.spans.get(match.group(0))
            if span is None:
                continue
            if match.start() > position:
                found.append(text[position : match.start()])
            found.append(span)
            position = match.end()
        if position < len(text):
            found.append(text[position:])
        return tuple(found)

    def restore(self, text: str) -> str:
        """``text`` with every run put back (for the text parts a reader reads whole)."""
        if not self.spans or self.token not in text:
            return text
        return "".join(
            p if isinstance(p, str) else self.source[p[0] : p[1]].decode("ascii")
            for p in self.pieces(text)
        )

    @property
    def _marker(self) -> re.Pattern[str]:
        return re.compile(f"{_PREFIX}{self.token}[0-9]{{6}}")


NOTHING_CUT = Cut()


def raw_payload(part: Message) -> str:
    """A leaf part's body as the parser kept it (raw 8-bit bytes as surrogate escapes).

    ``get_payload()`` decodes such bytes again with the part's charset, replacing
    them (or raising, for a charset like "ascii\\0"); restoring runs and decoding an
    attachment need the body exactly as it came.
    """
    payload = getattr(part, "_payload", "")
    return payload if isinstance(payload, str) else ""


def cut_runs(raw: bytes) -> tuple[bytes, Cut]:
    """``raw`` with its long base64 runs replaced by markers, and the :class:`Cut`.

    A mail below :data:`MIN_MAIL`, or one without such runs, comes back as it is.
    """
    if len(raw) < MIN_MAIL:
        return raw, NOTHING_CUT
    runs = [
        (m.start(1), m.end(1))
        for m in _RUN.finditer(raw)
        if m.end(1) - m.start(1) >= MIN_RUN
    ]
    if not runs:
        return raw, NOTHING_CUT
    token = secrets.token_hex(8)
    spans: dict[str, tuple[int, int]] = {}
    kept: list[bytes] = []
    position = 0
    for index, (start, end) in enumerate(runs):
        # The run's last line break stays in the mail, so the marker is a line of its own.
        stop = end - (2 if raw[end - 2 : end] == b"\r\n" else 1)
        marker = f"{_PREFIX}{token}{index:06d}"
        spans[marker] = (start, stop)
        kept += [raw[position:start], marker.encode("ascii")]
        position = stop
    kept.append(raw[position:])
    return b"".join(kept), Cut(raw, spans, token)
