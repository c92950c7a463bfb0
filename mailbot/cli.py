"""The command line (design.md's contract): run, once, ingest, classify, tickets, ticket, ...

Every command takes ``--config``; a configuration problem is one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mailbot.config import Config, load_config
from mailbot.errors import ConfigError, MailbotError

if TYPE_CHECKING:
    from mailbot.service.report import FileError, FileJudgement
    from mailbot.service.runtime import Runtime

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="mailbot: an email-driven ticket bot for small IT service providers.",
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(help="Messages that could not be processed.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file (else $MAILBOT_CONFIG, else ./mailbot.toml)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]

_state: dict[str, Path | None] = {"config": None}
err = Console(stderr=True)
# Piped output (less, grep, a log) gets wide tables instead of 80 columns of wrapping.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@app.callback()
def _main(config: ConfigOpt = None, verbose: Annotated[bool, typer.Option("-v")] = False) -> None:
    _state["config"] = config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _config(explicit: Path | None) -> Config:
    return load_config(explicit or _state["config"])


@contextmanager
def _friendly() -> Iterator[None]:
    """Operator errors become one line and exit status 2."""
    try:
        yield
    except ConfigError as exc:
        # Plain print: one line, never wrapped to the terminal's width.
        print(f"mailbot: configuration error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except MailbotError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def _runtime(config: Config) -> Runtime:
    from mailbot.service.runtime import Runtime

    return Runtime.open(config)


@app.command()
def classify(
    files: Annotated[list[Path], typer.Argument(help="message files (.eml)")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Judge messages without storing or sending anything."""
    with _friendly():
        cfg = _config(config)
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


@app.command()
def ingest(
    files: Annotated[list[str], typer.Argument(help="message files, or - for standard input")],
    config: ConfigOpt = None,
) -> None:
    """Take raw messages from files or standard input (an MTA pipe), process and send."""
    with _friendly():
        rt = _runtime(_config(config))
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
    with _friendly():
        rt = _runtime(_config(config))
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
    with _friendly():
        rt = _runtime(_config(config))
        rt.serve()


@app.command()
def tickets(
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include solved")] = False,
) -> None:
    """The open tickets in the order of work."""
    with _friendly():
        rt = _runtime(_config(config))
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


@app.command()
def ticket(number: int, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One ticket: its thread, its events, its SLA clock."""
    with _friendly():
        rt = _runtime(_config(config))
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
    with _friendly():
        rt = _runtime(_config(config))
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


@quarantine_app.command("list")
def quarantine_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Messages held back, with the reason."""
    with _friendly():
        rows = _runtime(_config(config)).quarantine()
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
    with _friendly():
        row = _runtime(_config(config)).inbound(inbound_id)
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
    with _friendly():
        rt = _runtime(_config(config))
        for inbound_id in inbound_ids:
            outcome = rt.retry(inbound_id)
            out.print(f"{inbound_id}: {outcome.status} {outcome.detail}", markup=False)
        rt.send_due()


@app.command()
def status(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Health for people and monitoring: last fetch and send, outbox, quarantine.

    Exits 1 when fetching has failed for longer than ``[limits] fetch_stale_after``.
    """
    with _friendly():
        rt = _runtime(_config(config))
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
    path: Annotated[Path, typer.Argument(help="folder with labels.jsonl and <id>.eml files")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Precision, recall, F1 and confusion matrices of the classifier on a labelled set."""
    with _friendly():
        from mailbot.service.report import evaluate_folder

        text, data = evaluate_folder(_config(config), path)
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
) -> None:
    """Train the planned-change text classifier (reproducible: fixed seed and order)."""
    from mailbot.classify import cross_validate, default_models_dir, train_to

    models = default_models_dir()
    data_dir = data or models / "train"
    if cv:
        if cv < 2:
            print("mailbot: --cv needs at least 2 folds", file=sys.stderr)
            raise typer.Exit(2)
        print(cross_validate(data_dir, models, folds=cv).report())
        return
    target = out or models / "textcat"
    count = train_to(data_dir, target)
    print(f"trained on {count} mails from {data_dir}, written to {target}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
