"""The command groups: quarantine, auth (OAuth2 sign-in) and corrections."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mailbot.kinds import InboundDisposition, LabelField, OutcomeStatus

if TYPE_CHECKING:
    pass


from mailbot.cli._common import (
    ConfigOpt,
    JsonOpt,
    SinceOpt,
    auth_app,
    config_of,
    corrections_app,
    err,
    friendly,
    out,
    quarantine_app,
    runtime_of,
    spam_app,
)


@quarantine_app.command("list")
def quarantine_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Messages held back, with the reason."""
    with friendly():
        rows = runtime_of(config_of(config)).quarantine()
        if as_json:
            from mailbot.service.views import as_dicts

            print(json.dumps(as_dicts(rows), ensure_ascii=False, indent=1))
            return
        table = Table(title=f"Quarantine ({len(rows)})")
        for col in ("id", "received", "message-id", "size", "reason"):
            table.add_column(col)
        for r in rows:
            table.add_row(str(r.id), r.received_at or "", r.message_id, str(r.size), r.reason)
        out.print(table)


@quarantine_app.command("show")
def quarantine_show(
    inbound_id: int,
    config: ConfigOpt = None,
    raw: Annotated[bool, typer.Option("--raw", help="write the raw message to stdout")] = False,
) -> None:
    """The reason and the raw message."""
    with friendly():
        row = runtime_of(config_of(config)).inbound(inbound_id)
        if row is None:
            err.print(f"mailbot: no inbound message {inbound_id}")
            raise typer.Exit(1)
        if raw:
            sys.stdout.buffer.write(row.raw)
            return
        out.print(
            f"id {row.id}, status {row.status}, received {row.received_at}, "
            f"{row.size} bytes, attempts {row.attempts}\nreason: {row.error}",
            markup=False,
        )
        preview = row.raw[:4000].decode("utf-8", "replace")
        out.print("\n" + preview, markup=False, highlight=False)


@quarantine_app.command("retry")
def quarantine_retry(
    inbound_ids: Annotated[list[int], typer.Argument(help="ids from 'quarantine list'")],
    config: ConfigOpt = None,
) -> None:
    """Process quarantined messages again (after a fix)."""
    with friendly():
        rt = runtime_of(config_of(config))
        for inbound_id in inbound_ids:
            outcome = rt.retry(inbound_id)
            out.print(f"{inbound_id}: {outcome.status} {outcome.detail}", markup=False)
        rt.send_due()


@auth_app.command("login")
def auth_login(
    name: Annotated[str, typer.Argument(help="the NAME of an [oauth.NAME] table")],
    config: ConfigOpt = None,
) -> None:
    """Obtain the tokens of [oauth.NAME] by its flow (device code, browser, app-only)."""
    with friendly():
        from mailbot.oauth.login import login

        rt = runtime_of(config_of(config))
        try:
            login(rt.config, rt.engine, name, say=lambda line: print(line, flush=True),
                  pasted=sys.stdin.readline)
        finally:
            rt.close()


@auth_app.command("status")
def auth_status(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Every token set (no secrets): flow, account, scopes, expiry, last refresh, error.

    Exits 1 when one needs a new login.
    """
    with friendly():
        rt = runtime_of(config_of(config))
        views = rt.token_sets()
        if as_json:
            print(json.dumps([v.as_json() for v in views], ensure_ascii=False, indent=1))
        else:
            if not views:
                out.print("no [oauth.NAME] tables in the configuration", markup=False)
            for v in views:
                out.print(
                    f"{v.name}: {v.state} ({v.provider}, {v.flow}) account "
                    f"{v.account or '-'}, used by {', '.join(v.used_by) or 'nothing'}\n"
                    f"  scopes: {' '.join(v.scopes) or '-'}\n"
                    f"  access token expires {v.expires_at or '-'}; signed in "
                    f"{v.obtained_at or 'never'}; last refreshed {v.refreshed_at or 'never'}"
                    + (f"\n  last error {v.failed_at}: {v.last_error}" if v.last_error else "")
                    + (f"\n  fix: {v.fix}" if v.fix else ""),
                    markup=False,
                )
        if any(v.fix for v in views):
            raise typer.Exit(1)


@corrections_app.command("export")
def corrections_export(
    fields: Annotated[
        list[LabelField] | None,
        typer.Option("--field", help="only this field (repeatable; default every field)"),
    ] = None,
    since: SinceOpt = None,
    to: Annotated[Path | None, typer.Option("--out", help="file (default: stdout)")] = None,
    config: ConfigOpt = None,
) -> None:
    """The latest label of each labelled ticket as JSON lines in the shape of
    models/train/*.jsonl (the bot's value under "bot"), for review; --since counts
    the day the technician labelled it."""
    with friendly():
        from mailbot.service.corrections import export_from_store

        day = since.date() if since else None
        wanted = fields or list(LabelField)
        count = export_from_store(config_of(config), wanted, day, to, sys.stdout)
        print(f"exported {count} labelled mails", file=sys.stderr)


@spam_app.command("list")
def spam_list(
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include released mail")] = False,
) -> None:
    """Mail held as spam, with the verdict and the header that decided."""
    with friendly():
        rt = runtime_of(config_of(config))
        rows = rt.spam(include_released=all_)
        if as_json:
            from mailbot.service.views import as_dicts

            print(json.dumps(as_dicts(rows), ensure_ascii=False, indent=1))
            return
        table = Table(title=f"Spam ({len(rows)})")
        for col in ("id", "received", "sender", "subject", "verdict", "header"):
            table.add_column(col)
        for r in rows:
            held = r.disposition == InboundDisposition.SPAM
            verdict = r.reason if held else f"{r.reason} (released)"
            table.add_row(str(r.id), rt.local(r.received_at), r.sender, r.subject, verdict,
                          r.header)
        out.print(table)


@spam_app.command("show")
def spam_show(inbound_id: int, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One held mail: its verdict events and the start of the raw message."""
    with friendly():
        detail = runtime_of(config_of(config)).spam_detail(inbound_id)
        if detail is None:
            err.print(f"mailbot: no spam with id {inbound_id}")
            raise typer.Exit(1)
        if as_json:
            print(json.dumps(detail.as_json(), ensure_ascii=False, indent=1))
            return
        out.print(f"id {detail.id}, {detail.disposition}, received {detail.received_at}, "
                  f"{detail.size} bytes\nfrom {detail.sender}: {detail.subject}", markup=False)
        for e in detail.events:
            reasons = f" [{'; '.join(e.reasons)}]" if e.reasons else ""
            out.print(f"  {e.time} {e.actor}: {e.kind} {e.detail}{reasons}", markup=False)
        out.print("\n" + detail.preview, markup=False, highlight=False)


@spam_app.command("release")
def spam_release(
    inbound_ids: Annotated[list[int], typer.Argument(help="ids from 'spam list'")],
    config: ConfigOpt = None,
) -> None:
    """No spam: the mail becomes a ticket and its sender is acknowledged."""
    with friendly():
        rt = runtime_of(config_of(config))
        failed = False
        for inbound_id in inbound_ids:
            outcome = rt.release_spam(inbound_id)
            number = f" #{outcome.ticket_number}" if outcome.ticket_number else ""
            out.print(f"{inbound_id}: {outcome.status}{number} {outcome.detail}", markup=False)
            failed = failed or outcome.status != OutcomeStatus.PROCESSED
        rt.send_due()
        if failed:
            raise typer.Exit(1)
