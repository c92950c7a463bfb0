"""What every command shares: the application, its options, the config and the
error handling that turns operator errors into one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from mailbot.config import Config, load_config
from mailbot.errors import ConfigError, MailbotError

if TYPE_CHECKING:
    from mailbot.service.runtime import Runtime


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="mailbot: an email-driven ticket bot for small IT service providers.",
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(help="Messages that could not be processed.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
spam_app = typer.Typer(help="Mail held back as spam or from forged senders.", no_args_is_help=True)
app.add_typer(spam_app, name="spam")
corrections_app = typer.Typer(
    help="Technicians' corrections of the bot's judgements.", no_args_is_help=True
)
app.add_typer(corrections_app, name="corrections")
auth_app = typer.Typer(
    help="OAuth2 sign-in for Microsoft 365, Google and other providers.", no_args_is_help=True
)
app.add_typer(auth_app, name="auth")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML file (else $MAILBOT_CONFIG, else ./mailbot.toml)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
SinceOpt = Annotated[
    datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="from this day on")
]

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


def config_of(explicit: Path | None) -> Config:
    return load_config(explicit or _state["config"])


@contextmanager
def friendly() -> Iterator[None]:
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


def runtime_of(config: Config) -> Runtime:
    from mailbot.service.runtime import Runtime

    return Runtime.open(config)

