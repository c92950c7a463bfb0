"""Thread-Index: known vectors worked out by hand from MS-OXOMSG 2.2.1.3, round trips,
and garbage that must read as "no index" without an exception."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mailbot.mail.threadindex import (
    MAX_CHILDREN,
    ROOT_PREFIX,
    ThreadIndex,
    child_block,
    filetime,
    from_filetime,
    new_index,
    parse_thread_index,
    root_of,
)

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GUID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")

# The Unix epoch in FILETIME: 369 years of 365 days plus 89 leap days from 1601 to
# 1970 are 134,774 days = 11,644,473,600 s = 116,444,736,000,000,000 ticks of 100 ns,
# 0x019D_B1DE_D53E_8000 in hex.
EPOCH_TICKS = 116_444_736_000_000_000
# Its bits 63..24 (the header's five time bytes): 0x01 9D B1 DE D5. The 24 bits left
# out, 0x3E8000, are 4,096,000 ticks: the header's time is that much before the epoch.
EPOCH_HEADER_TIME = 0x019D_B1DE_D500_0000
DROPPED = 0x3E_8000


def test_filetime_of_the_unix_epoch_is_the_known_constant() -> None:
    assert filetime(UNIX_EPOCH) == EPOCH_TICKS == 0x019D_B1DE_D53E_8000
    assert EPOCH_TICKS - EPOCH_HEADER_TIME == DROPPED == 4_096_000
    # A naive datetime is taken as UTC; microseconds are kept (10 ticks each).
    assert filetime(datetime(1970, 1, 1, 0, 0, 0, 7)) == EPOCH_TICKS + 70
    assert from_filetime(EPOCH_TICKS + 70) == UNIX_EPOCH + timedelta(microseconds=7)


def test_a_new_conversation_header_by_hand() -> None:
    index = new_index(UNIX_EPOCH, GUID)
    # 0x01 reserved, the five time bytes, then the GUID with Data1..3 big-endian (the
    # byte order UUID.bytes has).
    assert index.header.hex() == "01" + "019db1ded5" + "00112233445566778899aabbccddeeff"
    assert index.children == ()
    # base64 by hand of the first six bytes 01 01 9D B1 DE D5:
    # 000000 010000 000110 011101 | 101100 011101 111011 010101 -> "AQGd" "sd7V"
    assert index.encode().startswith("AQGdsd7V")
    assert index.root == index.encode() and len(index.root) == 32
    assert index.started == EPOCH_HEADER_TIME
    assert index.guid == GUID


def test_a_reply_an_hour_later_by_hand() -> None:
    parent = new_index(UNIX_EPOCH, GUID)
    reply = parent.child(UNIX_EPOCH + timedelta(hours=1), nonce=0xA)
    # The difference counts from the header's (truncated) time: 3,600 s = 36,000,000,000
    # ticks plus the 4,096,000 dropped = 36,004,096,000, below 2**49, so delta code 0
    # and bits 48..18: 36,004,096,000 // 2**18 = 137,344 = 0x00021880. The last byte:
    # random nibble 0xA, sequence count 1.
    assert reply.header == parent.header
    assert [b.hex() for b in reply.children] == ["00021880a1"]
    assert reply.offsets() == (137_344 << 18,)


def test_a_reply_two_years_later_needs_the_long_delta_code() -> None:
    parent = new_index(UNIX_EPOCH, GUID)
    reply = parent.child(UNIX_EPOCH + timedelta(days=730), nonce=0x3)
    # 730 days = 63,072,000 s = 630,720,000,000,000 ticks, plus 4,096,000 dropped:
    # 630,720,004,096,000 >= 2**49 = 562,949,953,421,312, so delta code 1 and bits
    # 53..23: 630,720,004,096,000 // 2**23 = 75,187,683 (8,388,608 * 75,187,683 =
    # 630,719,999,115,264, remainder 4,980,736) = 0x047B45E3; with the code bit
    # 0x847B45E3.
    assert [b.hex() for b in reply.children] == ["847b45e331"]
    assert reply.offsets() == (75_187_683 << 23,)


def test_the_delta_code_changes_exactly_at_two_to_the_49_ticks() -> None:
    # 2**49 - 1 >> 18 is 31 one-bits; 2**49 >> 23 is 2**26 = 0x04000000.
    assert child_block((1 << 49) - 1, 1, nonce=0).hex() == "7fffffff01"
    assert child_block(1 << 49, 1, nonce=0).hex() == "8400000001"
    # Beyond 2**54 ticks (57 years) the difference is as large as 31 bits hold.
    assert child_block(1 << 60, 1, nonce=0).hex() == "ffffffff01"
    # A clock behind the header's: no time passed, not a negative number.
    assert child_block(-5_000_000, 2, nonce=0xF).hex() == "00000000f2"


def test_the_older_header_form_is_read_too() -> None:
    # Earlier editions keep bits 55..16 and drop the top byte (0x01): the epoch's
    # FILETIME 0x019DB1DED53E8000 gives the five bytes 9D B1 DE D5 3E, and reading them
    # back restores 0x01 on top and 16 zero bits below: 0x019DB1DED53E0000, 0x8000
    # ticks before the epoch.
    header = bytes.fromhex("01" + "9db1ded53e") + GUID.bytes
    index = parse_thread_index(base64.b64encode(header).decode())
    assert index is not None
    assert index.started == 0x019D_B1DE_D53E_0000 == EPOCH_TICKS - 0x8000
    # A reply continues from that time, not from a date in the year 5000.
    reply = index.child(UNIX_EPOCH + timedelta(hours=1), nonce=0)
    # 36,000,000,000 + 32,768 ticks // 2**18 = 137,329 = 0x00021871
    assert [b.hex() for b in reply.children] == ["0002187101"]


def test_a_real_outlook_index_of_the_older_form_dates_from_its_year() -> None:
    index = parse_thread_index("AdtBq2cFm9XkPZ0fQwq7mN1a2b3c4d==")
    assert index is not None
    assert from_filetime(index.started).year == 2024


@pytest.mark.parametrize("hours", [0, 1, 5, 24 * 40, 24 * 400, 24 * 365 * 3, 24 * 365 * 30])
def test_children_round_trip_through_the_header_value(hours: int) -> None:
    start = datetime(2026, 11, 24, 8, 30, 12, 345678, tzinfo=UTC)
    root = new_index(start)
    first = root.child(start + timedelta(hours=hours))
    second = first.child(start + timedelta(hours=hours, minutes=3))
    for index in (root, first, second):
        again = parse_thread_index(index.encode())
        assert again == index
        assert root_of(index.encode()) == root.root
    # The decoded offsets land within one step (2**18 or 2**23 ticks) of the truth,
    # counted from the header's time.
    step = 1 << 23 if hours > 24 * 600 else 1 << 18
    truth = filetime(start + timedelta(hours=hours)) - root.started
    assert 0 <= truth - second.offsets()[0] < step
    assert [b[4] & 0x0F for b in second.children] == [1, 2]


def test_two_new_conversations_differ_and_start_at_their_time() -> None:
    at = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    a, b = new_index(at), new_index(at)
    assert a.root != b.root and a.guid != b.guid
    assert 0 <= filetime(at) - a.started < 1 << 24
    assert a.root[:ROOT_PREFIX] != b.root[:ROOT_PREFIX]


def test_the_root_prefix_is_shared_by_every_mail_of_a_conversation() -> None:
    root = new_index(datetime(2026, 11, 24, tzinfo=UTC), GUID)
    late = root.child(datetime(2030, 1, 1, tzinfo=UTC), nonce=0xF)
    assert late.encode()[:ROOT_PREFIX] == root.root[:ROOT_PREFIX]
    assert late.encode()[:32] != root.root  # the 22nd byte shares a character with the next


def test_a_deep_conversation_keeps_its_header_line_short() -> None:
    at = datetime(2026, 11, 24, tzinfo=UTC)
    index = new_index(at, GUID)
    for i in range(MAX_CHILDREN):
        index = index.child(at + timedelta(minutes=i))
    assert len(index.children) == MAX_CHILDREN
    assert parse_thread_index(index.encode()) == index
    # One more: a reply on the first level of the same conversation.
    beyond = index.child(at + timedelta(days=1))
    assert beyond.header == index.header and len(beyond.children) == 1
    longest = index.encode()
    assert len("Thread-Index: " + longest) <= 998


def test_whitespace_of_a_folded_header_and_missing_padding_are_forgiven() -> None:
    index = new_index(datetime(2026, 11, 24, tzinfo=UTC), GUID).child(
        datetime(2026, 11, 25, tzinfo=UTC), nonce=1
    )
    text = index.encode()
    assert parse_thread_index(f"  {text[:20]}\r\n\t{text[20:]}  ") == index
    assert parse_thread_index(text.rstrip("=")) == index


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "not base64 at all!",
        "AdtBq2cFm9XkPZ0fQwq7mN1a2b3c4d==AAAB",  # padding in the middle
        "AdtBq2cFm9XkPZ0fQwq7mN1a2b3c4d==A",  # a character that no base64 length allows
        "AdtBq2cFm9XkPZ0f*wq7mN1a2b3c4d==",  # a character outside base64
        "ÄÖÜ" * 12,
        "A" * 5000,
        _b64(b"\x01" * 21),  # shorter than a header block
        _b64(b"\x01" * 23),  # a header and a stray byte
        _b64(b"\x01" * 26),  # a header and four bytes of a block
        _b64(b"\x02" + b"\x01" * 21),  # not the reserved byte
        "=?utf-8?b?AQGdsd7V?=",
    ],
)
def test_garbage_is_no_index(value: str) -> None:
    assert parse_thread_index(value) is None
    assert root_of(value) == ""


def test_a_header_and_blocks_of_any_content_are_an_index() -> None:
    raw = b"\x01" + bytes(range(21)) + bytes(range(100, 110))
    index = parse_thread_index(_b64(raw))
    assert index == ThreadIndex(raw[:22], (raw[22:27], raw[27:32]))
