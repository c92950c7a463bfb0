"""Header values from customer text cannot inject headers or recipients."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailbot.mail.headers import clean, tagged_subject


def test_crlf_and_controls_removed() -> None:
    assert clean("Drucker\r\nBcc: evil@x.example") == "Drucker Bcc: evil@x.example"
    assert clean("a\x00b\x1bc\u2028d") == "a b c d"


def test_tag_not_repeated() -> None:
    assert tagged_subject(1042, "AW: [#1042] Drucker") == "[#1042] AW: Drucker"


@given(st.text())
def test_clean_never_has_line_breaks(value: str) -> None:
    result = clean(value)
    assert "\n" not in result and "\r" not in result
    assert len(result) <= 200


def test_reply_prefixes_are_understood() -> None:
    from mailbot.process.threads import is_forward, strip_prefixes

    assert strip_prefixes("AW: WG: Antw: RE: [#1042] Drucker") == "Drucker"
    assert strip_prefixes("Fwd: FW: Server") == "Server"
    assert is_forward("WG: Server weg") and is_forward("Fwd: x")
    assert not is_forward("AW: Server weg")
