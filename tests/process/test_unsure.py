"""An unsure judgement on its way (issue 20): stored as an event beside the
classification, shown to the technicians with the other reading, while the customer is
promised the safer priority and told nothing of the doubt."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from mailbot.kinds import Direction, DoubtKind, EventKind, OutboxKind
from mailbot.service.runtime import Runtime
from mailbot.store import Message
from tests.helpers import NOW, STORE_BACKENDS, RuntimeFactory, events, make_mail, outbox, tickets

#: an admin account sending what nobody here sent: critical, on an inference
PHISHING = (
    "Hallo,\n\nmehrere Kunden haben angerufen, dass sie von uns Mails mit einem Link "
    "bekommen. Die Mails liegen im Ordner Gesendete Elemente des Admin-Kontos, geschickt "
    "hat sie keiner von uns.\n\nClaudia Berg\n"
)
SERVER_DOWN = "Der Server ist ausgefallen, niemand im Büro kann arbeiten.\n"


@pytest.fixture(params=STORE_BACKENDS)
def desk(request: pytest.FixtureRequest, runtime: RuntimeFactory) -> Runtime:
    return runtime(store=request.param, clock=lambda: NOW)


def feed(rt: Runtime, body: str) -> None:
    raw = make_mail("Claudia Berg <c.berg@mueller-steuerberatung.example>", "Komische Mails", body)
    rt.ingest([raw])
    rt.processor.process_pending(now=rt.clock)


def test_unsure_critical_is_promised_critical_and_shown_to_technicians(desk: Runtime) -> None:
    feed(desk, PHISHING)
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.priority == "critical"
        [unsure] = events(s, EventKind.UNSURE)
        assert unsure.ticket_id == ticket.id
        assert f"kind={DoubtKind.WEAK_EVIDENCE.value}" in unsure.detail
        assert "alternative=normal" in unsure.detail
        assert json.loads(unsure.reasons) == [
            "evtl. missbrauchtes Admin-Konto: geschickt hat sie keiner"
        ]
        [message] = s.exec(
            select(Message).where(
                col(Message.ticket_id) == ticket.id, col(Message.direction) == Direction.IN
            )
        ).all()
        stored = json.loads(message.evidence)["unsure"]
        assert stored["alternative"] == "normal" and stored["kind"] == "weak_evidence"
        [notify] = outbox(s, OutboxKind.NOTIFY)
        assert "Unsicher:     kritisch? – evtl. missbrauchtes Admin-Konto" in notify.text
        assert "(sonst: normal)" in notify.text
        assert str(notify.message["Subject"]).startswith(f"[#{ticket.number}] KRITISCH?:")
        [ack] = outbox(s, OutboxKind.ACK)
        # the customer keeps the safer promise and hears nothing of the doubt
        assert "Priorität: kritisch" in ack.text
        assert "unsicher" not in ack.text.lower() and "evtl." not in ack.text


def test_a_sure_judgement_has_no_doubt(desk: Runtime) -> None:
    feed(desk, SERVER_DOWN)
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.priority == "critical"
        assert events(s, EventKind.UNSURE) == []
        [notify] = outbox(s, OutboxKind.NOTIFY)
        assert "Unsicher" not in notify.text
        assert str(notify.message["Subject"]).startswith(f"[#{ticket.number}] KRITISCH:")
