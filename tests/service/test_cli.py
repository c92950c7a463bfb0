"""The command-line contract of design.md, run as a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {
    "file",
    "message_id",
    "from",
    "subject",
    "language",
    "body",
    "automated",
    "priority",
    "urgency",
    "deadline",
    "planned_change",
    "contract",
    "due_at",
    "reasons",
}


def mailbot(
    *args: str, cwd: Path = ROOT, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_configuration_error_is_one_line_naming_key_and_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[imap]\nhost = "x"\nusername = "u"\nport = "993"\n', encoding="utf-8")
    result = mailbot("--config", str(bad), "tickets")
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "imap.port" in lines[0] and str(bad) in lines[0]
    assert b"Traceback" not in result.stderr


def test_config_from_environment_variable(tmp_path: Path) -> None:
    bad = tmp_path / "env.toml"
    bad.write_text("[sla]\ntargets = 3\n", encoding="utf-8")
    result = mailbot("tickets", cwd=tmp_path, env={"MAILBOT_CONFIG": str(bad)})
    assert result.returncode == 2
    assert b"sla.targets" in result.stderr


def test_classify_json_contract(tmp_path: Path) -> None:
    files = sorted((ROOT / "examples").glob("*.eml"))[:4]
    missing = tmp_path / "nope.eml"
    result = mailbot(
        "classify", "--json", str(files[0]), str(missing), *map(str, files[1:]), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(objects) == len(files) + 1
    error = objects[1]
    assert set(error) == {"file", "error"} and error["file"] == str(missing)
    for obj in objects[:1] + objects[2:]:
        assert set(obj) >= CONTRACT
        assert obj["language"] in ("de", "en")
        assert obj["priority"] in ("critical", "normal", "low")
        assert obj["urgency"] in ("urgent", "not_urgent", "none")
        assert obj["deadline"] is None or len(obj["deadline"]) == 10
        assert isinstance(obj["reasons"], list)
        if obj["automated"]:
            assert obj["due_at"] is None
        else:
            assert obj["due_at"][-6] in "+-"  # ISO 8601 with an offset


def test_ingest_from_standard_input_then_tickets_json(tmp_path: Path) -> None:
    raw = (ROOT / "examples" / "02-printer.eml").read_bytes()
    result = mailbot("ingest", "-", cwd=tmp_path, stdin=raw)
    assert result.returncode == 0, result.stderr
    again = mailbot("ingest", "-", cwd=tmp_path, stdin=raw)
    assert b"stored 0 new of 1" in again.stdout
    listing = json.loads(mailbot("tickets", "--json", cwd=tmp_path).stdout)
    assert len(listing) == 1
    assert set(listing[0]) == {
        "number",
        "subject",
        "customer",
        "contract",
        "priority",
        "urgency",
        "deadline",
        "due_at",
        "status",
        "messages",
    }
    assert listing[0]["customer"] == "j.petersen@kanzlei-hoffmann.example"
    assert listing[0]["messages"] >= 2  # the mail and its acknowledgement
    detail = json.loads(mailbot("ticket", str(listing[0]["number"]), "--json", cwd=tmp_path).stdout)
    first = detail["messages"][0]
    assert {"direction", "sender", "recipients", "subject", "text", "message_id", "time"} <= set(
        first
    )
    assert detail["events"]
    outbox = list((tmp_path / "outbox" / "new").iterdir())
    assert len(outbox) == 1  # the acknowledgement, in the Maildir


def test_classify_json_has_every_key_and_an_alarm_with_its_key(tmp_path: Path) -> None:
    files = [ROOT / "examples" / "02-printer.eml", ROOT / "examples" / "09-icinga-down.eml"]
    result = mailbot("classify", "--json", *map(str, files), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printer, alarm = (json.loads(line) for line in result.stdout.decode().splitlines())
    keys = CONTRACT | {"automated_reasons", "category", "resolved", "alarm", "spam",
                       "information", "unsure"}
    assert set(printer) == keys and set(alarm) == keys
    assert printer["alarm"] is None and printer["from"] == "j.petersen@kanzlei-hoffmann.example"
    assert printer["unsure"] is None
    assert alarm["alarm"] == {
        "system": "icinga",
        "host": "dc01.schmitz-logistik",
        "service": "host",
        "state": "down",
        "recovery": False,
        "key": "dc01.schmitz-logistik/host",
    }
    assert alarm["category"] == "monitoring" and alarm["automated"] is True


TICKET_KEYS = {
    "id",
    "number",
    "subject",
    "customer_address",
    "customer_domain",
    "customer_name",
    "contract",
    "status",
    "priority",
    "urgency",
    "deadline",
    "planned_change",
    "category",
    "language",
    "arrived_at",
    "due_at",
    "alarm_key",
    "assignee",
    "linked_ticket_id",
    "created_at",
    "updated_at",
    "messages",
    "events",
    "attachments",
}


def test_ticket_quarantine_and_status_json(tmp_path: Path) -> None:
    from sqlmodel import Session, col, select

    from mailbot.store import Inbound, InboundStatus, open_store, session_scope

    raws = [
        (ROOT / "examples" / name).read_bytes() for name in ("02-printer.eml", "10-newsletter.eml")
    ]
    for raw in raws:
        assert mailbot("ingest", "-", cwd=tmp_path, stdin=raw).returncode == 0
    engine = open_store(f"sqlite:///{tmp_path}/mailbot.db")
    with session_scope(engine) as s:
        row = s.exec(select(Inbound).order_by(col(Inbound.id).desc())).first()
        assert row is not None
        row.status, row.error, row.attempts = InboundStatus.QUARANTINED, "boom\nTraceback", 2
        s.add(row)
    with Session(engine) as s:
        held = s.exec(select(Inbound).where(Inbound.status == InboundStatus.QUARANTINED)).one()
        held_id, held_size, held_mid = held.id, held.size, held.message_id
    engine.dispose()

    number = json.loads(mailbot("tickets", "--json", cwd=tmp_path).stdout)[0]["number"]
    detail = json.loads(mailbot("ticket", str(number), "--json", cwd=tmp_path).stdout)
    assert set(detail) == TICKET_KEYS
    assert detail["number"] == number and detail["status"] == "open"
    assert detail["customer_address"] == "j.petersen@kanzlei-hoffmann.example"
    incoming, ack = detail["messages"]
    message_keys = {
        "direction",
        "author",
        "sender",
        "recipients",
        "subject",
        "text",
        "message_id",
        "time",
        "evidence",
    }
    assert set(incoming) == set(ack) == message_keys
    assert (incoming["direction"], incoming["author"]) == ("in", "customer")
    assert (ack["direction"], ack["author"]) == ("out", "bot")
    assert ack["recipients"] == ["j.petersen@kanzlei-hoffmann.example"]
    assert isinstance(incoming["evidence"], dict)
    for event in detail["events"]:
        assert set(event) == {"time", "actor", "kind", "detail", "reasons"}
        assert isinstance(event["reasons"], list)
    assert "ticket_opened" in {e["kind"] for e in detail["events"]}

    listing = json.loads(mailbot("quarantine", "list", "--json", cwd=tmp_path).stdout)
    (entry,) = listing
    assert set(entry) == {
        "id",
        "received_at",
        "mailbox",
        "message_id",
        "size",
        "attempts",
        "reason",
    }
    assert (entry["id"], entry["mailbox"], entry["size"]) == (held_id, "ingest", held_size)
    assert (entry["message_id"], entry["attempts"], entry["reason"]) == (held_mid, 2, "boom")

    status = mailbot("status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    health = json.loads(status.stdout)
    assert health == {
        "mailboxes": [],
        "last_send_ok_at": health["last_send_ok_at"],
        "outbox_queued": 0,
        "outbox_failed": 0,
        "quarantined": 1,
        "unprocessed": 0,
        "problems": [],
        "token_sets": [],  # no [oauth.NAME] in this configuration
    }
    assert health["last_send_ok_at"] is not None


def test_attachment_writes_a_stored_file_out_and_refuses_a_damaged_one(tmp_path: Path) -> None:
    from email.message import EmailMessage

    from sqlalchemy import update

    from mailbot.store import BlobChunk, open_store, session_scope

    pdf = b"%PDF-1.7\n" + os.urandom(50_000)
    msg = EmailMessage()
    msg["From"] = "Jonas Petersen <j.petersen@kanzlei-hoffmann.example>"
    msg["To"] = "service@itservice.example"
    msg["Subject"] = "Scanner speichert nicht"
    msg.set_content("Der Scanner speichert keine PDFs mehr, Beispiel anbei.")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="Beispiel.pdf")
    assert mailbot("ingest", "-", cwd=tmp_path, stdin=msg.as_bytes()).returncode == 0

    number = json.loads(mailbot("tickets", "--json", cwd=tmp_path).stdout)[0]["number"]
    detail = json.loads(mailbot("ticket", str(number), "--json", cwd=tmp_path).stdout)
    [listed] = detail["attachments"]
    assert set(listed) == {"id", "message_id", "direction", "sender", "name", "content_type",
                           "size", "sha256", "inline", "risk", "time"}
    assert (listed["name"], listed["content_type"], listed["size"]) == (
        "Beispiel.pdf", "application/pdf", len(pdf))
    piped = mailbot("attachment", str(listed["id"]), cwd=tmp_path)
    assert piped.returncode == 0 and piped.stdout == pdf
    target = tmp_path / "out.pdf"
    written = mailbot("attachment", str(listed["id"]), "-o", str(target), cwd=tmp_path)
    assert written.returncode == 0 and target.read_bytes() == pdf
    assert b"50009 bytes written" in written.stderr
    missing = mailbot("attachment", "999", cwd=tmp_path)
    assert missing.returncode == 1 and b"no attachment 999" in missing.stderr

    engine = open_store(f"sqlite:///{tmp_path}/mailbot.db")
    with session_scope(engine) as s:
        s.execute(update(BlobChunk).values(data=b"not the pdf"))  # type: ignore[arg-type]
    engine.dispose()
    damaged = tmp_path / "damaged.pdf"
    refused = mailbot("attachment", str(listed["id"]), "-o", str(damaged), cwd=tmp_path)
    assert refused.returncode == 1 and b"damaged" in refused.stderr
    assert not damaged.exists() and list(tmp_path.glob(".damaged.pdf*")) == []
