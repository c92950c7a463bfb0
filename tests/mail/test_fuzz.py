"""Fuzzing: mutated real mail through parse -> judge -> acknowledgement, never a crash.

Seeds are the Zammad corpus (when ``shared/`` is beside the repo) and the project's
own example and evaluation mails. Mutations: byte flips, duplicated header lines,
truncation, other or bogus charsets, broken boundaries, and hostile insertions
(encoded line breaks, markup). The only allowed failure is :class:`ParseError`.
What is rendered must keep one recipient, no injected header and escaped HTML.

CI runs ``MAILBOT_FUZZ_EXAMPLES`` (default 200) cases; set it higher for a long session.
"""

from __future__ import annotations

import email
import os
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.config import Config
from mailbot.errors import ParseError
from mailbot.judge import Judge, Judgement
from mailbot.mail import headers as hdr
from mailbot.mail.parse import parse_message
from mailbot.outbound.mime import compose
from mailbot.outbound.render import AckView, Renderer, hours_lines
from mailbot.sla import plan
from tests.helpers import shared_classifier, write_config

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "zammad" / "test" / "data" / "mail"
EXAMPLES = int(os.environ.get("MAILBOT_FUZZ_EXAMPLES", "200"))

_CHARSETS = ("utf-8", "iso-8859-1", "windows-1252", "gb2312", "iso-2022-jp", "utf-7",
             "utf-16", "x-unknown-42", "", '"', "ascii\x00", "koi8-r", "big5", "euc-kr")
_HOSTILE = (b"\r\n", b"\n\n", b"=?utf-8?q?a=0D=0ABcc:_evil@x?=", b"<script>alert(1)</script>",
            b"\x00", b"\r\nBcc: evil@example.net\r\n", b'"a@good.example" <b@evil.example>',
            b"=?utf-8?b?PHNjcmlwdD4=?=", b"\r\n--", b"boundary=", b"\xff\xfe")


@lru_cache(maxsize=1)
def seeds() -> tuple[bytes, ...]:
    paths = sorted(CORPUS.glob("*.box")) if CORPUS.is_dir() else []
    paths += sorted((ROOT / "examples").glob("*.eml"))
    paths += sorted((ROOT / "eval").glob("*/*.eml"))[:60]
    # Big ones only slow every case down; what they hold the small ones have too.
    return tuple(raw for raw in (p.read_bytes() for p in paths) if len(raw) < 100_000)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "dup", "cut", "charset", "boundary", "insert")))
        if op == "flip" and raw:
            for _ in range(draw(st.integers(1, 8))):
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        elif op == "dup":
            lines = bytes(raw).split(b"\n")
            end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
            if end:
                i = draw(st.integers(0, end - 1))
                lines[i:i] = [lines[i]] * draw(st.integers(1, 50))
                raw = bytearray(b"\n".join(lines))
        elif op == "cut" and raw:
            raw = raw[: draw(st.integers(0, len(raw)))]
        elif op == "charset":
            new = draw(st.sampled_from(_CHARSETS)).encode("latin-1")
            raw = bytearray(re.sub(rb"(?i)charset=\"?[\w.:-]*\"?",
                                   lambda _m, c=new: b"charset=" + c, bytes(raw)))
        elif op == "boundary":
            new = draw(st.binary(max_size=12)).replace(b"\n", b"")
            # A function, not a template: the random bytes may hold backslashes.
            raw = bytearray(re.sub(rb"(?i)boundary=\"?[^\";\r\n]*\"?",
                                   lambda _m, b=new: b'boundary="' + b + b'"',
                                   bytes(raw), count=draw(st.integers(0, 3))))
        elif op == "insert":
            at = draw(st.integers(0, len(raw)))
            raw[at:at] = draw(st.sampled_from(_HOSTILE))
    return bytes(raw)


@lru_cache(maxsize=1)
def machinery(folder: str) -> tuple[Config, Judge, Renderer]:
    config = write_config(Path(folder))
    return config, Judge(config, shared_classifier()), Renderer()


def acknowledge(config: Config, judge: Judge, renderer: Renderer, j: Judgement) -> bytes:
    """What process._acknowledge builds, without the store around it."""
    c = j.classification
    number = 1042
    subject = hdr.clean(j.mail.subject, 250)
    p = plan(j.sent_at, c.priority, j.contract, c.urgency, c.deadline, c.planned_change,
             judge.calendar)
    lang = c.language.value
    view = AckView(
        language=lang, number=number, subject=subject,
        customer_name=hdr.clean(j.mail.from_name, 80), contract=j.contract,
        priority=c.priority.value, urgency=c.urgency.value, reasons=c.reasons,
        due_at=p.due_at.astimezone(judge.calendar.zone), clock_starts=None,
        on_call_now=p.on_call_now, scheduled_for=p.scheduled_for, deadline=c.deadline,
        adjustments=p.adjustments, service_hours=hours_lines(config.sla.hours, lang),
        extended_hours=hours_lines(config.sla.extended_hours, lang),
        hotline=config.service.hotline, service_name=config.service.name,
    )
    body = renderer.render("ack", lang, view=view, customer_name=view.customer_name,
                           title=f"[#{number}] {subject}")
    raw = compose(
        from_header=config.service.from_header, to=[j.mail.from_addr or "x@example.org"],
        subject=hdr.tagged_subject(number, j.mail.subject or subject), body=body,
        message_id="<fuzz@itservice.example>", in_reply_to=j.mail.message_id,
        references=j.mail.references, now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    )
    return raw


_EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "in-reply-to",
                     "references", "auto-submitted", "x-auto-response-suppress",
                     "mime-version", "content-type"}


def check_outgoing(raw: bytes, recipient: str) -> None:
    back = email.message_from_bytes(raw, policy=policy.default)
    names = {k.lower() for k in back}
    assert names <= _EXPECTED_HEADERS, names - _EXPECTED_HEADERS
    assert len(back.get_all("To") or []) == 1
    to = back["To"].addresses
    assert [a.addr_spec.lower() for a in to] == [recipient]
    head = raw.split(b"\r\n\r\n", 1)[0]
    # Every header line is a header or its continuation: nothing smuggled in.
    for line in head.split(b"\r\n"):
        assert line[:1] in (b" ", b"\t") or re.match(rb"^[A-Za-z-]+: ", line), line
    assert isinstance(back, EmailMessage)
    html = back.get_body(("html",))
    assert html is not None
    assert "<script" not in str(html.get_content()).lower()


@pytest.mark.skipif(not seeds(), reason="no seed mail found")
@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=mutated())
def test_mutated_mail_never_crashes_the_pipeline(tmp_path_factory: pytest.TempPathFactory,
                                                 raw: bytes) -> None:
    config, judge, renderer = machinery(str(tmp_path_factory.getbasetemp()))
    try:
        mail = parse_message(raw)
    except ParseError:
        return
    j = judge.judge(mail, arrival=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    msg = acknowledge(config, judge, renderer, j)
    check_outgoing(msg, mail.from_addr or "x@example.org")
