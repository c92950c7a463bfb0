"""parse: charsets, HTML-only mail, broken MIME, hostile structure, strict addresses."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.errors import MessageTooLargeError, ParseError
from mailbot.mail.parse import ParseLimits, parse_message

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "examples"


def mail(headers: str, body: bytes = b"Hallo") -> bytes:
    return headers.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def test_windows1252_quoted_printable_is_decoded() -> None:
    raw = mail(
        """
From: Heike <h@schmitz-logistik.example>
Subject: =?windows-1252?q?Terminalserver_z=E4h?=
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: quoted-printable
""",
        b"Arbeiten k=F6nnen alle, es ist nur m=FChsam.",
    )
    parsed = parse_message(raw)
    assert parsed.subject == "Terminalserver zäh"
    assert parsed.text == "Arbeiten können alle, es ist nur mühsam."
    assert parsed.from_addr == "h@schmitz-logistik.example"


def test_unknown_charset_falls_back_without_error() -> None:
    raw = mail(
        "From: a@b.example\nContent-Type: text/plain; charset=x-klingon\n"
        "Content-Transfer-Encoding: 8bit",
        "Drucker geht nicht, Grüße".encode("latin-1"),
    )
    parsed = parse_message(raw)
    assert parsed.text == "Drucker geht nicht, Grüße"


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    raw = mail(
        "From: a@b.example\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit",
        b"Server \xff\xfe weg",
    )
    assert "Server" in parse_message(raw).text


def test_html_only_becomes_text_without_scripts() -> None:
    raw = mail(
        "From: a@b.example\nContent-Type: text/html; charset=utf-8",
        b"<html><head><style>p{}</style><script>alert(1)</script></head>"
        b"<body><p>Exchange&nbsp;ist weg</p><p>Gru&szlig;<br>Anna</p></body></html>",
    )
    parsed = parse_message(raw)
    assert parsed.html_only
    assert parsed.text == "Exchange ist weg\n\nGruß\nAnna"
    assert "alert" not in parsed.text


def test_plain_part_preferred_over_html_alternative() -> None:
    raw = mail(
        'From: a@b.example\nContent-Type: multipart/alternative; boundary="XX"',
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n"
        b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html words</p>\r\n--XX--\r\n",
    )
    parsed = parse_message(raw)
    assert parsed.text == "plain words"
    assert not parsed.html_only


def test_broken_mime_without_closing_boundary_still_reads() -> None:
    raw = mail(
        'From: a@b.example\nContent-Type: multipart/mixed; boundary="B"',
        b"--B\r\nContent-Type: text/plain\r\n\r\nDer Drucker streikt",
    )
    parsed = parse_message(raw)
    assert "Drucker streikt" in parsed.text
    assert parsed.defects


def test_ambiguous_from_is_not_trusted() -> None:
    # CVE-2023-27043: a From that hides a second address must not be answered.
    raw = mail('From: "alice@good.example" <bob@evil.example>, carol@evil.example')
    assert parse_message(raw).from_addr == ""


def test_display_name_with_at_sign_keeps_real_address() -> None:
    raw = mail('From: "alice@good.example" <bob@evil.example>')
    assert parse_message(raw).from_addr == "bob@evil.example"


def test_size_limit() -> None:
    with pytest.raises(MessageTooLargeError):
        parse_message(mail("From: a@b.example", b"x" * 2000), ParseLimits(max_bytes=1000))


def test_deep_nesting_is_rejected_quickly() -> None:
    depth = 1000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = b"From: a@b.example\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    with pytest.raises(ParseError):
        parse_message(raw)


def test_many_parts_rejected() -> None:
    parts = b"".join(b"--P\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(5000))
    raw = mail('From: a@b.example\nContent-Type: multipart/mixed; boundary="P"', parts + b"--P--")
    with pytest.raises(ParseError):
        parse_message(raw, ParseLimits(max_parts=1000))


def test_date_and_threading_headers() -> None:
    raw = mail(
        "From: a@b.example\nDate: Fri, 27 Nov 2026 18:30:00 +0100\n"
        "Message-ID: <x1@b.example>\nIn-Reply-To: <y2@c.example>\n"
        "References: <z0@c.example> <y2@c.example>"
    )
    parsed = parse_message(raw)
    assert parsed.date is not None and parsed.date.isoformat() == "2026-11-27T18:30:00+01:00"
    assert parsed.message_id == "<x1@b.example>"
    assert parsed.in_reply_to == "<y2@c.example>"
    assert parsed.references == ("<z0@c.example>", "<y2@c.example>")


def test_a_date_without_a_zone_is_read_in_the_zone_passed_in() -> None:
    """The configured zone, never one written into the parser: "-0000" and an
    obsolete date without any zone are local time of whoever runs mailbot."""
    for date in ("Fri, 27 Nov 2026 18:30:00 -0000", "Fri, 27 Nov 2026 18:30:00"):
        raw = mail(f"From: a@b.example\nDate: {date}")
        berlin = parse_message(raw, ParseLimits(zone=ZoneInfo("Europe/Berlin"))).date
        assert berlin is not None and berlin.isoformat() == "2026-11-27T18:30:00+01:00"
        york = parse_message(raw, ParseLimits(zone=ZoneInfo("America/New_York"))).date
        assert york is not None and york.isoformat() == "2026-11-27T18:30:00-05:00"
        unset = parse_message(raw).date
        assert unset is not None and unset.tzinfo is UTC
    # A zone the header names wins over the one passed in.
    raw = mail("From: a@b.example\nDate: Fri, 27 Nov 2026 18:30:00 +0900")
    named = parse_message(raw, ParseLimits(zone=ZoneInfo("Europe/Berlin"))).date
    assert named is not None and named.isoformat() == "2026-11-27T18:30:00+09:00"


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="shared examples not present")
def test_every_shared_example_parses_with_sender_and_text() -> None:
    for path in sorted(EXAMPLES.glob("*.eml")):
        parsed = parse_message(path.read_bytes())
        assert "@" in parsed.from_addr, path.name
        assert len(parsed.text) > 40, path.name
