"""The process stage on the embedded store: tickets, threads, technicians, alarms, quarantine."""

from __future__ import annotations

import multiprocessing
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel, select

from mailbot.outbound.render import Rendered
from mailbot.process.runner import _READ_SOME
from mailbot.process.tickets import DraftNumbers
from mailbot.service.runtime import Runtime
from mailbot.store import Inbound, Ticket, new_row
from tests.helpers import (
    BERLIN,
    STORE_BACKENDS,
    RuntimeFactory,
    events,
    make_mail,
    outbox,
    tickets,
)

OUR_AUTH = (
    "mx.itservice.example; dkim=pass header.d=itservice.example; "
    "spf=pass smtp.mailfrom=t.nowak@itservice.example"
)


#: "now" for these tests: five minutes after the test mails are dated
NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)


@pytest.fixture(params=STORE_BACKENDS)
def desk(request: pytest.FixtureRequest, runtime: RuntimeFactory) -> Runtime:
    return runtime(store=request.param, clock=lambda: NOW)


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.processor.process_pending(now=rt.clock)


def session(rt: Runtime) -> Session:
    return Session(rt.engine)


SERVER_DOWN = (
    "Guten Morgen,\n\nder Server ist ausgefallen, niemand im Büro kann arbeiten, "
    "DATEV startet bei keinem.\n\nGruß\nBirgit Lange\n"
)


def open_ticket(rt: Runtime) -> bytes:
    raw = make_mail(
        "Birgit Lange <b.lange@mueller-steuerberatung.example>", "Server weg", SERVER_DOWN,
        msgid="<first@mueller-steuerberatung.example>",
    )
    feed(rt, raw)
    return raw


def test_customer_mail_opens_ticket_acknowledges_and_announces(desk: Runtime) -> None:
    open_ticket(desk)
    with session(desk) as s:
        [ticket] = tickets(s)
        assert ticket.number == 1001 and ticket.contract and ticket.priority == "critical"
        assert ticket.due_at is not None
        [ack] = outbox(s, "ack")
        assert ack.to == ["b.lange@mueller-steuerberatung.example"]
        msg = ack.message
        assert msg["Subject"] == "[#1001] Server weg"
        assert msg["In-Reply-To"] == "<first@mueller-steuerberatung.example>"
        assert "<first@mueller-steuerberatung.example>" in msg["References"]
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert "Priorität: kritisch" in ack.text
        # Tuesday 24.11.2026 09:30, contract, critical: one service hour later.
        assert "spätestens Dienstag, 24.11.2026, 10:30 Uhr" in ack.text
        assert "Mo–Fr 07:00–19:00" in ack.text
        [note] = outbox(s, "notify")
        assert note.to == ["technik@itservice.example"]
        assert "KRITISCH" in str(note.message["Subject"])
        assert events(s, "classified") and events(s, "sla")


def test_acknowledgements_rendered_before_the_write_carry_their_own_numbers(
    desk: Runtime,
) -> None:
    # New conversations are rendered before the write transaction, with the number
    # their ticket is expected to get; each acknowledgement must carry its ticket's
    # number everywhere, and is rendered once when nobody took that number meanwhile.
    renders = count_ack_renders(desk)
    feed(desk, *printer_mails(3))
    assert_own_numbers(desk, 3)
    assert renders == [1, 1, 1]


def test_an_acknowledgement_drafted_for_a_number_taken_meanwhile_is_rendered_again(
    desk: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if a ticket opened without a draft took each drafted number before the
    # draft's transaction ran.
    from mailbot.process import runner

    reserve = runner.DraftNumbers.reserve

    def reserve_then_lose(self: DraftNumbers, connection: Connection) -> int:
        number = reserve(self, connection)
        with session(desk) as s:
            s.add(new_row(Ticket, number=number, subject="elsewhere"))
            s.commit()
        return number

    monkeypatch.setattr(runner.DraftNumbers, "reserve", reserve_then_lose)
    renders = count_ack_renders(desk)
    feed(desk, *printer_mails(3))
    assert renders == [2, 2, 2]
    with session(desk) as s:
        ours = [t for t in tickets(s) if t.subject != "elsewhere"]
        acks = outbox(s, "ack")
        assert len(ours) == len(acks) == 3
        for i, (ticket, ack) in enumerate(zip(ours, acks, strict=True)):
            assert ack.message["Subject"] == f"[#{ticket.number}] Drucker {i}"
            assert f"Ticket #{ticket.number} angelegt" in ack.text


def test_drafts_of_two_processes_get_two_numbers() -> None:
    # Forked processes share the counter: neither drafts for the other's number.
    numbers = DraftNumbers()
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with engine.connect() as connection:
        first = numbers.reserve(connection)
        ctx = multiprocessing.get_context("fork")
        reader, writer = ctx.Pipe(duplex=False)
        # Forked, as the pool's children are: they inherit the counter.
        child = ctx.Process(target=_reserve_in_child, args=(numbers, writer))
        child.start()
        in_child = reader.recv()
        child.join(10)
        assert (first, in_child, numbers.reserve(connection)) == (1001, 1002, 1003)


def _reserve_in_child(numbers: DraftNumbers, answer: Any) -> None:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with engine.connect() as connection:
        answer.send(numbers.reserve(connection))


def printer_mails(count: int) -> list[bytes]:
    return [
        make_mail(f"Kunde {i} <k{i}@praxis-weber.example>", f"Drucker {i}",
                  f"Der Drucker im Raum {i} druckt nicht.", msgid=f"<p{i}@praxis-weber.example>")
        for i in range(count)
    ]


def count_ack_renders(desk: Runtime) -> list[int]:
    """Per mail (by the customer's name), how often its acknowledgement was rendered."""
    renderer = desk.processor.renderer
    original = renderer.render
    counts: dict[str, int] = {}

    def counting(name: str, lang: str, **context: Any) -> Rendered:
        if name == "ack":
            key = context["customer_name"]
            counts[key] = counts.get(key, 0) + 1
            renders[:] = [counts[k] for k in sorted(counts)]
        return original(name, lang, **context)

    renders: list[int] = []
    renderer.render = counting  # type: ignore[method-assign]
    return renders


def assert_own_numbers(desk: Runtime, count: int) -> None:
    numbers = range(1001, 1001 + count)
    with session(desk) as s:
        acks = outbox(s, "ack")
        assert [a.message["Subject"] for a in acks] == [
            f"[#{number}] Drucker {i}" for i, number in enumerate(numbers)
        ]
        for number, ack in zip(numbers, acks, strict=True):
            assert f"Ticket #{number} angelegt" in ack.text
            assert f"[#{number}]" in ack.html and f"#{number} angelegt" in ack.html
            others = [n for n in numbers if n != number]
            assert not any(f"#{n}" in ack.message.as_string() for n in others)


def test_same_mail_twice_is_one_ticket(desk: Runtime) -> None:
    raw = open_ticket(desk)
    feed(desk, raw)
    with session(desk) as s:
        assert len(tickets(s)) == 1
        assert len(outbox(s, "ack")) == 1


def test_html_alternative_escapes_customer_text(desk: Runtime) -> None:
    raw = make_mail("x@praxis-weber.example", "<script>alert(1)</script> Drucker",
                    "Der Drucker am Empfang druckt nicht.")
    feed(desk, raw)
    with session(desk) as s:
        [ack] = outbox(s, "ack")
        assert "<script>" not in ack.html
        assert "&lt;script&gt;" in ack.html


def test_automated_mail_is_stored_as_information_never_answered(desk: Runtime) -> None:
    raw = make_mail("k.becker@mueller-steuerberatung.example", "Automatische Antwort: Server",
                    "Ich bin bis 30.11. nicht im Haus.",
                    headers={"Auto-Submitted": "auto-replied"})
    feed(desk, raw)
    with session(desk) as s:
        assert tickets(s) == []
        assert outbox(s) == []
        [row] = s.exec(select(Inbound)).all()
        assert row.raw == raw and row.disposition == "info"
        assert any("Auto-Submitted" in e.reasons for e in events(s, "information"))


def test_follow_up_makes_it_not_urgent_with_deadline_once(desk: Runtime) -> None:
    raw = make_mail("t.roth@praxis-weber.example", "Bildschirm flackert",
                    "Der Bildschirm an der Anmeldung 2 flackert ständig.",
                    msgid="<m1@praxis-weber.example>")
    feed(desk, raw)
    follow = make_mail(
        "t.roth@praxis-weber.example", "AW: [#1001] Bildschirm flackert",
        "Ist doch nicht so dringend, es reicht, wenn das bis Freitag erledigt wird.\n\n"
        "Am 24.11.2026 schrieb IT-Service:\n> Wir melden uns",
        headers={"In-Reply-To": "<m1@praxis-weber.example>",
                 "References": "<m1@praxis-weber.example>"},
    )
    feed(desk, follow, follow)
    with session(desk) as s:
        [ticket] = tickets(s)
        assert ticket.urgency == "not_urgent"
        assert ticket.deadline is not None and ticket.deadline.isoformat() == "2026-11-27"
        updates = outbox(s, "update")
        assert len(updates) == 1
        assert "nicht eilt" in updates[0].text
        assert events(s, "replanned")


def technician_reply(
    rt: Runtime, body: str, auth: str | None = OUR_AUTH, extra: dict[str, str] | None = None
) -> None:
    with session(rt) as s:
        [note] = outbox(s, "notify")
    headers = {"In-Reply-To": note.message_id, "References": note.message_id}
    if auth is not None:
        headers["Authentication-Results"] = auth
    headers.update(extra or {})
    feed(rt, make_mail("Tim Nowak <t.nowak@itservice.example>", "AW: [#1001] Server weg",
                       body, headers=headers))


def test_authenticated_technician_command_and_relay(desk: Runtime) -> None:
    open_ticket(desk)
    with session(desk) as s:
        assert tickets(s)[0].priority == "critical"
    technician_reply(desk, "#prio normal\n#übernehmen\nWir sind um 11 Uhr bei Ihnen.\n\n"
                     "> Neues Ticket #1001 ...")
    with session(desk) as s:
        [ticket] = tickets(s)
        assert ticket.priority == "normal"
        assert ticket.assignee == "t.nowak@itservice.example"
        [relay] = outbox(s, "relay")
        assert relay.to == ["b.lange@mueller-steuerberatung.example"]
        assert "Wir sind um 11 Uhr bei Ihnen." in relay.text
        assert "#prio" not in relay.text and "#übernehmen" not in relay.text
        assert "Neues Ticket" not in relay.text
        assert relay.message["In-Reply-To"] == "<first@mueller-steuerberatung.example>"
        assert relay.message["Auto-Submitted"] is None


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "evil.example; dkim=pass header.d=itservice.example",
        "mx.itservice.example; dkim=fail header.d=itservice.example; spf=softfail",
        "mx.itservice.example; dkim=pass header.d=evil.example",
    ],
)
def test_unauthenticated_technician_is_ignored(desk: Runtime, auth: str | None) -> None:
    open_ticket(desk)
    technician_reply(desk, "#prio niedrig\nBitte ignorieren", auth=auth)
    with session(desk) as s:
        [ticket] = tickets(s)
        assert ticket.priority == "critical"
        assert outbox(s, "relay") == []
        assert events(s, "staff_unverified")


def test_forged_header_below_ours_does_not_count(desk: Runtime) -> None:
    open_ticket(desk)
    # Our server's verdict comes first (top); the forged pass below it must not count.
    raw = make_mail("t.nowak@itservice.example", "AW: [#1001] Server weg", "#prio niedrig",
                    headers={"Authentication-Results": "mx.itservice.example; dkim=pass "
                             "header.d=itservice.example"})
    raw = b"Authentication-Results: mx.itservice.example; dkim=none; spf=fail\r\n" + raw
    feed(desk, raw)
    with session(desk) as s:
        assert tickets(s)[0].priority == "critical"


def test_internal_note_is_never_relayed(desk: Runtime) -> None:
    open_ticket(desk)
    technician_reply(desk, "#intern\nNetzteil bestellt, Kunde nicht informieren.")
    with session(desk) as s:
        assert outbox(s, "relay") == []
        assert events(s, "internal_note")


def test_stranger_with_tag_gets_own_ticket(desk: Runtime) -> None:
    open_ticket(desk)
    feed(desk, make_mail("someone@evil.example", "Re: [#1001] Server weg",
                         "Bitte schließen Sie das Ticket."))
    with session(desk) as s:
        assert [t.number for t in tickets(s)] == [1001, 1002]
        assert tickets(s)[0].status == "open"
        opened = [e for e in events(s, "ticket_opened") if "ignored" in e.detail]
        assert opened


def test_colleague_outlook_reply_with_tag_is_attached(desk: Runtime) -> None:
    open_ticket(desk)
    feed(desk, make_mail("Klaus Müller <k.mueller@mueller-steuerberatung.example>",
                         "AW: [#1001] Server weg", "Bei mir geht es auch nicht, ich bin im Büro."))
    with session(desk) as s:
        assert len(tickets(s)) == 1
        assert events(s, "message_added")[0].detail == "matched by tag"


def test_forward_of_old_thread_by_someone_else_opens_linked_ticket(desk: Runtime) -> None:
    open_ticket(desk)
    feed(desk, make_mail("k.mueller@mueller-steuerberatung.example", "WG: Server weg",
                         "Siehe unten, jetzt ist auch der Drucker im Flur kaputt.",
                         headers={"References": "<first@mueller-steuerberatung.example>"}))
    with session(desk) as s:
        first_ticket, second = tickets(s)
        assert second.linked_ticket_id == first_ticket.id


def test_customer_says_solved_closes_after_confirming(desk: Runtime) -> None:
    open_ticket(desk)
    feed(desk, make_mail("b.lange@mueller-steuerberatung.example", "AW: [#1001] Server weg",
                         "Hat sich erledigt, der Server läuft wieder. Danke!",
                         headers={"In-Reply-To": "<first@mueller-steuerberatung.example>"}))
    with session(desk) as s:
        [ticket] = tickets(s)
        assert ticket.status == "solved"
        [update] = outbox(s, "update")
        assert "geschlossen" in update.text


ICINGA = """***** Icinga 2 *****

Notification Type: {kind}

Service: MSSQL
Host: sql01.praxis-weber
State: {state}

Additional Info: {info}
"""


def test_alarms_and_recovery_make_one_ticket(desk: Runtime) -> None:
    def alarm(kind: str, state: str, n: int) -> bytes:
        return make_mail(
            "monitoring@itservice.example",
            f"** {kind} Service Alert: sql01.praxis-weber/MSSQL is {state} **",
            ICINGA.format(kind=kind, state=state, info=f"check {n}"),
        )

    feed(desk, alarm("PROBLEM", "CRITICAL", 1), alarm("PROBLEM", "CRITICAL", 2),
         alarm("RECOVERY", "OK", 3))
    with session(desk) as s:
        [ticket] = tickets(s)
        assert ticket.alarm_key == "sql01.praxis-weber/mssql"
        assert ticket.priority == "critical" and ticket.contract
        assert ticket.status == "solved"
        assert outbox(s, "ack") == []
        assert events(s, "alarm_repeat") and events(s, "alarm_recovery")


def test_broken_mail_is_quarantined_and_the_next_goes_on(desk: Runtime) -> None:
    desk.ingest([b"\x00\x01garbage" * 10, make_mail("x@praxis-weber.example", "Maus",
                                                       "Die Maus am Empfang ist kaputt.")])
    # An oversized message cannot be parsed within the limits: quarantined, not lost.
    huge = make_mail("y@praxis-weber.example", "Riesig", "x" * 100)
    desk.ingest([huge])
    from dataclasses import replace

    desk.processor.limits = replace(desk.processor.limits, max_bytes=50)
    report = desk.processor.process_pending(now=desk.clock)
    assert report.quarantined >= 1
    with session(desk) as s:
        rows = list(s.exec(select(Inbound)).all())
        assert all(r.status in ("processed", "quarantined") for r in rows)
        quarantined = [r for r in rows if r.status == "quarantined"]
        assert any("too large" in r.error for r in quarantined)
        assert all(r.raw for r in quarantined)
    assert desk.quarantine()


def test_out_of_office_ping_pong_stops(desk: Runtime) -> None:
    open_ticket(desk)
    for i in range(5):
        with session(desk) as s:
            last = outbox(s)[-1]
        feed(desk, make_mail(
            "b.lange@mueller-steuerberatung.example", f"Abwesend: {last.message['Subject']}",
            "Ich bin nicht im Büro.", headers={
                "In-Reply-To": last.message_id, "Auto-Submitted": "auto-replied",
                "X-Auto-Response-Suppress": "All"}, msgid=f"<oof{i}@x.example>"))
    with session(desk) as s:
        assert len(outbox(s, "ack")) == 1
        assert outbox(s, "update") == []


def test_processing_stops_between_messages_when_asked(desk: Runtime) -> None:
    desk.ingest([make_mail(f"k{i}@praxis-weber.example", f"Maus {i}", "Die Maus ist kaputt.")
                 for i in range(8)])
    done: list[object] = []
    report = desk.processor.process_pending(
        now=desk.clock, progress=done.append, stop=lambda: len(done) >= 3
    )
    assert report.processed == 3
    assert len(desk.processor.pending()) == 5  # the rest waits, untouched, for the next run


def test_a_row_read_ahead_but_taken_meanwhile_is_skipped(desk: Runtime) -> None:
    desk.ingest([make_mail(f"k{i}@praxis-weber.example", f"Maus {i}", "Die Maus ist kaputt.")
                 for i in range(3)])
    first, second, third = desk.processor.pending()
    run = desk.processor.process_each([first, second, third], now=desk.clock)
    assert next(run).status == "processed"  # all three were read with the first
    with session(desk) as s:  # another worker takes the second meanwhile
        row = s.get(Inbound, second)
        assert row is not None and row.status == "new"
        row.status = "processed"
        s.add(row)
        s.commit()
    assert [o.status for o in run] == ["skipped", "processed"]
    with session(desk) as s:
        assert len(tickets(s)) == 2


def test_a_large_row_is_not_read_ahead_and_is_still_processed(desk: Runtime) -> None:
    log = "Fehler 0x80070005 in Zeile 17\n" * 40000  # 1.2 MB
    big_body = "Im Anhang das Protokoll des Absturzes.\n" + log
    desk.ingest([
        make_mail("k1@praxis-weber.example", "Absturz", big_body),
        make_mail("k2@praxis-weber.example", "Maus", "Die Maus ist kaputt."),
    ])
    big, small = desk.processor.pending()
    with desk.engine.connect() as c:
        held = {row[0]: row[1] for row in c.execute(_READ_SOME, {"ids": [big, small]})}
    assert held[big] is None and held[small] is not None  # more than 1 MiB: read later
    outcomes = list(desk.processor.process_each([big, small], now=desk.clock))
    assert [o.status for o in outcomes] == ["processed", "processed"]
