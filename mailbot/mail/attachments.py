"""attachments: the files a mail carries, named safely, judged for risk, decoded in chunks.

A file's name comes from the sender and ends up in our announcements, in the mail we
relay and in the path a technician writes it to, so it is decoded (RFC 2231, RFC 2047
words, raw 8-bit bytes) and then reduced to a plain file name: no directories, no
control or invisible formatting characters (a right-to-left override, U+202E, after
"rechnung" in "rechnung<U+202E>fdp.exe" shows it as "rechnungexe.pdf"), no characters
Windows refuses.

Executables and scripts are recognised by the declared type, by the name's extension
(the last one counts, as it does for Windows: "rechnung.pdf.exe") and by the first
bytes of the content (a Windows or ELF program, a "#!" script), whatever the rest says.
"""

from __future__ import annotations

import binascii
import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property

from mailbot.mail.charsets import decode_header_text
from mailbot.mail.cutout import Cut, raw_payload

#: decoded bytes per chunk: what a reader of an attachment holds at a time
CHUNK = 1024 * 1024
#: the longest name kept, in characters
MAX_NAME = 120
_MAX_EXTENSION = 16

#: extensions Windows, macOS or a Unix shell runs, or that install or script something
RISKY_EXTENSIONS = frozenset(
    {
        "exe", "com", "bat", "cmd", "ps1", "psm1", "psd1", "ps1xml", "psc1", "vbs", "vbe",
        "js", "jse", "wsf", "wsh", "wsc", "ws", "jar", "jnlp", "msi", "msp", "mst", "msix",
        "msixbundle", "appx", "appxbundle", "scr", "pif", "cpl", "hta", "lnk", "inf", "reg",
        "scf", "gadget", "application", "appref-ms", "msc", "dll", "ocx", "sys", "drv",
        "vb", "vba", "sh", "bash", "zsh", "ksh", "csh", "command", "run", "py", "pyw",
        "pl", "rb", "apk", "app", "deb", "rpm", "elf", "url", "library-ms", "settingcontent-ms",
    }
)
#: content types of programs and scripts (lower case, without parameters)
RISKY_TYPES = frozenset(
    {
        "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
        "application/x-ms-dos-executable", "application/x-executable", "application/x-winexe",
        "application/vnd.microsoft.portable-executable", "application/x-ms-installer",
        "application/x-msi", "application/x-sh", "application/x-shellscript",
        "text/x-shellscript", "text/x-sh", "application/x-csh", "application/x-bat",
        "application/bat", "application/x-javascript", "application/javascript",
        "text/javascript", "application/ecmascript", "text/ecmascript",
        "application/x-vbscript", "text/vbscript", "application/x-powershell",
        "application/java-archive", "application/x-java-archive",
        "application/x-java-jnlp-file", "application/hta", "application/x-ms-shortcut",
        "application/x-elf", "application/x-mach-binary", "application/x-python",
        "text/x-python", "application/x-perl", "text/x-perl",
        "application/vnd.android.package-archive",
    }
)
#: the first bytes of programs (a Windows or DOS program, ELF, Mach-O) and of scripts
_MAGIC = (
    (b"MZ", "Windows program"),
    (b"\x7fELF", "ELF program"),
    (b"\xcf\xfa\xed\xfe", "macOS program"),
    (b"\xce\xfa\xed\xfe", "macOS program"),
    (b"#!", "script"),
)
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
#: characters Windows refuses in a file name (the path separators are split on earlier)
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_DEVICE_NAMES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_NOT_BASE64 = bytes(b for b in range(256) if not re.match(rb"[A-Za-z0-9+/=]", bytes([b])))


@dataclass(frozen=True)
class Digest:
    """What a full read of the content finds: its SHA-256, its size, its first bytes."""

    sha256: str
    size: int
    head: bytes


@dataclass(frozen=True)
class Attachment:
    """One file of a mail. The content is read only when asked for (:meth:`chunks`)."""

    #: safe to show and to use as a file name; never empty
    name: str
    #: the declared type, lower case; application/octet-stream when it is no type
    content_type: str
    #: shown in the text (a pasted screenshot, a logo), not offered as a file
    inline: bool
    #: the Content-Transfer-Encoding, lower case
    encoding: str
    #: the encoded body: text, and spans of ``source`` the parser never saw
    pieces: tuple[str | tuple[int, int], ...] = field(repr=False, compare=False)
    source: bytes = field(default=b"", repr=False, compare=False)

    @property
    def encoded_size(self) -> int:
        return sum(len(p) if isinstance(p, str) else p[1] - p[0] for p in self.pieces)

    def chunks(self) -> Iterator[bytes]:
        """The decoded content, at most :data:`CHUNK` bytes at a time."""
        if self.encoding == "base64":
            yield from _base64_chunks(self._encoded())
            return
        # Quoted-printable and plain bodies of that size are rare: decoded whole, with
        # the stdlib's own rules.
        whole = Message()
        whole["Content-Transfer-Encoding"] = self.encoding or "7bit"
        whole.set_payload(b"".join(self._encoded()).decode("ascii", "surrogateescape"))
        data = whole.get_payload(decode=True)
        content = data if isinstance(data, bytes) else b""
        for start in range(0, len(content), CHUNK):
            yield content[start : start + CHUNK]

    @cached_property
    def digest(self) -> Digest:
        sha, size, head = hashlib.sha256(), 0, b""
        for chunk in self.chunks():
            sha.update(chunk)
            size += len(chunk)
            if len(head) < 64:
                head += chunk[: 64 - len(head)]
        return Digest(sha.hexdigest(), size, head)

    @property
    def risk(self) -> str:
        """Why this is a program or script ("" when it is none)."""
        return risk_of(self.name, self.content_type, self.digest.head)

    def _encoded(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, str):
                yield piece.encode("ascii", "surrogateescape")
                continue
            view = memoryview(self.source)
            for start in range(piece[0], piece[1], CHUNK):
                yield bytes(view[start : min(start + CHUNK, piece[1])])


def _base64_chunks(encoded: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 decoded in pieces: only whole groups of four characters are decoded at a
    time, whatever line breaks or junk fall between them (the lenient reading mail
    programs apply)."""
    carry = b""
    out = bytearray()
    for piece in encoded:
        data = carry + piece.translate(None, _NOT_BASE64)
        whole = len(data) - len(data) % 4
        carry = data[whole:]
        if whole:
            out += _decode_group(data[:whole])
        while len(out) >= CHUNK:
            yield bytes(out[:CHUNK])
            del out[:CHUNK]
    if carry.strip(b"="):
        out += _decode_group(carry + b"=" * (-len(carry) % 4))
    if out:
        yield bytes(out)


def _decode_group(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""  # a broken group (a lone character): the lenient readers drop it too


def risk_of(name: str, content_type: str, head: bytes = b"") -> str:
    """Why a file with this name, type and first bytes is a program or script, or ""."""
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension in RISKY_EXTENSIONS:
        return f"name ends in .{extension}"
    if content_type in RISKY_TYPES:
        return f"type {content_type}"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"content is a {what}"
    return ""


def content_type_of(part: Message) -> str:
    """The part's declared type if it is one (``type/subtype``), else octet-stream."""
    declared = part.get_content_type().lower()
    return declared if _CONTENT_TYPE.match(declared) else "application/octet-stream"


def attachment_of(part: Message, position: int, cut: Cut, defects: list[str]) -> Attachment:
    """The part at ``position`` (1 for the first file of the mail) as an :class:`Attachment`."""
    content_type = content_type_of(part)
    raw_name = ""
    try:
        raw_name = _filename(part)
    except Exception:  # a hostile parameter the stdlib cannot even split
        defects.append("bad attachment name")
    encoding = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
    return Attachment(
        name=safe_name(decode_header_text(raw_name) if raw_name else "", content_type, position),
        content_type=content_type,
        inline=(part.get_content_disposition() or "").lower() != "attachment",
        encoding=encoding,
        pieces=cut.pieces(raw_payload(part)),
        source=cut.source,
    )


def _filename(part: Message) -> str:
    """The name the part gives itself (RFC 2231 decoded by the stdlib)."""
    name = part.get_filename() or ""
    if "\ufffd" not in name:
        return name
    # Raw 8-bit bytes in the header, which the stdlib turns into U+FFFD: read the
    # headers again with the charsets mail uses (UTF-8, then Windows-1252).
    decoded = Message()
    for key, value in part.raw_items():
        if key.lower() in ("content-disposition", "content-type"):
            decoded[key] = decode_header_text(str(value))
    return decoded.get_filename() or name


def safe_name(name: str, content_type: str, position: int) -> str:
    """``name`` as a plain file name; ``attachment-N.ext`` when nothing of it is left."""
    text = unicodedata.normalize("NFC", name)
    # Only the last part of a path: "../../etc/passwd" and "C:\\temp\\x.exe" alike.
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(_visible(ch) for ch in text)
    text = _WINDOWS_FORBIDDEN.sub("_", _SPACES.sub(" ", text))
    # Trailing dots and spaces Windows drops; leading dots hide a file (or make "..").
    stem, dot, extension = text.strip(" .").rpartition(".")
    if not dot:
        stem, extension = extension, ""
    stem = stem.lstrip(" .")
    if len(extension) > _MAX_EXTENSION or " " in extension:
        stem, extension = f"{stem}.{extension}" if stem else extension, ""
    if _DEVICE_NAMES.match(stem):
        stem = "_" + stem
    room = MAX_NAME - (len(extension) + 1 if extension else 0)
    stem = stem[:room].rstrip(" .")
    if not stem:
        guessed = f".{extension}" if extension else mimetypes.guess_extension(content_type)
        return f"attachment-{position}{guessed or '.bin'}"
    return f"{stem}.{extension}" if extension else stem


def _visible(ch: str) -> str:
    """A character as a file name may keep it: whitespace becomes a space; controls,
    invisible formatting, private-use and unassigned characters go."""
    category = unicodedata.category(ch)
    if ch.isspace() or category in ("Zl", "Zp"):
        return " "
    if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return ""
    return ch
