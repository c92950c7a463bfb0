"""threadindex: Outlook's ``Thread-Index`` header (PidTagConversationIndex, MS-OXOMSG
2.2.1.3), read leniently and written as the specification says.

The header's value is the base64 of a binary index: a 22-byte header block (one
reserved byte 0x01, five bytes of a FILETIME, a 16-byte GUID naming the conversation),
then one 5-byte child block per reply. The 22 bytes stay the same for the whole
conversation, which is why they thread incoming mail; a reply appends a block, so the
index also says where in the conversation a mail sits.

The five time bytes: the current specification takes bits 63..24 of the FILETIME (its
32 high bits and the 8 high bits of the low part). Earlier editions (and Microsoft's
MFCMAPI reader) take bits 55..16 and leave the top byte out, which is 0x01 for every
date between 1829 and 2057. Mail carries both ("AQH..." and "Ad..." values): both are
read here, told apart by the first time byte; ours are written in the current form.

Pure: no store, no clock of its own (the caller says what time it is).
"""

from __future__ import annotations

import base64
import binascii
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HEADER_BYTES = 22
CHILD_BYTES = 5
#: a header block's base64 is 32 characters; its first 28 encode the first 21 bytes
#: whatever follows them, so a conversation's mail shares them (what the store matches)
ROOT_PREFIX = 28
#: children kept when continuing a conversation: our header line stays under the
#: 998 characters RFC 5322 allows (22 + 101 * 5 bytes are 704 base64 characters)
MAX_CHILDREN = 100
#: longer header values are not read at all (no conversation is that deep)
_MAX_TEXT = 1400
_RESERVED = 0x01

#: FILETIME counts 100-nanosecond ticks since 1601-01-01 UTC
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_TICKS_PER_SECOND = 10_000_000
#: first time bytes below this are the current form (its top byte is 0x01 until 2057);
#: the older form would need a date before 1844 to start this low
_OLD_FORM_FROM = 0x10
#: the older form's top byte, which it leaves out
_OLD_TOP = 0x01 << 56

#: delta code 0 holds differences below 2**49 ticks (about 1.78 years) in 2**18-tick
#: steps (26 ms); delta code 1 longer ones in 2**23-tick steps (0.84 s), up to 2**54
#: ticks (57 years)
_SHORT_LIMIT = 1 << 49
_SHORT_SHIFT = 18
_LONG_SHIFT = 23
_DELTA_MASK = 0x7FFF_FFFF
_LONG_CODE = 0x8000_0000


def filetime(moment: datetime) -> int:
    """``moment`` as FILETIME ticks; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elapsed = moment - _EPOCH
    # Integer arithmetic throughout: a float of 1.3e17 ticks has no 100 ns left.
    return (
        elapsed.days * 86_400 + elapsed.seconds
    ) * _TICKS_PER_SECOND + elapsed.microseconds * 10


def from_filetime(ticks: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ticks // 10)


@dataclass(frozen=True)
class ThreadIndex:
    """One parsed Thread-Index: the conversation's header block and the replies' blocks."""

    header: bytes
    children: tuple[bytes, ...] = ()

    @property
    def root(self) -> str:
        """The header block alone, in base64: the same for every mail of the conversation."""
        return base64.b64encode(self.header).decode("ascii")

    def encode(self) -> str:
        """The header's value: base64 of the whole index."""
        return base64.b64encode(self.header + b"".join(self.children)).decode("ascii")

    @property
    def guid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.header[6:HEADER_BYTES])

    @property
    def started(self) -> int:
        """The header block's time in FILETIME ticks, in either form (see the module)."""
        stored = int.from_bytes(self.header[1:6], "big")
        if self.header[1] < _OLD_FORM_FROM:
            return stored << 24
        return _OLD_TOP | stored << 16

    def offsets(self) -> tuple[int, ...]:
        """Each child block's time after the header's, in ticks (to the block's step)."""
        found = []
        for block in self.children:
            word = int.from_bytes(block[:4], "big")
            shift = _LONG_SHIFT if word & _LONG_CODE else _SHORT_SHIFT
            found.append((word & _DELTA_MASK) << shift)
        return tuple(found)

    def child(self, at: datetime, nonce: int | None = None) -> ThreadIndex:
        """The index of a reply to this mail written at ``at``: one block more.

        ``nonce``: the block's four random bits (drawn when not given). A parent that
        already has ``MAX_CHILDREN`` blocks gets a reply on the conversation's first
        level instead: the same conversation, a header line of bounded length.
        """
        kept = self.children if len(self.children) < MAX_CHILDREN else ()
        block = child_block(filetime(at) - self.started, len(kept) + 1, nonce)
        return ThreadIndex(self.header, (*kept, block))


def child_block(difference: int, sequence: int, nonce: int | None = None) -> bytes:
    """One 5-byte child block for a reply ``difference`` ticks after the header's time.

    The first 32 bits: the delta code and 31 bits of the difference (its bits 48..18
    with code 0, bits 53..23 with code 1). The specification asks for code 0 when the
    difference's high 32 bits masked with 0x00FE0000 are zero, which for any difference
    under 2**56 ticks is ``difference < 2**49``. The last byte: four random bits, then
    four bits of sequence count (the block's level, modulo 16).
    """
    # A clock behind the header's (the customer's clock ahead of ours): no time passed.
    difference = max(difference, 0)
    if difference < _SHORT_LIMIT:
        word = difference >> _SHORT_SHIFT
    else:
        word = _LONG_CODE | min(difference >> _LONG_SHIFT, _DELTA_MASK)
    bits = random.getrandbits(4) if nonce is None else nonce & 0x0F
    return word.to_bytes(4, "big") + bytes([bits << 4 | sequence & 0x0F])


def new_index(at: datetime, guid: uuid.UUID | None = None) -> ThreadIndex:
    """The index of a mail that starts a conversation at ``at`` (a random GUID unless given)."""
    stored = filetime(at) >> 24
    header = bytes([_RESERVED]) + stored.to_bytes(5, "big") + (guid or uuid.uuid4()).bytes
    return ThreadIndex(header)


def parse_thread_index(value: str) -> ThreadIndex | None:
    """The index in a Thread-Index header's value; None for anything that is not one
    (not base64, shorter than a header block, a length that is not 22 + 5n bytes, a
    first byte other than 0x01, absurdly long). Never raises."""
    text = "".join(value.split())
    if not text or len(text) > _MAX_TEXT:
        return None
    # Padding left off is forgiven; a character outside base64 is not.
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < HEADER_BYTES or (len(raw) - HEADER_BYTES) % CHILD_BYTES or raw[0] != _RESERVED:
        return None
    blocks = tuple(
        raw[start : start + CHILD_BYTES] for start in range(HEADER_BYTES, len(raw), CHILD_BYTES)
    )
    return ThreadIndex(raw[:HEADER_BYTES], blocks)


def root_of(value: str) -> str:
    """The conversation's header block of a Thread-Index value, in base64; "" if none."""
    index = parse_thread_index(value)
    return index.root if index is not None else ""
