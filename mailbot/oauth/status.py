"""What ``mailbot auth status`` and ``mailbot status`` say of the token sets: one view
per ``[oauth.NAME]``, with no token in it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from mailbot.config import Config, OAuthConfig
from mailbot.kinds import OAuthFlow, TokenState
from mailbot.oauth.notice import users_of
from mailbot.oauth.tokens import fix_command, read_all
from mailbot.store import OAuthToken


@dataclass(frozen=True)
class TokenView:
    name: str
    provider: str
    flow: str
    state: TokenState
    account: str
    scopes: list[str]
    #: of the access token
    expires_at: str | None
    #: the last login and the last refresh
    obtained_at: str | None
    refreshed_at: str | None
    last_error: str
    failed_at: str | None
    #: the mailboxes (and "smtp") that log in with it
    used_by: list[str]
    #: the command that mends it; "" when nothing needs mending
    fix: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def token_views(db: Session, config: Config) -> list[TokenView]:
    rows = read_all(db)
    return [_view(cfg, rows.get(cfg.name), config) for cfg in config.oauth]


def token_problems(views: list[TokenView]) -> list[str]:
    """For ``mailbot status``: each mailbox a broken or missing token set stops, with
    the command that fixes it."""
    problems = []
    for view in views:
        if view.state == TokenState.OK:
            continue
        why = (
            f"sign-in {view.name} refused ({view.last_error})"
            if view.state == TokenState.BROKEN
            else f"no OAuth2 tokens for {view.name} yet"
        )
        for user in view.used_by or [view.name]:
            what = "sending (smtp)" if user == "smtp" else f"mailbox {user}"
            problems.append(f"{what}: {why}; fix: {view.fix}")
    return problems


def _view(cfg: OAuthConfig, row: OAuthToken | None, config: Config) -> TokenView:
    if row is not None and row.broken:
        state = TokenState.BROKEN
    elif (row is None or not row.refresh_token) and cfg.flow != OAuthFlow.CLIENT_CREDENTIALS:
        # App-only needs no login: its first token comes when it is first needed.
        state = TokenState.MISSING
    else:
        state = TokenState.OK
    return TokenView(
        name=cfg.name,
        provider=cfg.provider,
        flow=cfg.flow,
        state=state,
        account=row.account if row is not None else "",
        scopes=(row.scopes.split() if row is not None and row.scopes else list(cfg.scopes)),
        expires_at=_iso(row.expires_at if row is not None else None),
        obtained_at=_iso(row.obtained_at if row is not None else None),
        refreshed_at=_iso(row.refreshed_at if row is not None else None),
        last_error=row.last_error if row is not None else "",
        failed_at=_iso(row.failed_at if row is not None else None),
        used_by=users_of(config, cfg.name),
        fix=fix_command(cfg.name) if state != TokenState.OK else "",
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
