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
