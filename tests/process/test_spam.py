"""Spam on the store: held with the header that decided, never answered, never work;
released by the command line or by a technician's reply to the daily notice, and then
a ticket acknowledged once."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from mailbot.kinds import OutcomeStatus
from mailbot.service.runtime import Runtime
from mailbot.store import Inbound
from tests.helpers import (
    BERLIN,
    STORE_BACKENDS,
    Clock,
    RuntimeFactory,
    Sent,
    events,
    make_mail,
    outbox,
    tickets,
)

MX = "mx.itservice.example"
SPAM_CONFIG = f'\n[spam]\nmx = "{MX}"\nnotice_at = "16:00"\n'
OUR_RECEIVED = (
    f"Received: from mail.rank-boost.example (mail.rank-boost.example [203.0.113.50])\n"
    f"\tby {MX} (Postfix) with ESMTP id 4Qx7Lk2Zb9z9sWx; Tue, 24 Nov 2026 09:30:05 +0100\n"
)
#: a technician's reply our server vouches for
OUR_AUTH = f"{MX}; dkim=pass header.d=itservice.example"
STRANGER = "Jana Wolff <offers@rank-boost.example>"


@pytest.fixture(params=STORE_BACKENDS)
def desk(request: pytest.FixtureRequest, runtime: RuntimeFactory, clock: Clock) -> Runtime:
    return runtime(store=request.param, extra=SPAM_CONFIG, clock=clock)


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.processor.process_pending(now=rt.clock)


def delivered(above: list[str], raw: bytes, below: tuple[str, ...] = ()) -> bytes:
    """``raw`` as our MX delivers it: ``above`` written by our server over its Received
    line, ``below`` as the mail brought them."""
    ours = "".join(f"{h}\n" for h in above)
    theirs = "".join(f"{h}\n" for h in below)
    return (ours + OUR_RECEIVED + theirs).encode() + raw


def seo(n: int = 1, sender: str = STRANGER) -> bytes:
    return make_mail(
        sender, f"Ihre Website ist bei Google unsichtbar ({n})",
        "Wir bringen Sie in 30 Tagen auf Seite 1, garantiert. Antworten Sie mit JA.",
        msgid=f"<seo{n}@rank-boost.example>",
    )


VERDICTS = [
    "X-Spam-Flag: YES",
    "X-Spam-Status: Yes, score=9.1 required=5.0 tests=BAYES_99",
    "X-Spamd-Result: default: False [8.10 / 15.00]; BAYES_SPAM(5.10)[99.87%]",
    "X-Rspamd-Action: add header",
    "X-MS-Exchange-Organization-SCL: 6",
    "X-Forefront-Antispam-Report: CIP:203.0.113.50;SCL:5;SFV:SPM;",
    f"Authentication-Results: {MX}; dmarc=fail (p=reject) header.from=rank-boost.example",
]


@pytest.mark.parametrize("header", VERDICTS)
def test_spam_of_our_server_is_held_unanswered_and_no_work(desk: Runtime, header: str) -> None:
    feed(desk, delivered([header], seo()))
    with Session(desk.engine) as s:
        assert tickets(s) == [] and outbox(s) == []
        [row] = s.exec(select(Inbound)).all()
        assert row.disposition == "spam" and row.status == "processed"
        [held] = events(s, "spam")
        assert held.inbound_id == row.id and header.split(":")[0] in held.reasons
    assert desk.work_list(include_solved=True) == []
    [listed] = desk.spam()
    assert listed.sender == "offers@rank-boost.example" and listed.header.startswith(
        header.split(":")[0]
    )


@pytest.mark.parametrize("header", VERDICTS)
def test_the_same_headers_from_the_sender_give_a_normal_ticket(
    desk: Runtime, header: str
) -> None:
    customer = "Petra Hahn <p.hahn@praxis-weber.example>"
    raw = make_mail(customer, "Drucker", "Der Drucker am Empfang druckt nicht mehr.")
    if header.startswith("Authentication-Results"):
        header = header.replace("rank-boost.example", "praxis-weber.example")
    feed(desk, delivered([], raw, below=(header,)))
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        [ack] = outbox(s, "ack")
        assert ack.to == ["p.hahn@praxis-weber.example"]
        [ignored] = events(s, "spam_headers_ignored")
        assert ignored.ticket_id == ticket.id and header.split(":")[0] in ignored.reasons
        assert events(s, "spam") == []
    assert desk.spam() == []


def test_dmarc_fail_for_a_stranger_is_held_a_pass_is_answered(desk: Runtime) -> None:
    failed = f"Authentication-Results: {MX}; dmarc=fail (p=quarantine) header.from=bank.example"
    passed = f"Authentication-Results: {MX}; dkim=pass header.d=bank.example; dmarc=pass"
    sender = "Sicherheit <konto@bank.example>"
    forged = make_mail(sender, "Konto gesperrt", "Bitte bestätigen Sie Ihre Daten hier.",
                       msgid="<f1@bank.example>")
    real = make_mail(sender, "Frage zum Zahlungsverkehr", "Wie richten wir den Zugang ein?",
                     msgid="<r1@bank.example>")
    feed(desk, delivered([failed], forged), delivered([passed], real))
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.subject == "Frage zum Zahlungsverkehr"
        [ack] = outbox(s, "ack")
        assert ack.message["In-Reply-To"] == "<r1@bank.example>"
        [held] = events(s, "spam")
        assert held.actor == "dmarc" and "policy quarantine" in held.detail


def test_release_by_the_command_line_opens_a_ticket_acknowledged_once(
    desk: Runtime, clock: Clock
) -> None:
    feed(desk, delivered(["X-Spam-Flag: YES"], seo()))
    [held] = desk.spam()
    clock.now += timedelta(hours=3)
    outcome = desk.release_spam(held.id)
    assert outcome.status == OutcomeStatus.PROCESSED and outcome.ticket_number == 1001
    again = desk.release_spam(held.id)
    assert again.status == OutcomeStatus.SKIPPED and "not held as spam" in again.detail
    desk.processor.process_pending(now=desk.clock)
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        # Nobody saw it as work before the release: the clock counts from there.
        assert ticket.arrived_at == clock.now
        [ack] = outbox(s, "ack")
        assert ack.to == ["offers@rank-boost.example"]
        [released] = events(s, "spam_released")
        assert released.actor == "cli" and released.inbound_id == held.id
        [row] = s.exec(select(Inbound)).all()
        assert row.disposition == "released" and row.released_at == clock.now
    assert desk.spam() == [] and [r.id for r in desk.spam(include_released=True)] == [held.id]
    assert [r.number for r in desk.work_list()] == [1001]


def test_release_refuses_what_is_not_held(desk: Runtime) -> None:
    feed(desk, make_mail("p.hahn@praxis-weber.example", "Drucker", "Der Drucker geht nicht."))
    assert desk.release_spam(1).status == OutcomeStatus.SKIPPED
    assert desk.release_spam(999).detail == "no such mail"


def notice_of(desk: Runtime) -> list[Sent]:
    with Session(desk.engine) as s:
        return outbox(s, "spam_notice")


def test_the_daily_notice_lists_the_days_spam_once(desk: Runtime, clock: Clock) -> None:
    feed(desk, delivered(["X-Spam-Flag: YES"], seo(1)), delivered(["X-Spam-Flag: YES"], seo(2)))
    desk.drain()
    assert notice_of(desk) == []  # 09:35: not yet
    clock.now = datetime(2026, 11, 24, 16, 5, tzinfo=BERLIN)
    desk.drain()
    desk.drain()
    [notice] = notice_of(desk)
    assert notice.to == ["technik@itservice.example"]
    ids = [r.id for r in desk.spam()]
    assert all(f"ID {i} " in notice.text for i in ids)
    assert "#kein-spam" in notice.text and "offers@rank-boost.example" in notice.text
    # Generated for the staff, not an automatic answer (no reply caps count it).
    assert notice.message["Auto-Submitted"] == "auto-generated"
    # The next day lists only what came since.
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)
    feed(desk, delivered(["X-Spam-Flag: YES"], seo(3)))
    clock.now = datetime(2026, 11, 25, 16, 0, tzinfo=BERLIN)
    desk.drain()
    _, second = notice_of(desk)
    newest = max(r.id for r in desk.spam())
    assert f"ID {newest} " in second.text and f"ID {ids[0]} " not in second.text


def test_no_notice_on_a_day_without_spam(desk: Runtime, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 24, 17, 0, tzinfo=BERLIN)
    desk.drain()
    assert notice_of(desk) == []


def reply_to_notice(notice_id: str, text: str, auth: str = OUR_AUTH) -> bytes:
    return make_mail(
        "Anna Technik <anna@itservice.example>", "AW: Spam zurückgehalten: 2 Mails",
        f"{text}\n\nAnna",
        headers={"In-Reply-To": notice_id, "References": notice_id,
                 "Authentication-Results": auth},
    )


def test_kein_spam_in_a_reply_to_the_notice_releases_the_one_named(
    desk: Runtime, clock: Clock
) -> None:
    feed(desk, delivered(["X-Spam-Flag: YES"], seo(1)), delivered(["X-Spam-Flag: YES"], seo(2)))
    clock.now = datetime(2026, 11, 24, 16, 5, tzinfo=BERLIN)
    desk.drain()
    [notice] = notice_of(desk)
    first, second = (r.id for r in desk.spam())
    feed(desk, reply_to_notice(notice.message_id, f"Die erste ist echt.\n#kein-spam {first}"))
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.subject == "Ihre Website ist bei Google unsichtbar (1)"
        [ack] = outbox(s, "ack")
        assert ack.message["In-Reply-To"] == "<seo1@rank-boost.example>"
        [released] = events(s, "spam_released")
        assert released.actor == "anna@itservice.example" and released.inbound_id == first
        assert f"#kein-spam {first}" in released.reasons
    assert [r.id for r in desk.spam()] == [second]
    # The reply itself is no ticket, and a second run answers nobody twice.
    desk.processor.process_pending(now=desk.clock)
    with Session(desk.engine) as s:
        assert len(tickets(s)) == 1 and len(outbox(s, "ack")) == 1


def test_an_unverified_reply_to_the_notice_releases_nothing(
    desk: Runtime, clock: Clock
) -> None:
    feed(desk, delivered(["X-Spam-Flag: YES"], seo(1)))
    clock.now = datetime(2026, 11, 24, 16, 5, tzinfo=BERLIN)
    desk.drain()
    [notice] = notice_of(desk)
    [held] = desk.spam()
    forged = reply_to_notice(notice.message_id, f"#kein-spam {held.id}",
                             auth="mx.rank-boost.example; dkim=pass header.d=itservice.example")
    feed(desk, forged)
    with Session(desk.engine) as s:
        assert tickets(s) == [] and outbox(s, "ack") == []
        [unverified] = events(s, "staff_unverified")
        assert "nothing released" in unverified.detail
    assert [r.id for r in desk.spam()] == [held.id]


def test_a_notice_reply_naming_what_is_not_held_says_so(desk: Runtime, clock: Clock) -> None:
    feed(desk, delivered(["X-Spam-Flag: YES"], seo(1)))
    clock.now = datetime(2026, 11, 24, 16, 5, tzinfo=BERLIN)
    desk.drain()
    [notice] = notice_of(desk)
    feed(desk, reply_to_notice(notice.message_id, "#kein-spam 4711\n#kein-spam bitte"))
    with Session(desk.engine) as s:
        assert tickets(s) == []
        [unknown] = events(s, "commands_unknown")
        reasons = json.loads(unknown.reasons)
        assert any("4711 no such mail" in r for r in reasons)
        assert "#kein-spam bitte" in reasons


@pytest.mark.integration
def test_two_workers_on_one_store_send_one_notice_a_day(
    runtime: RuntimeFactory, clock: Clock
) -> None:
    first = runtime(store="postgresql", extra=SPAM_CONFIG, clock=clock)
    second = runtime(store="postgresql", extra=SPAM_CONFIG, clock=clock)
    feed(first, delivered(["X-Spam-Flag: YES"], seo(1)))
    clock.now = datetime(2026, 11, 24, 16, 5, tzinfo=BERLIN)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def drain(rt: Runtime) -> None:
        start.wait()
        try:
            rt.drain()
        except BaseException as exc:  # the test thread reports it below
            failures.append(exc)

    workers = [threading.Thread(target=drain, args=(rt,)) for rt in (first, second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []
    assert len(notice_of(first)) == 1
