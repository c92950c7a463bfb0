"""addresses: the header values people write, read the way ``policy.default`` reads
them, and the sender's address only when it is unambiguous.

The stdlib's header parser was the dearest step of parsing a mail, so each value is
parsed once per mail (:class:`HeaderReader`), and address lists in the plain shape
most mail has skip it altogether (:func:`_plain_address_list`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.errors import MessageDefect
from email.headerregistry import Address
from email.message import Message
from typing import Any

from mailbot.mail.charsets import printable

_DEFAULT = policy.default
# One address: local part of dot-atoms or a quoted string, a domain of labels.
_ADDR = re.compile(
    r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r'|"[^"\\\r\n]*")@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$'
)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT = re.compile(r"\([^()@]*\)")
#: headers policy.default reads as an address list (AddressHeader)
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})
#: the decoded headers policy.default reads as free text (UnstructuredHeader)
_UNSTRUCTURED = frozenset({"subject", "thread-topic", "comments", "keywords"})
# RFC 5322 atext as the stdlib parser has it for printable ASCII (not its SPECIALS).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
#: one list entry: "addr@domain", "Some Name <addr@domain>" or '"Name, Some" <addr@domain>',
#: nothing the parser would repair or complain about
_PLAIN_MAILBOX = re.compile(
    r"[ \t]*(?:"
    rf'(?:(?P<name>{_ATEXT}+(?:[ \t]+{_ATEXT}+)*)|"(?P<quoted>[ \t!#-\[\]-~]+)")?[ \t]*'
    rf"<(?P<local>{_DOT_ATOM})@(?P<domain>{_DOT_ATOM})>"
    rf"|(?P<bare_local>{_DOT_ATOM})@(?P<bare_domain>{_DOT_ATOM}))[ \t]*"
)


class HeaderReader:
    """policy.default's parse of a header, once per mail: the address headers are
    read both as text and as addresses, and that parser is the dearest step here."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], Any] = {}

    def parse(self, name: str, raw_text: str) -> Any:
        key = (name.lower(), raw_text)
        if key not in self._seen:
            plain: Any = None
            if key[0] in _ADDRESS_HEADERS:
                plain = _plain_address_list(raw_text)
            elif key[0] in _UNSTRUCTURED and raw_text.isascii() and "=?" not in raw_text:
                # Without an encoded word, policy.default's text of an ASCII subject is
                # the value unfolded (tests/mail/test_addresses.py holds them equal).
                plain = raw_text.replace("\r", "").replace("\n", "")
            if plain is not None:
                self._seen[key] = plain
            else:
                try:
                    self._seen[key] = _DEFAULT.header_fetch_parse(name, raw_text)
                except Exception as exc:  # remembered, raised again for every reader
                    self._seen[key] = exc
        found = self._seen[key]
        if isinstance(found, Exception):
            raise found
        return found


@dataclass(frozen=True)
class _PlainAddressList:
    """What policy.default makes of a plain address header, as far as this module
    reads it: its text, its addresses and (none) defects."""

    text: str
    addresses: tuple[Address, ...]
    defects: tuple[MessageDefect, ...] = ()

    def __str__(self) -> str:
        return self.text


def _plain_address_list(raw_text: str) -> _PlainAddressList | None:
    """The address list of a header in the plain shape most mail has, or None.

    The stdlib parser (``get_address_list``) cost more than anything else in parsing
    a mail. Only values it reads without a repair or a defect are taken here:
    printable ASCII, dot-atoms around the "@", a display name of atoms or of one
    quoted string without quoted pairs; no comments, groups, routes, encoded words
    or empty entries. Everything else goes to the parser.
    tests/mail/test_addresses.py holds the two to the same output.
    """
    # As header_fetch_parse unfolds: line breaks go, the indentation stays.
    value = raw_text.replace("\r", "").replace("\n", "")
    if "=?" in value:
        return None
    addresses: list[Address] = []
    position, end = 0, len(value)
    while True:
        m = _PLAIN_MAILBOX.match(value, position)
        if m is None:
            return None
        if m["bare_local"] is not None:
            addresses.append(Address("", m["bare_local"], m["bare_domain"]))
        elif m["quoted"] is not None:
            # Inside quotes the parser keeps the blanks as written.
            addresses.append(Address(m["quoted"], m["local"], m["domain"]))
        else:
            # Between atoms it makes each run of blanks one space.
            name = " ".join(m["name"].split()) if m["name"] else ""
            addresses.append(Address(name, m["local"], m["domain"]))
        position = m.end()
        if position == end:
            break
        if value[position] != ",":
            return None
        position += 1
    return _PlainAddressList(", ".join(str(a) for a in addresses), tuple(addresses))


def single_address(
    msg: Message, name: str, defects: list[str], reader: HeaderReader
) -> tuple[str, str]:
    """Exactly one syntactically valid address, as (display name, address), or nothing.

    A From header that parses into several addresses, or into something that is not
    a plain address, is ambiguous (CVE-2023-27043): we answer nobody rather than the
    wrong party.
    """
    raw_value = _raw_values(msg, name)
    if not raw_value:
        return "", ""
    try:
        header = reader.parse(name, raw_value[0])
        addresses = list(getattr(header, "addresses", ()))
    except Exception:
        defects.append(f"unparseable {name}")
        return "", ""
    valid = [a for a in addresses if _ADDR.match(a.addr_spec or "")]
    source = next((str(v) for k, v in msg.raw_items() if k.lower() == name), "")
    if len(addresses) != 1 or len(valid) != 1 or not _plainly(source, valid[0].addr_spec):
        if addresses:
            defects.append(f"ambiguous {name}")
        return "", ""
    return printable(valid[0].display_name or ""), valid[0].addr_spec.lower()


def _plainly(source: str, addr_spec: str) -> bool:
    """True when the raw header holds ``addr_spec`` and no other address, unambiguously.

    This interpreter's parser (before the CVE-2023-27043 fix) reads
    ``alice@good.example)<bob@evil.example>`` or ``alice@good.example <bob@evil.example>``
    as alice. We accept an address only if the raw text, with quoted strings blanked
    (a display name may say anything inside quotes), is either ``name <addr>`` with no
    other "@" outside the brackets, or the bare address with at most a comment.
    """
    text = _QUOTED.sub('""', source).replace("\r", "").replace("\n", "")
    addr = _QUOTED.sub('""', addr_spec).lower()
    angles = re.findall(r"<([^<>]*)>", text)
    if text.count("<") != len(angles) or text.count(">") != len(angles) or len(angles) > 1:
        return False
    if angles:
        outside = re.sub(r"<[^<>]*>", "", text)
        return angles[0].strip().lower() == addr and "@" not in outside
    bare = _COMMENT.sub("", text).strip()
    return bare.lower() == addr


def address_list(
    msg: Message, name: str, defects: list[str], reader: HeaderReader
) -> tuple[str, ...]:
    """Every valid address of all ``name`` headers, lower-cased, each once."""
    found: list[str] = []
    try:
        for raw_value in _raw_values(msg, name):
            header = reader.parse(name, raw_value)
            for a in getattr(header, "addresses", ()):
                if _ADDR.match(a.addr_spec or ""):
                    found.append(a.addr_spec.lower())
    except Exception:
        defects.append(f"unparseable {name}")
    return tuple(dict.fromkeys(found))


def _raw_values(msg: Message, name: str) -> list[str]:
    """The values of every ``name`` header as the parser read them."""
    return [v if isinstance(v, str) else str(v) for k, v in msg.raw_items() if k.lower() == name]
