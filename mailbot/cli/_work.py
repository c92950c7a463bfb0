"""The commands of design.md's contract: classify, ingest, once, run, tickets, ticket,
status, evaluate and train."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mailbot.kinds import ReportPeriod

if TYPE_CHECKING:
    from mailbot.classify import LabelledMail
    from mailbot.service.report import FileError, FileJudgement
    from mailbot.service.runtime import Runtime


from mailbot.cli._common import (
    ConfigOpt,
    JsonOpt,
    SinceOpt,
    app,
    config_of,
    err,
    friendly,
    out,
    runtime_of,
)


@app.command()
def classify(
    files: Annotated[list[Path], typer.Argument(help="message files (.eml)")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Judge messages without storing or sending anything."""
    with friendly():
        cfg = config_of(config)
        from mailbot.judge import Judge
        from mailbot.service.report import classify_file

        judge = Judge(cfg)
        for path in files:
            result = classify_file(judge, path)
            if as_json:
                print(json.dumps(result.as_json(), ensure_ascii=False), flush=True)
            else:
                _print_classification(result)


def _print_classification(result: FileJudgement | FileError) -> None:
    from mailbot.service.report import FileError

    if isinstance(result, FileError):
        out.print(f"[red]{result.file}: {result.error}[/red]")
        return
    out.print(f"[bold]{result.file}[/bold]  {result.subject}")
    out.print(
        f"  language={result.language} priority={result.priority} "
        f"urgency={result.urgency} deadline={result.deadline} "
        f"planned_change={result.planned_change} automated={result.automated} "
        f"contract={result.contract} due_at={result.due_at}"
    )
    for reason in result.reasons:
        out.print(f"  - {reason}", markup=False)
    if result.spam:
        out.print(f"  spam: {result.spam}", markup=False)
    elif result.information:
        out.print(f"  information: {'; '.join(result.automated_reasons)}", markup=False)
    if result.unsure is not None:
        d = result.unsure
        out.print(f"  unsure ({d.kind.value}): {d.alternative.value}? {d.reason}", markup=False)


@app.command()
def ingest(
    files: Annotated[list[str], typer.Argument(help="message files, or - for standard input")],
    config: ConfigOpt = None,
) -> None:
    """Take raw messages from files or standard input (an MTA pipe), process and send."""
    with friendly():
        rt = runtime_of(config_of(config))
        raws: list[tuple[str, bytes]] = []
        for name in files:
            if name == "-":
                raws.append(("-", sys.stdin.buffer.read()))
            else:
                try:
                    raws.append((name, Path(name).read_bytes()))
                except OSError as exc:
                    err.print(f"mailbot: {name}: {exc.strerror}", markup=False)
        stored = rt.ingest([raw for _, raw in raws])
        summary = rt.drain(progress=sys.stderr.isatty())
        rt.close()
        out.print(
            f"stored {stored} new of {len(raws)}; processed {summary.processed}, "
            f"quarantined {summary.quarantined}; sent {summary.sent}, "
            f"send failures {summary.failed}",
            markup=False,
        )
        if len(raws) < len(files):
            raise typer.Exit(1)


@app.command()
def once(config: ConfigOpt = None) -> None:
    """One full cycle: fetch all new mail, process it, send what is due; then exit."""
    with friendly():
        rt = runtime_of(config_of(config))
        try:
            fetched, summary = rt.once(progress=sys.stderr.isatty())
        finally:
            rt.close()
        out.print(
            f"fetched {fetched}; processed {summary.processed}, quarantined "
            f"{summary.quarantined}; sent {summary.sent}, send failures {summary.failed}",
            markup=False,
        )


@app.command()
def run(config: ConfigOpt = None) -> None:
    """The service: fetch, process and send until stopped (SIGTERM or Ctrl-C)."""
    with friendly():
        rt = runtime_of(config_of(config))
        rt.serve()


@app.command()
def tickets(
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include solved")] = False,
    info: Annotated[
        bool, typer.Option("--info", help="robots' mail stored as information instead")
    ] = False,
) -> None:
    """The open tickets in the order of work (information and spam are no work)."""
    with friendly():
        rt = runtime_of(config_of(config))
        if info:
            _print_information(rt, as_json)
            return
        rows = rt.work_list(include_solved=all_)
        if as_json:
            from mailbot.service.views import as_dicts

            print(json.dumps(as_dicts(rows), ensure_ascii=False, indent=1))
            return
        table = Table(title="Tickets in order of work")
        for col in (
            "#",
            "priority",
            "contract",
            "urgency",
            "due",
            "deadline",
            "status",
            "msgs",
            "customer",
            "subject",
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r.number),
                r.priority,
                "yes" if r.contract else "no",
                r.urgency,
                rt.local(r.due_at),
                r.deadline or "",
                r.status,
                str(r.messages),
                r.customer,
                r.subject,
            )
        out.print(table)


def _print_information(rt: Runtime, as_json: bool) -> None:
    from mailbot.service.views import as_dicts

    rows = rt.information()
    if as_json:
        print(json.dumps(as_dicts(rows), ensure_ascii=False, indent=1))
        return
    table = Table(title=f"Information, no work ({len(rows)})")
    for col in ("id", "received", "sender", "subject", "why"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.id), rt.local(r.received_at), r.sender, r.subject,
                      "; ".join(r.reasons))
    out.print(table)


@app.command()
def ticket(number: int, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One ticket: its thread, its events, its SLA clock."""
    with friendly():
        rt = runtime_of(config_of(config))
        detail = rt.ticket(number)
        if detail is None:
            err.print(f"mailbot: no ticket #{number}")
            raise typer.Exit(1)
        if as_json:
            print(json.dumps(detail.as_json(), ensure_ascii=False, indent=1))
            return
        t = detail.ticket
        out.print(
            f"#{t.number} {t.subject}\n"
            f"customer {t.customer_address} (contract: {t.contract}), "
            f"status {t.status}, priority {t.priority}, urgency {t.urgency}, "
            f"deadline {t.deadline}, due {rt.local(t.due_at)}",
            markup=False,
        )
        for m in detail.messages:
            out.print(
                f"\n--- {m.direction} {m.time} {m.sender} -> "
                f"{', '.join(m.recipients)}\n{m.subject}\n{m.text}",
                markup=False,
            )
        if detail.attachments:
            out.print("\nAttachments (mailbot attachment ID -o FILE):")
        for a in detail.attachments:
            risk = f"  PROGRAM OR SCRIPT: {a.risk}" if a.risk else ""
            out.print(
                f"  {a.id:>5}  {a.name}  {a.content_type}  {a.size} bytes  "
                f"({a.direction} {a.sender}){risk}",
                markup=False,
            )
        out.print("\nEvents:")
        for e in detail.events:
            reasons = f" [{'; '.join(e.reasons)}]" if e.reasons else ""
            out.print(f"  {e.time} {e.actor}: {e.kind} {e.detail}{reasons}", markup=False)


@app.command()
def attachment(
    attachment_id: Annotated[int, typer.Argument(help="the id `mailbot ticket N` lists")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (else standard output)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write one stored attachment out, as the customer sent it."""
    with friendly():
        rt = runtime_of(config_of(config))
        row = rt.attachment(attachment_id)
        if row is None:
            err.print(f"mailbot: no attachment {attachment_id}")
            raise typer.Exit(1)
        if output is None and sys.stdout.isatty():
            # Binary content would garble the terminal.
            err.print("mailbot: give -o FILE, or redirect standard output")
            raise typer.Exit(2)
        if row.risk:
            err.print(f"warning: a program or script ({row.risk}); do not run it", markup=False)
        if output is None:
            for chunk in rt.attachment_content(row):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        try:
            _write_file(output, rt.attachment_content(row))
        except OSError as exc:
            err.print(f"mailbot: {output}: {exc.strerror}", markup=False)
            raise typer.Exit(1) from None
        err.print(f"{row.name}: {row.size} bytes written to {output}", markup=False)


def _write_file(path: Path, chunks: Iterator[bytes]) -> None:
    """``chunks`` into ``path``, which appears only once everything is written and
    checked (a damaged content leaves no half file behind)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@app.command()
def status(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Health for people and monitoring: last fetch and send, outbox, quarantine.

    Exits 1 when fetching has failed for longer than ``[limits] fetch_stale_after``, or
    a mailbox's OAuth2 token set needs a new login (the problem names the command).
    """
    with friendly():
        rt = runtime_of(config_of(config))
        health = rt.health()
        if as_json:
            print(json.dumps(health.as_json(), ensure_ascii=False, indent=1))
        else:
            for box in health.mailboxes:
                out.print(
                    f"mailbox {box.mailbox}: last fetch {box.last_fetch_ok_at or 'never'}"
                    + (
                        f", last error {box.last_error_at}: {box.last_error}"
                        if box.last_error
                        else ""
                    ),
                    markup=False,
                )
            out.print(f"last send: {health.last_send_ok_at or 'never'}", markup=False)
            out.print(
                f"outbox: {health.outbox_queued} queued, {health.outbox_failed} failed; "
                f"quarantine: {health.quarantined}; unprocessed: {health.unprocessed}",
                markup=False,
            )
            for problem in health.problems:
                out.print(f"PROBLEM: {problem}", markup=False)
        if health.problems:
            raise typer.Exit(1)


@app.command()
def evaluate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="folders with labels.jsonl and <id>.eml files, measured together"),
    ] = None,
    corrections: Annotated[
        bool,
        typer.Option(
            "--corrections", help="instead: how often technicians corrected the bot (the store)"
        ),
    ] = False,
    since: SinceOpt = None,
    by: Annotated[
        ReportPeriod, typer.Option("--by", help="--corrections: counts by week or month")
    ] = ReportPeriod.WEEK,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Precision, recall, F1 and confusion matrices of the classifier on labelled sets
    (several folders are measured together: ``eval/de eval/en``); with --corrections,
    the technicians' corrections per field, value and period."""
    if corrections == bool(paths):
        print("mailbot: evaluate takes PATH... or --corrections", file=sys.stderr)
        raise typer.Exit(2)
    with friendly():
        if not paths:
            from mailbot.service.correction_report import evaluate_corrections

            text, data = evaluate_corrections(
                config_of(config), since.date() if since else None, by
            )
        else:
            from mailbot.service.report import evaluate_folder

            text, data = evaluate_folder(config_of(config), paths)
        if as_json:
            print(json.dumps(data, ensure_ascii=False, indent=1))
        else:
            print(text)


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option("--data", help="folder of labelled *.jsonl (models/train)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="where the model goes (models/textcat)")
    ] = None,
    cv: Annotated[
        int, typer.Option("--cv", help="k-fold cross-validation instead of training (k >= 2)")
    ] = 0,
    with_corrections: Annotated[
        bool,
        typer.Option(
            "--with-corrections",
            help="also the technicians' corrections in the store (the model is then "
            "no longer reproducible from the repository)",
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Train the planned-change text classifier (reproducible: fixed seed and order)."""
    from mailbot.classify import cross_validate, default_models_dir, train_to

    models = default_models_dir()
    data_dir = data or models / "train"
    if cv and cv < 2:
        print("mailbot: --cv needs at least 2 folds", file=sys.stderr)
        raise typer.Exit(2)
    extra: tuple[LabelledMail, ...] = ()
    if with_corrections:
        from mailbot.service.corrections import corrections_to_fold

        with friendly():
            extra, notes = corrections_to_fold(config_of(config))
        print("\n".join(notes))
    if cv:
        print(cross_validate(data_dir, models, folds=cv, extra=extra).report())
        return
    target = out or models / "textcat"
    count = train_to(data_dir, target, extra=extra)
    print(f"trained on {count} mails from {data_dir}, written to {target}")

