"""The plain-address fast path of mail/addresses.py against policy.default's header parser.

Wherever ``_plain_address_list`` takes a value, what this module reads of the result
(the text, every address's display name, user name, domain and addr-spec, the
defects) must be what the stdlib parser gives, and the parser must not raise on it.
The values: every header of the real-world corpus and the example mails, header
lines quoted in the corpus's reply fixtures, hand-written nasty values and
generated near-plain ones.
"""

from __future__ import annotations

import email
import random
import re
from email import policy
from email.headerregistry import AddressHeader, UnstructuredHeader
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from mailbot.errors import ParseError
from mailbot.mail import addresses
from mailbot.mail.addresses import _ADDRESS_HEADERS, _UNSTRUCTURED, _plain_address_list
from mailbot.mail.parse import parse_message

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"

NASTY = [
    "", " ", ",", ", ,", "a@b,", ",a@b", "a@b,,c@d", "a@b, ,c@d", "<>", "Name <>", "<a@b",
    "a@b>", "Name a@b", "Name <a@b> c@d", "a@b <c@d>", "a@b)<c@d>", "a @b", "a@ b", "a@b .c",
    "a.@b", ".a@b", "a..b@c", "a@b..c", "a@.b", "a@b.", "@b", "a@", "a@b@c", "<a@b@c>",
    "John Q. Public <a@b>", "J. <a@b>", "Name. <a@b>", '"Doe, John" <a@b>', '"" <a@b>',
    "Doe\\, John <a@b>", "Name (comment) <a@b>", "a@b (Name)", "(c) a@b", "a(c)@b",
    "Name <a@b> (c)", "group: a@b, c@d;", "group:;", "Undisclosed recipients:;",
    "<@route:a@b>", "<@r1,@r2:a@b>", "a@[127.0.0.1]", "Name <a@[1.2.3.4]>", "a@b;c@d",
    "=?utf-8?q?M=C3=BCller?= <a@b>", "=?us-ascii?q?x?= <a@b>", "x=?y <a@b>", "a=?b@c",
    "Name=? <a@b>", "=?<a@b>", "?= <a@b>", "Müller <a@b>", "a@bä.de", "ä@b", "Name\xa0X <a@b>",
    "Name\x00 <a@b>", "Name\x0b <a@b>", "Name\x7f <a@b>", "a\x1f@b", "a@b\x0c", "\x0ca@b",
    "Na\u2028me <a@b>", "Name <a@b>\udcc3", "\ud800 <a@b>", "Name\r\n <a@b>", "Name\r <a@b>",
    "a@b,\r\n c@d", "a@b\r\n", "\r\n a@b", "Name\n\t<a@b>", "N\r\nA <a@b>", "a@\r\n b",
    "Name\t\t<a@b>", "\tName  Name\t <a@b>  ", "  a@b  ,  c@d  ", "Name<a@b>", "<a@b>",
    " <a@b> ", "<a@b>, <c@d>", "< a@b>", "<a@b >", "<a @b>", "<a@ b>", "Name <a@b>>",
    "Name <<a@b>", "Name <a@b>,", "O'Brien <a@b>", "o'brien@b", "Name' <a@b>",
    "a+tag@b.example", "x!#$%&'*+/=?^_`{|}~-@y", "{a}|b@c~d", "-@-", "1@2", "a@b-",
    "Name Name Name <a.b.c@d.e.f>", "a" * 300 + "@b", "N" * 500 + " <a@b>",
    "Name\\ X <a@b>", "a\\@b", "a@b\\", '"a"@b', 'Name "x" <a@b>', "[x] <a@b>", "x] <a@b>",
    "<a@b>:", "a:b@c", "Name: <a@b>", "Name ; <a@b>", "a@b\x00", "a@b ,", ", a@b",
    '"Doe, John" <a@b>, c@d', '"a" "b" <a@b>', '"x" y <a@b>', 'y "x" <a@b>', '" " <a@b>',
    '"\t" <a@b>', '"a\\"b" <a@b>', '"a\\\\" <a@b>', '"a""b" <a@b>', '"a"b <a@b>', '"a <a@b>',
    'a" <a@b>', '"a@b"', '"a@b" <c@d>', '"a:b" <c@d>', '"x;y" <c@d>', '"(x)" <c@d>',
    '"<c@d>" <e@f>', '"a" <b@c>, "d, e" <f@g>', '"a"\r\n <b@c>', '"a\r\n b" <c@d>',
    '"a  b" <c@d>', '" a " <c@d>', '"ä" <a@b>', '"a\x00" <b@c>', '"=?utf-8?q?x?=" <a@b>',
    '"a"@b', '"a"<b@c>', '"a" <b@c> "d"', '"Dr. X" <a@b>', "'\"x\" <a@b>'", '"x" <a@b>;',
    '"x", <a@b>', '"x" , <a@b>', '"x" <"a"@b>', '"x\x7f" <a@b>', '"x" (c) <a@b>', '"x" <a@b',
    '"x" \t\t <a@b>', '\t "x"\t<a@b>\t', '"x"\r<a@b>', '"\'x\'" <a@b>', '"x" <a@b>\x0b',
]  # fmt: skip


def view(header: Any) -> tuple[object, ...]:
    """What mail/parse.py reads of a parsed address header (and the defects beside)."""
    return (
        str(header),
        [(a.display_name, a.username, a.domain, a.addr_spec, str(a)) for a in header.addresses],
        [(type(d).__name__, str(d)) for d in header.defects],
    )


def registry_view(name: str, value: str) -> tuple[object, ...]:
    try:
        header = policy.default.header_fetch_parse(name, value)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    return view(header)


def assert_fast_path_agrees(values: set[tuple[str, str]]) -> int:
    """Compares every value the fast path takes; returns how many it took."""
    differ: list[tuple[str, str, object, object]] = []
    taken = 0
    for name, value in sorted(values):
        fast = _plain_address_list(value)
        if fast is None:
            continue
        taken += 1
        # Any header value is input here: the fast path must refuse what it is not,
        # and policy.default reads other headers' values alike as an address list.
        expected = registry_view(name if name in _ADDRESS_HEADERS else "to", value)
        if view(fast) != expected:
            differ.append((name, value, view(fast), expected))
    assert not differ, f"{len(differ)} values differ, e.g. {differ[:3]!r}"
    return taken


def mail_files() -> list[Path]:
    paths = sorted(ROOT.glob("eval/*/*.eml")) + sorted(ROOT.glob("examples/*.eml"))
    paths += sorted((SHARED / "examples").glob("*.eml"))
    paths += sorted(p for p in (SHARED / "corpus").rglob("*") if p.is_file())
    return paths


def header_values(msg: Message) -> list[tuple[str, str]]:
    """Every header of every part, attached messages included."""
    found: list[tuple[str, str]] = []
    for part in msg.walk():
        found += [(k, v if isinstance(v, str) else str(v)) for k, v in part.raw_items()]
        payload = part.get_payload()
        if part.get_content_type() == "message/rfc822" and isinstance(payload, list):
            for inner in payload:
                if isinstance(inner, Message):
                    found += header_values(inner)
    return found


QUOTED_HEADER = re.compile(
    r"(?im)^[>\s*]*(?:from|to|cc|bcc|reply-to|sender|von|an|kopie|de|para|envoyé par)"
    r"\s*:[ \t]*(.*)$"
)


def corpus_values() -> set[tuple[str, str]]:
    paths = mail_files()
    if not paths:
        pytest.skip("no example or corpus mail")
    values: set[tuple[str, str]] = set()
    for path in paths:
        raw = path.read_bytes()
        for key, value in header_values(email.message_from_bytes(raw)):
            name = key.lower()
            values.add((name, value))
            # Folded the way long address lists arrive.
            values.add((name, value.replace(", ", ",\r\n ", 1).replace(" <", "\r\n\t<", 1)))
        for m in QUOTED_HEADER.finditer(raw.decode("utf-8", "replace")):
            values.add(("from", m.group(1)))
    return values


def test_address_headers_are_read_by_the_address_parser() -> None:
    """The fast path stands in for AddressHeader.parse: these must be address headers."""
    for name in _ADDRESS_HEADERS:
        assert issubclass(policy.default.header_factory[name], AddressHeader), name


def test_fast_path_agrees_on_every_header_of_the_corpus_and_examples() -> None:
    values = corpus_values()
    taken = assert_fast_path_agrees(values)
    # Not a vacuous comparison: real mail is mostly plain.
    addresses = [v for n, v in values if n in _ADDRESS_HEADERS]
    assert sum(_plain_address_list(v) is not None for v in addresses) > len(addresses) // 2
    assert taken > 0


def test_fast_path_agrees_on_nasty_values() -> None:
    values = {(name, v) for v in NASTY for name in sorted(_ADDRESS_HEADERS)}
    assert_fast_path_agrees(values)


def test_fast_path_agrees_on_generated_values() -> None:
    rng = random.Random(20261124)
    pieces = [
        "a", "b", "Jo", "x-y", "o'n", "1", "=", "?", "=?", "?=", "+", "~", "{", "|", "/",
        "!", "#", "_", ".", "..", "@", "<", ">", ",", ";", ":", " ", "  ", "\t", "\r\n ",
        "\n\t", "\r", '"', "(", ")", "\\", "[", "]", "ä", "\x00", "\x0b", "\x7f", "\xa0",
        "\ufffd", "\udcc3",
    ]  # fmt: skip
    atoms = ["a", "b", "Jo", "x-y", "o'n", "1", "t+x", "=", "?", "~{}|", "`^", "ä"]
    inside = [*atoms, " ", "  ", "\t", ",", ".", "@", "<", ">", ";", ":", "(", ")", "[", "]"]

    def atom() -> str:
        return "".join(rng.choices(atoms, k=rng.randint(1, 2)))

    def dotted() -> str:
        return ".".join(atom() for _ in range(rng.randint(1, 3)))

    def entry() -> str:
        addr = f"{dotted()}@{dotted()}"
        name = rng.choice([" ", "  ", "\t", " \t "]).join(atom() for _ in range(rng.randint(1, 3)))
        pad = rng.choice(["", "", " ", "\t", "  "])
        quoted = "".join(rng.choices(inside, k=rng.randint(0, 6)))
        shape = rng.choice(
            ["{a}", "{n} <{a}>", "<{a}>", "{n}<{a}>", "{n}\t <{a}>", '"{q}" <{a}>', '"{q}"<{a}>']
        )
        return pad + shape.format(a=addr, n=name, q=quoted) + pad

    values: set[tuple[str, str]] = set()
    for _ in range(20_000):
        if rng.random() < 0.7:
            joiner = rng.choice([",", ", ", " ,", ",\r\n ", ",\n\t"])
            value = joiner.join(entry() for _ in range(rng.randint(1, 3)))
            for _ in range(rng.choice([0, 0, 1, 1, 2])):
                at = rng.randint(0, len(value))
                value = value[:at] + rng.choice(pieces) + value[at:]
        else:
            value = "".join(rng.choices(pieces + atoms, k=rng.randint(0, 14)))
        values.add((rng.choice(sorted(_ADDRESS_HEADERS)), value))
    taken = assert_fast_path_agrees(values)
    assert 0 < taken < len(values)


def parsed_or_error(raw: bytes) -> object:
    try:
        return parse_message(raw)
    except ParseError as exc:
        return f"ParseError: {exc}"


def test_parse_message_is_the_same_without_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [p.read_bytes() for p in mail_files() if p.suffix in (".eml", ".box")]
    if not raws:
        pytest.skip("no example or corpus mail")
    with_fast_path = [parsed_or_error(r) for r in raws]
    monkeypatch.setattr(addresses, "_plain_address_list", lambda _raw_text: None)
    monkeypatch.setattr(addresses, "_UNSTRUCTURED", frozenset())
    without = [parsed_or_error(r) for r in raws]
    assert with_fast_path == without


def test_free_text_headers_are_read_as_policy_default_reads_them() -> None:
    """An ASCII subject without encoded words skips the parser; its text must be the
    parser's, for every header value of the corpus and for any ASCII at all."""
    for name in _UNSTRUCTURED:
        assert issubclass(policy.default.header_factory[name], UnstructuredHeader), name
    rng = random.Random(20261124)
    ascii_chars = [chr(i) for i in range(128)]
    values = {v for _, v in corpus_values()}
    values |= {"".join(rng.choices(ascii_chars, k=rng.randint(0, 30))) for _ in range(20_000)}
    taken = 0
    for value in sorted(values):
        for name in sorted(_UNSTRUCTURED):
            want = str(policy.default.header_fetch_parse(name, value))
            assert str(addresses.HeaderReader().parse(name, value)) == want, (name, value)
            taken += value.isascii() and "=?" not in value
    assert taken > len(values)
