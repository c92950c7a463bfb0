"""mime: outgoing mail with files: multipart/mixed, base64, RFC 2231 names, every header
one clean line, and the same text + HTML mail as before when there are no files."""

from __future__ import annotations

import email
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from mailbot.outbound.mime import Enclosure, compose, file_name, name_parameter
from mailbot.outbound.render import Rendered

NOW = datetime(2026, 11, 24, 8, 35, tzinfo=UTC)
BODY = Rendered(text="Hallo,\nanbei die Dateien.\n", html="<p>Hallo,<br>anbei die Dateien.</p>")


def make(*files: Enclosure) -> bytes:
    return compose(
        from_header="IT-Service <service@itservice.example>",
        to=["technik@itservice.example"],
        subject="[#1001] Drucker",
        body=BODY,
        message_id="<m1@itservice.example>",
        now=NOW,
        attachments=files,
    )


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def content(data: bytes, pieces: int = 1) -> Enclosure:
    step = max(1, len(data) // pieces)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), step):
            yield data[start : start + step]

    return Enclosure("x.bin", "application/octet-stream", chunks)


def header_lines(raw: bytes) -> list[bytes]:
    """Every header line of every part (the lines before each part's blank line)."""
    found: list[bytes] = []
    for block in re.split(rb"\r\n--=_mailbot_[0-9a-f]+(?:--)?\r\n", b"\r\n" + raw):
        head = block.split(b"\r\n\r\n", 1)[0]
        found += [line for line in head.split(b"\r\n") if line]
    return found


def test_files_follow_the_text_and_html_in_multipart_mixed() -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    pdf = b"%PDF-1.7\n" + os.urandom(70_000)
    raw = make(
        Enclosure("Bildschirmfoto.png", "image/png", lambda: [png]),
        Enclosure("Prüfbericht März.pdf", "application/pdf", lambda: [pdf[:1000], pdf[1000:]]),
    )
    msg = parsed(raw)
    assert msg.get_content_type() == "multipart/mixed"
    first = msg.get_payload()[0]  # type: ignore[index]
    assert first.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    assert plain is not None and "anbei die Dateien" in plain.get_content()
    files = [
        (p.get_filename(), p.get_content_type(), p.get_content()) for p in msg.iter_attachments()
    ]
    assert files == [
        ("Bildschirmfoto.png", "image/png", png),
        ("Prüfbericht März.pdf", "application/pdf", pdf),
    ]
    assert b"filename*=utf-8''Pr%C3%BCfbericht%20M%C3%A4rz.pdf" in raw
    assert not msg.defects and all(not p.defects for p in msg.walk())


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 57 * 1000, 100_003])
@pytest.mark.parametrize("pieces", [1, 7])
def test_base64_lines_are_76_characters_whatever_the_chunks(size: int, pieces: int) -> None:
    data = os.urandom(size)
    raw = make(content(data, pieces))
    [part] = parsed(raw).iter_attachments()
    assert part.get_content() == data
    body = raw.split(b"Content-Transfer-Encoding: base64\r\n\r\n", 1)[1]
    # An empty file: the blank line's line break is the closing delimiter's too.
    body = b"" if body.startswith(b"--=_mailbot") else body.split(b"\r\n--", 1)[0]
    lines = body.split(b"\r\n") if body else []
    assert len(b"".join(lines)) == -(-size // 3) * 4
    assert all(len(line) == 76 for line in lines[:-1])
    assert not lines or 0 < len(lines[-1]) <= 76


@pytest.mark.parametrize(
    "name",
    [
        "evil\r\nBcc: victim@example.com.pdf",
        'quote"and\\backslash.pdf',
        "Ωμέγα " * 60 + ".pdf",
        "\U0001f600" * 120 + ".png",
        "",
        "semi;colon=equal,comma.pdf",
    ],
)
def test_every_file_header_is_one_clean_line(name: str) -> None:
    raw = make(Enclosure(name, "image/png\r\nX-Injected: yes", lambda: [b"abc"]))
    for line in header_lines(raw):
        assert line.isascii() and len(line) <= 998, line[:80]
        assert b"\r" not in line and b"\n" not in line
    msg = parsed(raw)
    assert "X-Injected" not in str(msg) and msg["Bcc"] is None
    [part] = msg.iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part["X-Injected"] is None and part["Bcc"] is None
    assert part.get_filename() == file_name(name)
    assert part.get_content() == b"abc"


def test_long_names_are_shortened_but_keep_their_extension() -> None:
    shortened = file_name("Ä" * 300 + ".docx")
    assert shortened.endswith(".docx") and shortened.startswith("Ä")
    assert len(name_parameter("filename", shortened)) <= 400


def test_plain_ascii_names_are_quoted_others_rfc2231() -> None:
    assert name_parameter("filename", "Bericht 2026.pdf") == 'filename="Bericht 2026.pdf"'
    assert name_parameter("filename", 'a"b.pdf') == "filename*=utf-8''a%22b.pdf"
    assert name_parameter("name", "März.pdf") == "name*=utf-8''M%C3%A4rz.pdf"


def test_without_files_the_mail_stays_text_and_html() -> None:
    raw = make()
    msg = parsed(raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert list(msg.iter_attachments()) == []
    assert b"multipart/mixed" not in raw
