"""charsets: bytes and header values into text, whatever the mail claims its charset is.

Every decode falls back along a chain (the declared charset, the charsets the mail
declares elsewhere, UTF-8, Windows-1252 with replacement), so a mislabelled mail is
read as well as it can be rather than refused.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from email.message import Message

#: Labels real mail uses for encodings Python knows under a wider or other name. GB2312
#: mail is nearly always GBK/GB18030 in fact; ISO-2022-JP often carries JIS X 0212.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-gb2312": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cn-gb": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "unicode-1-1-utf-7": "utf-7",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-874": "cp874",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_CHARSET_PARAM = re.compile(rb"charset\s*=\s*\"?([A-Za-z0-9_.:+-]{1,40})", re.IGNORECASE)
_SINGLE_BYTE = re.compile(r"^(iso-?8859|latin|windows-12|cp12|koi8|us-ascii|ascii)")
_FOLD = re.compile(r"\r?\n[ \t]*")
#: controls no kept header value may carry; tab and line feed are unfolding's business
_HEADER_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
#: lone surrogates: how the stdlib keeps undecodable bytes; no encoder will write them
SURROGATE = re.compile("[\ud800-\udfff]")


def unfold(value: str) -> str:
    """A folded header value on one line, each fold one space."""
    return _FOLD.sub(" ", value)


def printable(value: str) -> str:
    """``value`` safe to keep and to write again: controls removed, undecodable bytes
    (lone surrogates) shown as U+FFFD."""
    return SURROGATE.sub("\ufffd", _HEADER_CONTROL.sub("", value))


def _charset(label: str) -> str:
    label = label.strip().strip('"').lower()
    return _CHARSET_ALIASES.get(label, label)


def decode_bytes(data: bytes, charsets: tuple[str, ...]) -> str:
    """``data`` in the first of ``charsets`` (then UTF-8, then Windows-1252) that fits."""
    for label in (*charsets, "utf-8"):
        charset = _charset(label) if label else ""
        if not charset:
            continue
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            if charset.startswith("iso2022") and data.isascii():
                # 7-bit escapes that UTF-8 would "decode" as noise; vendor extensions
                # (NEC's circled digits) are the usual cause: keep the rest readable.
                return data.decode(charset, errors="replace")
            continue
        except (LookupError, ValueError):  # unknown, or not a name at all ("ascii\0")
            continue
    return data.decode("cp1252", errors="replace")


def declared_charsets(raw: bytes) -> tuple[str, ...]:
    """Charsets to try on raw 8-bit header bytes: UTF-8, then what the parts declare.

    Multi-byte charsets come before single-byte ones, which accept any byte and would
    turn a GB2312 subject into Latin-1 noise; a Japanese label brings its siblings,
    since mail labelled ISO-2022-JP often carries Shift_JIS in its headers.
    """
    found = [m.decode("ascii", "replace").lower() for m in _CHARSET_PARAM.findall(raw[: 1 << 20])]
    labels = [c for c in dict.fromkeys(found) if c not in ("us-ascii", "ascii")][:5]
    extra = [j for c in labels if "jp" in c or "jis" in c for j in ("cp932", "euc_jp")]
    single = [c for c in labels if _SINGLE_BYTE.match(c)]
    multi = [c for c in labels if c not in single]
    return tuple(dict.fromkeys(["utf-8", *multi, *extra, *single]))


def _word_bytes(kind: str, word: str) -> bytes:
    """The bytes of one encoded word's text (``kind`` B or Q); raises on a broken one."""
    if kind in "bB":
        return base64.b64decode(word + "=" * (-len(word) % 4))
    return quopri.decodestring(word.replace("_", " ").encode("ascii"), header=True)


def decode_header_text(source: str, fallbacks: tuple[str, ...] = ()) -> str:
    """An unfolded header value with RFC 2047 words and raw 8-bit bytes decoded leniently.

    ``source`` is the value as the parser read it (8-bit bytes kept as surrogate
    escapes). Adjacent encoded words of one charset are joined before decoding: senders
    split multi-byte characters across them.
    """
    text = unfold(source)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(b"".join(pending), (pending_charset, *fallbacks)))
        pending, pending_charset = [], ""

    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if between.strip() or not pending:
            flush()
            out.append(decode_bytes(between.encode("utf-8", "surrogateescape"), fallbacks))
        charset = match.group(1).split("*", 1)[0]
        position = match.end()
        try:
            data = _word_bytes(match.group(2), match.group(3))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            flush()
            out.append(match.group(0))
            continue
        if pending and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending.append(data)
    flush()
    out.append(decode_bytes(text[position:].encode("utf-8", "surrogateescape"), fallbacks))
    return "".join(out)


def decode_part(part: Message) -> str:
    """A text part's content as str, whatever its declared charset claims."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return str(payload)
    try:
        declared = part.get_content_charset() or ""
    except Exception:  # a charset parameter the stdlib cannot even read
        declared = ""
    # Mislabelled Western European mail is nearly always Windows-1252: the last resort.
    return decode_bytes(payload, (declared,))
