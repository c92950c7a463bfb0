"""Technicians' labels through the real pipeline: an authenticated ``#prio`` keeps the
text the bot judged as a labelled example, an unauthenticated one keeps nothing, and
what is kept is counted by ``evaluate --corrections``, exported and trained on."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from mailbot.classify import (
    LabelledExample,
    default_models_dir,
    read_examples,
    read_training_set,
)
from mailbot.cli import app
from mailbot.kinds import CorrectionSource, EventKind, LabelField
from mailbot.process.corrections import apply_correction
from mailbot.process.tickets import Decision
from mailbot.service.corrections import labelled_examples
from mailbot.service.runtime import Runtime
from mailbot.sla import BusinessCalendar
from mailbot.store import Correction, Inbound, Message, Outbox, Ticket, session_scope
from tests.helpers import BERLIN, NOW, STORE_BACKENDS, Clock, RuntimeFactory, events, make_mail

OUR_AUTH = (
    "mx.itservice.example; dkim=pass header.d=itservice.example; "
    "spf=pass smtp.mailfrom=t.nowak@itservice.example"
)
TECHNICIAN = "t.nowak@itservice.example"
#: a Tuesday a week after ``NOW``: the next ISO week (2026-W49)
NEXT_WEEK = datetime(2026, 12, 1, 9, 35, tzinfo=BERLIN)

SERVER_DOWN = (
    "Guten Morgen,\n\nder Server ist ausgefallen, niemand im Büro kann arbeiten, "
    "DATEV startet bei keinem.\n\nGruß\nBirgit Lange\n"
)


@pytest.fixture(params=STORE_BACKENDS)
def desk(request: pytest.FixtureRequest, runtime: RuntimeFactory) -> Runtime:
    return runtime(store=request.param)


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.processor.process_pending(now=rt.clock)


def customer_mail(rt: Runtime, subject: str, body: str, sender: str) -> int:
    """A new ticket from ``sender``, dated five minutes before the runtime's clock;
    its number."""
    feed(rt, make_mail(sender, subject, body, when=rt.clock().replace(minute=30)))
    with Session(rt.engine) as s:
        return max(t.number for t in s.exec(select(Ticket)).all())


def reply(rt: Runtime, number: int, body: str, auth: str | None = OUR_AUTH) -> None:
    """The technician answers the announcement of ticket ``number``."""
    with Session(rt.engine) as s:
        note = s.exec(
            select(Outbox.message_id)
            .join(Ticket, col(Ticket.id) == col(Outbox.ticket_id))
            .where(Ticket.number == number, Outbox.kind == "notify")
        ).one()
    headers = {"In-Reply-To": note, "References": note}
    if auth is not None:
        headers["Authentication-Results"] = auth
    feed(rt, make_mail(f"Tim Nowak <{TECHNICIAN}>", f"AW: [#{number}] Ticket", body,
                       headers=headers))


def corrections(rt: Runtime) -> list[Correction]:
    with Session(rt.engine) as s:
        return list(s.exec(select(Correction).order_by(col(Correction.id))).all())


def ticket(rt: Runtime, number: int) -> Ticket:
    with Session(rt.engine) as s:
        return s.exec(select(Ticket).where(Ticket.number == number)).one()


def server_down(rt: Runtime) -> int:
    return customer_mail(rt, "Server weg", SERVER_DOWN, "b.lange@mueller-steuerberatung.example")


def test_an_authenticated_prio_keeps_the_text_the_bot_judged(desk: Runtime) -> None:
    number = server_down(desk)
    assert ticket(desk, number).priority == "critical"
    reply(desk, number, "#prio normal\nWir kommen um 11 Uhr.")
    assert ticket(desk, number).priority == "normal"
    [c] = corrections(desk)
    with Session(desk.engine) as s:
        opening = s.exec(select(Message).order_by(col(Message.id))).first()
        technician_mail = s.exec(select(Inbound).order_by(col(Inbound.id).desc())).first()
    assert opening is not None and technician_mail is not None
    assert (c.field, c.bot_value, c.before_value, c.staff_value) == (
        "priority", "critical", "critical", "normal"
    )
    assert (c.source, c.actor, c.language) == ("command", TECHNICIAN, "de")
    # What the classifier was given: the subject and the new text of the customer's
    # mail, not the technician's reply.
    assert c.subject == "Server weg"
    assert c.text == opening.text and "der Server ist ausgefallen" in c.text
    assert "Wir kommen" not in c.text
    assert c.message_id == opening.id and c.inbound_id == technician_mail.id
    assert c.at == NOW


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "evil.example; dkim=pass header.d=itservice.example",
        "mx.itservice.example; dkim=fail header.d=itservice.example; spf=softfail",
    ],
)
def test_an_unauthenticated_prio_keeps_nothing(runtime: RuntimeFactory, auth: str | None) -> None:
    rt = runtime()
    number = server_down(rt)
    reply(rt, number, "#prio niedrig\nBitte ignorieren", auth=auth)
    assert ticket(rt, number).priority == "critical"
    assert corrections(rt) == []
    with Session(rt.engine) as s:
        assert events(s, EventKind.STAFF_UNVERIFIED)


def test_a_prio_that_agrees_with_the_bot_is_kept_and_changes_nothing(
    runtime: RuntimeFactory,
) -> None:
    rt = runtime()
    number = server_down(rt)
    reply(rt, number, "#prio kritisch")
    [c] = corrections(rt)
    assert c.bot_value == c.staff_value == "critical"
    with Session(rt.engine) as s:
        assert events(s, EventKind.PRIORITY_CHANGED) == []


def test_status_and_take_are_no_labels(runtime: RuntimeFactory) -> None:
    rt = runtime()
    number = server_down(rt)
    reply(rt, number, "#status wartend\n#übernehmen")
    assert ticket(rt, number).status == "waiting"
    assert corrections(rt) == []


def test_a_second_label_is_kept_and_the_latest_counts(runtime: RuntimeFactory) -> None:
    rt = runtime()
    number = server_down(rt)
    reply(rt, number, "#prio normal")
    reply(rt, number, "#prio niedrig")
    first, second = corrections(rt)
    assert (first.before_value, first.staff_value) == ("critical", "normal")
    # The bot's value stays what it judged; the ticket's value before is the first label.
    assert (second.bot_value, second.before_value, second.staff_value) == (
        "critical", "normal", "low"
    )
    with Session(rt.engine) as s:
        [example] = labelled_examples(s)
    assert (example.id, example.label, example.bot) == (
        f"correction-{number}-priority", "low", "critical"
    )


def test_a_monitoring_alarm_is_not_a_judged_mail(runtime: RuntimeFactory) -> None:
    rt = runtime()
    feed(rt, make_mail(
        "monitoring@itservice.example",
        "** PROBLEM Service Alert: sql01.praxis-weber/MSSQL is CRITICAL **",
        "***** Icinga 2 *****\n\nNotification Type: PROBLEM\n\nService: MSSQL\n"
        "Host: sql01.praxis-weber\nState: CRITICAL\n",
    ))
    [alarm] = [t for t in _tickets(rt) if t.alarm_key]
    reply(rt, alarm.number, "#prio normal")
    assert ticket(rt, alarm.number).priority == "normal"
    assert corrections(rt) == []


def _tickets(rt: Runtime) -> list[Ticket]:
    with Session(rt.engine) as s:
        return list(s.exec(select(Ticket)).all())


# -- counted, exported, trained on -----------------------------------------------------


def two_weeks_of_labels(rt: Runtime, clock: Clock) -> dict[str, int]:
    """W48: a critical ticket corrected to normal, a normal one nobody labelled;
    W49: a normal one confirmed, a planned change (low) corrected to normal."""
    numbers = {"server": server_down(rt)}
    numbers["printer"] = customer_mail(
        rt, "Drucker", "Der Drucker im Raum 3 druckt nicht.", "k3@praxis-weber.example"
    )
    reply(rt, numbers["server"], "#prio normal")
    clock.now = NEXT_WEEK
    numbers["monitor"] = customer_mail(
        rt, "Monitor", "Mein zweiter Monitor bleibt schwarz.", "k4@praxis-weber.example"
    )
    numbers["newcomer"] = customer_mail(
        rt, "Neue Kollegin",
        "Ab dem 4.1. fängt Frau Berg bei uns an, bitte ein Konto und einen Laptop einrichten.",
        "k5@praxis-weber.example",
    )
    reply(rt, numbers["monitor"], "#prio normal")
    reply(rt, numbers["newcomer"], "#prio normal")
    return numbers


def evaluate_json(config: Path, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(
        app, ["evaluate", "--corrections", "--json", "--config", str(config), *args]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


@pytest.fixture(params=STORE_BACKENDS)
def labelled(
    request: pytest.FixtureRequest, runtime: RuntimeFactory, clock: Clock
) -> Runtime:
    rt = runtime(store=request.param)
    two_weeks_of_labels(rt, clock)
    return rt


def test_evaluate_counts_judged_labelled_and_corrected_by_week(
    labelled: Runtime, tmp_path: Path
) -> None:
    data = evaluate_json(tmp_path / "mailbot.toml")
    assert data["by"] == "week" and data["since"] is None
    [priority] = data["fields"]  # type: ignore[misc]
    assert priority["field"] == "priority"
    assert (priority["judged"], priority["labelled"], priority["corrected"]) == (4, 3, 2)
    assert priority["rate"] == 0.5
    assert priority["values"]["critical"] == {
        "judged": 1, "labelled": 1, "corrected": 1, "rate": 1.0
    }
    assert priority["values"]["normal"] == {
        "judged": 2, "labelled": 1, "corrected": 0, "rate": 0.0
    }
    assert priority["confusion"] == [
        {"bot": "critical", "technician": "normal", "tickets": 1},
        {"bot": "low", "technician": "normal", "tickets": 1},
        {"bot": "normal", "technician": "normal", "tickets": 1},
    ]
    w48, w49 = priority["periods"]
    assert (w48["period"], w48["start"]) == ("2026-W48", "2026-11-23")
    assert (w48["judged"], w48["labelled"], w48["corrected"]) == (2, 1, 1)
    assert (w49["period"], w49["start"]) == ("2026-W49", "2026-11-30")
    assert (w49["judged"], w49["labelled"], w49["corrected"]) == (2, 2, 1)


def test_evaluate_since_a_day_and_by_month(labelled: Runtime, tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    [since] = evaluate_json(config, "--since", "2026-11-30")["fields"]  # type: ignore[misc]
    assert (since["judged"], since["labelled"], since["corrected"]) == (2, 2, 1)
    [monthly] = evaluate_json(config, "--by", "month")["fields"]  # type: ignore[misc]
    assert [(p["period"], p["judged"], p["corrected"]) for p in monthly["periods"]] == [
        ("2026-11", 2, 1), ("2026-12", 2, 1)
    ]


def test_evaluate_prints_the_counts_and_the_confusion(labelled: Runtime, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "--corrections", "--config", str(tmp_path / "mailbot.toml")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "priority: 4 judged, 3 labelled, 2 corrected (50.0%)" in lines
    [w48] = [line for line in lines if line.strip().startswith("2026-W48")]
    assert w48.split() == ["2026-W48", "2", "1", "1", "50.0%", "1/1", "0/1", "0/0"]
    [critical_row] = [line for line in lines if line.strip().startswith("critical ")]
    assert critical_row.split() == ["critical", "0", "1", "0"]


def test_evaluate_wants_a_folder_or_corrections() -> None:
    assert CliRunner().invoke(app, ["evaluate"]).exit_code == 2
    both = CliRunner().invoke(app, ["evaluate", "eval", "--corrections"])
    assert both.exit_code == 2


def test_export_round_trips(labelled: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "corrections.jsonl"
    result = CliRunner().invoke(app, [
        "corrections", "export", "--field", "priority", "--out", str(out),
        "--config", str(tmp_path / "mailbot.toml"),
    ])
    assert result.exit_code == 0, result.output
    with Session(labelled.engine) as s:
        stored = labelled_examples(s, [LabelField.PRIORITY])
    assert [e.label for e in stored] == ["normal", "normal", "normal"]
    assert read_examples(out, LabelField.PRIORITY) == stored
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    # The training files' keys, the bot's value beside them, and no technician's name.
    assert set(rows[0]) == {"id", "language", "subject", "body", "priority", "bot"}
    assert TECHNICIAN not in out.read_text(encoding="utf-8")


def web_label_planned(rt: Runtime, number: int, planned: bool) -> None:
    """A correction as a web view will make it: no mail, the same row."""
    with session_scope(rt.engine) as s:
        t = s.exec(select(Ticket).where(Ticket.number == number)).one()
        apply_correction(
            s, t, LabelField.PLANNED_CHANGE, planned,
            Decision(EventKind.REPLANNED, TECHNICIAN, "planned change set in the web view"),
            source=CorrectionSource.WEB, calendar=BusinessCalendar(rt.config.sla), now=rt.clock(),
        )


def test_planned_change_labels_export_as_training_mail(
    runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = runtime()
    number = customer_mail(rt, "Drucker", "Der Drucker im Raum 3 druckt nicht.",
                           "k3@praxis-weber.example")
    web_label_planned(rt, number, True)
    assert ticket(rt, number).planned_change is True
    folder = tmp_path / "reviewed"
    folder.mkdir()
    result = CliRunner().invoke(app, [
        "corrections", "export", "--field", "planned_change", "--out",
        str(folder / "corrections.jsonl"), "--config", str(tmp_path / "mailbot.toml"),
    ])
    assert result.exit_code == 0, result.output
    [mail] = read_training_set(folder)
    assert (mail.id, mail.subject, mail.planned) == (
        f"correction-{number}-planned_change", "Drucker", True
    )
    assert mail.body == "Der Drucker im Raum 3 druckt nicht."
    [example] = read_examples(folder / "corrections.jsonl", LabelField.PLANNED_CHANGE)
    assert example == LabelledExample(
        mail.id, "de", "Drucker", mail.body, LabelField.PLANNED_CHANGE, "true", "false"
    )


def test_train_with_corrections_takes_in_the_planned_change_labels(
    runtime: RuntimeFactory, clock: Clock, tmp_path: Path
) -> None:
    rt = runtime()
    numbers = two_weeks_of_labels(rt, clock)
    web_label_planned(rt, numbers["printer"], True)
    out = tmp_path / "model"
    result = CliRunner().invoke(app, [
        "train", "--with-corrections", "--out", str(out),
        "--config", str(tmp_path / "mailbot.toml"),
    ])
    assert result.exit_code == 0, result.output
    assert "taken in: 1 planned-change labels" in result.output
    assert "3 priority labels not taken in" in result.output
    files = len(read_training_set(default_models_dir() / "train"))
    assert f"trained on {files + 1} mails" in result.output
    folded = json.loads((out / "corrections.json").read_text(encoding="utf-8"))
    assert folded == {"mails": 1, "ids": [f"correction-{numbers['printer']}-planned_change"]}
