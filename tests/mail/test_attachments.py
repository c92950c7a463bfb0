"""attachments: names decoded and made safe, programs recognised, content decoded in
chunks exactly as the stdlib decodes it, large bodies kept out of the parser."""

from __future__ import annotations

import base64
import email
import hashlib
import os
import tracemalloc
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail.attachments import CHUNK, risk_of, safe_name
from mailbot.mail.cutout import MIN_MAIL, cut_runs
from mailbot.mail.parse import ParseLimits, parse_message


def with_part(part_headers: str, body: bytes = b"SGFsbG8=") -> bytes:
    """A mail with a text part and one more part with ``part_headers``."""
    head = (
        "From: Birgit Lange <b.lange@mueller-steuerberatung.example>\n"
        "To: service@itservice.example\nSubject: Anhang\nMessage-ID: <att@m.example>\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain; charset=utf-8\n\nSiehe Anhang.\n--b1\n"
    )
    tail = "\n--b1--\n"
    return (
        head.replace("\n", "\r\n").encode()
        + part_headers.strip().replace("\n", "\r\n").encode("utf-8")
        + b"\r\n\r\n"
        + body
        + tail.replace("\n", "\r\n").encode()
    )


def only_file(raw: bytes) -> tuple[str, str]:
    [file] = parse_message(raw).attachments
    return file.name, file.content_type


# -- names ----------------------------------------------------------------------------


def test_rfc2231_name_with_charset_and_continuations_is_decoded() -> None:
    raw = with_part(
        "Content-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment;\n"
        " filename*0*=iso-8859-1''Pr%FCfbericht%20;\n"
        " filename*1*=M%E4rz.pdf"
    )
    assert only_file(raw) == ("Prüfbericht März.pdf", "application/pdf")


def test_rfc2231_utf8_name_is_decoded() -> None:
    raw = with_part(
        "Content-Type: image/png\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename*=utf-8''Bildschirmfoto%20%C3%BCber.png"
    )
    assert only_file(raw) == ("Bildschirmfoto über.png", "image/png")


def test_encoded_word_names_are_decoded_in_disposition_and_content_type() -> None:
    # Outlook and Thunderbird write RFC 2047 words inside the quotes (against the RFC).
    b_word = "=?UTF-8?B?" + base64.b64encode("Angebot Drucker für Büro.pdf".encode()).decode()
    raw = with_part(
        f'Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n'
        f'Content-Disposition: attachment; filename="{b_word}?="'
    )
    assert only_file(raw)[0] == "Angebot Drucker für Büro.pdf"
    raw = with_part(
        'Content-Type: application/pdf; name="=?iso-8859-1?Q?Pr=FCfung_Server.pdf?="\n'
        "Content-Transfer-Encoding: base64"
    )
    assert only_file(raw)[0] == "Prüfung Server.pdf"


def test_raw_utf8_name_is_decoded() -> None:
    raw = with_part(
        'Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n'
        'Content-Disposition: attachment; filename="Kostenübersicht.pdf"'
    )
    assert only_file(raw)[0] == "Kostenübersicht.pdf"


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\System32\\evil.dll", "evil.dll"),
        ("C:\\Users\\anna\\Desktop\\Rechnung.pdf", "Rechnung.pdf"),
        ("..", "attachment-1.pdf"),
        (".bashrc", "bashrc"),
        ("Bericht.pdf\r\nBcc: x@y.example", "Bericht.pdf Bcc_ x@y.example"),
        ("Bericht.pdf\r\nContent-Type: text/html", "html"),
        ("Rech\x00nung\x1b[31m.pdf", "Rechnung[31m.pdf"),
        ("rechnung\u202efdp.exe", "rechnungfdp.exe"),
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ('a<b>c:d"e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        ("x.exe. . ", "x.exe"),
        ("CON.pdf", "_CON.pdf"),
        ("", "attachment-1.pdf"),
        ("   ", "attachment-1.pdf"),
    ],
)
def test_names_lose_paths_controls_and_tricks(given_name: str, expected: str) -> None:
    assert safe_name(given_name, "application/pdf", 1) == expected


def test_an_encoded_cr_lf_and_path_never_reach_the_name() -> None:
    raw = with_part(
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fx%0D%0ABcc%3A%20a%40b.pdf"
    )
    name, _ = only_file(raw)
    assert name == "x Bcc_ a@b.pdf"
    assert "\r" not in name and "\n" not in name and "/" not in name


def test_a_long_name_keeps_its_extension() -> None:
    name = safe_name("Protokoll " * 40 + ".docx", "application/octet-stream", 1)
    assert len(name) <= 120 and name.endswith(".docx") and name.startswith("Protokoll")


def test_a_part_without_name_is_named_by_its_position_and_type() -> None:
    raw = with_part("Content-Type: image/png\nContent-Transfer-Encoding: base64")
    assert only_file(raw) == ("attachment-1.png", "image/png")


@pytest.mark.parametrize(
    "declared", ['image/png"; x=<script>', 'ima<ge>/p"ng', "image/p\u00e4ng"]
)
def test_a_nonsense_content_type_becomes_octet_stream(declared: str) -> None:
    raw = with_part(
        f"Content-Type: {declared}\nContent-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="a.png"'
    )
    assert only_file(raw) == ("a.png", "application/octet-stream")


# -- programs and scripts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ctype", "head", "why"),
    [
        ("rechnung.pdf.exe", "application/pdf", b"", "name ends in .exe"),
        ("Setup.MSI", "application/octet-stream", b"", "name ends in .msi"),
        ("fix.ps1", "text/plain", b"", "name ends in .ps1"),
        ("tool.jar", "application/zip", b"", "name ends in .jar"),
        ("run.sh", "text/plain", b"", "name ends in .sh"),
        ("macro.vbs", "text/plain", b"", "name ends in .vbs"),
        ("update.js", "text/plain", b"", "name ends in .js"),
        ("scan.pdf", "application/x-msdownload", b"", "type application/x-msdownload"),
        ("scan.pdf", "application/pdf", b"MZ\x90\x00", "content is a Windows program"),
        ("daten.txt", "text/plain", b"#!/bin/sh\nrm -rf /", "content is a script"),
        ("firmware.bin", "application/octet-stream", b"\x7fELF\x02", "content is a ELF program"),
    ],
)
def test_programs_are_recognised_by_name_type_or_content(
    name: str, ctype: str, head: bytes, why: str
) -> None:
    assert risk_of(name, ctype, head) == why


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("Rechnung.pdf", "application/pdf"),
        ("angebot-amazon.com.pdf", "application/pdf"),
        ("screenshot.png", "image/png"),
        ("log.txt", "text/plain"),
        ("Tabelle.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_documents_are_no_programs(name: str, ctype: str) -> None:
    assert risk_of(name, ctype, b"%PDF-1.7") == ""


def test_a_disguised_program_in_a_mail_is_found_by_its_content() -> None:
    body = base64.encodebytes(b"MZ" + b"\x00" * 200).replace(b"\n", b"\r\n")
    raw = with_part(
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="Rechnung.pdf"',
        body,
    )
    [file] = parse_message(raw).attachments
    assert file.risk == "content is a Windows program"


# -- content ------------------------------------------------------------------------------


def reference(raw: bytes) -> list[bytes]:
    """What the stdlib decodes for every attachment of ``raw``."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return [bytes(part.get_content()) for part in msg.iter_attachments()]


def big_mail(*contents: bytes, linesep: str = "\r\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "b.lange@mueller-steuerberatung.example"
    msg["Subject"] = "Dateien"
    msg.set_content("Anbei.")
    for index, content in enumerate(contents):
        msg.add_attachment(content, maintype="application", subtype="pdf",
                           filename=f"datei-{index}.pdf")
    return msg.as_bytes(policy=policy.default.clone(linesep=linesep))


@pytest.mark.parametrize("linesep", ["\r\n", "\n"])
def test_large_content_is_decoded_exactly_in_chunks(linesep: str) -> None:
    contents = (os.urandom(3 * CHUNK + 12345), os.urandom(70_000), b"")
    raw = big_mail(*contents, linesep=linesep)
    assert cut_runs(raw)[1].spans, "the long bodies were cut out"
    files = parse_message(raw).attachments
    assert [b"".join(f.chunks()) for f in files] == list(contents) == reference(raw)
    assert all(len(c) <= CHUNK for f in files for c in f.chunks())
    assert files[0].digest.sha256 == hashlib.sha256(contents[0]).hexdigest()
    assert files[0].digest.size == len(contents[0])


@settings(max_examples=60, deadline=None)
@given(
    content=st.binary(max_size=3000),
    width=st.sampled_from([4, 60, 76, 77, 200]),
    junk=st.sampled_from([b"", b" ", b"\t", b"!"]),
)
def test_chunked_base64_agrees_with_the_stdlib(content: bytes, width: int, junk: bytes) -> None:
    encoded = base64.b64encode(content)
    lines = b"\r\n".join(encoded[i : i + width] + junk for i in range(0, len(encoded), width))
    raw = with_part(
        "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="x.bin"',
        lines,
    )
    [file] = parse_message(raw).attachments
    assert b"".join(file.chunks()) == content == reference(raw)[0]


def test_quoted_printable_and_8bit_files_are_decoded() -> None:
    raw = with_part(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n"
        'Content-Disposition: attachment; filename="log.txt"',
        b"Fehler =C3=BCberall=\r\n weiter",
    )
    [file] = parse_message(raw).attachments
    assert b"".join(file.chunks()) == "Fehler überall weiter".encode()
    raw = with_part(
        "Content-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n"
        'Content-Disposition: attachment; filename="raw.bin"',
        b"\xff\xfe\x00bytes",
    )
    [file] = parse_message(raw).attachments
    assert b"".join(file.chunks()) == b"\xff\xfe\x00bytes"


def test_a_large_mail_is_parsed_without_copies_of_its_attachment() -> None:
    content = os.urandom(8 * 1024 * 1024)
    raw = big_mail(content)
    assert len(raw) > 11_000_000
    tracemalloc.start()
    try:
        parsed = parse_message(raw, ParseLimits(max_bytes=len(raw) + 1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The stdlib alone held several times the mail while parsing it; now the header
    # scan's window (1 MiB, lower-cased) is the largest thing held.
    assert peak < 3 * 1024 * 1024, f"parsing took {peak} bytes for a {len(raw)}-byte mail"
    [file] = parsed.attachments
    assert file.digest.sha256 == hashlib.sha256(content).hexdigest()


def test_a_text_body_that_looks_like_base64_is_read_whole() -> None:
    line = "A" * 76
    body = "\r\n".join([line] * 2000)  # 156 KB of one "word" per line
    raw = (
        "From: a@b.example\r\nSubject: dump\r\nContent-Type: text/plain\r\n\r\nAnfang\r\n"
        + body + "\r\nEnde\r\n" + "x" * MIN_MAIL
    ).encode()
    assert cut_runs(raw)[1].spans
    text = parse_message(raw).text
    assert text.count(line) == 2000 and text.startswith("Anfang") and "Ende" in text


def test_a_marker_written_by_the_sender_names_nothing() -> None:
    forged = "MAILBOTCUT" + "0" * 16 + "000000"
    raw = with_part(
        "Content-Type: application/octet-stream\nContent-Transfer-Encoding: 7bit\n"
        'Content-Disposition: attachment; filename="x.txt"',
        (forged + "\r\n").encode() + b"y" * MIN_MAIL,
    )
    [file] = parse_message(raw).attachments
    assert b"".join(file.chunks()).startswith(forged.encode())
