"""Token sets in the store, and the access token for whoever logs in next.

:meth:`TokenKeeper.access_token` hands out the stored access token while it has some
life left, and otherwise refreshes it (or, app-only, asks for a new one) inside
:func:`mailbot.store.exclusive`: of several workers that find it due at once, one
asks the provider and the others wait and take what it stored. The answer is written
before it is used, so a rotated refresh token is never lost to a crash after the
login it served. A refresh refused for good marks the set broken, and staff are told
once, in the same transaction; nothing asks the provider again until a new login.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbot.config import Config, OAuthConfig
from mailbot.errors import TokenError, TokenRefusedError, TokenUnavailableError
from mailbot.kinds import OAuthFlow
from mailbot.oauth.flows import Flows, Grant
from mailbot.store import OAuthToken, exclusive, session_scope

log = logging.getLogger(__name__)

#: a token is renewed this long before it expires, or after three quarters of its
#: life when that is shorter (test servers hand out tokens for seconds)
RENEW_BEFORE = timedelta(minutes=5)


@dataclass(frozen=True)
class AccessToken:
    name: str
    token: str = field(repr=False)
    expires_at: datetime | None
    #: from then on it is renewed before use; a connection that logged in with it
    #: should log in again by then (Exchange Online ends such sessions at expiry)
    renew_at: datetime | None


class TokenSource(Protocol):
    """What a protocol client needs to log in: the mail stages take this, not the
    keeper, so a test can hand them a token of its own."""

    def access_token(self, name: str, *, rejected: str = "") -> AccessToken: ...


def fix_command(name: str) -> str:
    return f"mailbot auth login {name}"


def renew_at(row: OAuthToken) -> datetime | None:
    if row.expires_at is None:
        return None
    expires = _aware(row.expires_at)
    since = row.refreshed_at or row.obtained_at
    life = expires - _aware(since) if since is not None else RENEW_BEFORE * 4
    return expires - min(RENEW_BEFORE, max(life, timedelta(0)) / 4)


class TokenKeeper:
    """Access tokens of the configured token sets, shared through the store. ``flows``
    and ``clock`` are seams for tests."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        flows: Callable[[OAuthConfig], Flows] = Flows,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self._flows = flows
        self._clock = clock or (lambda: datetime.now(UTC))

    def access_token(self, name: str, *, rejected: str = "") -> AccessToken:
        """A usable access token of ``name``; ``rejected``: the one a server just refused,
        which is then renewed even though it has not expired (unless another worker
        renewed it meanwhile)."""
        cfg = self._settings(name)
        row = self._read(name)
        if row is not None and self._fresh(row, rejected):
            return _access(row)
        with exclusive(self.engine, f"oauth-{name}"):
            row = self._read(name)  # what another worker stored while this one waited
            if row is not None and self._fresh(row, rejected):
                return _access(row)
            return self._renew(cfg, row)

    def save(self, cfg: OAuthConfig, grant: Grant, *, login: bool = False) -> AccessToken:
        """Store a grant at once; a login (or any success) clears a broken state."""
        now = self._clock()
        with session_scope(self.engine) as db:
            row = db.get(OAuthToken, cfg.name) or OAuthToken(name=cfg.name)
            row.flow = cfg.flow
            row.access_token = grant.access_token
            # A provider that sends no new refresh token keeps the old one valid.
            row.refresh_token = grant.refresh_token or row.refresh_token
            row.expires_at = grant.expires_at
            row.scopes = " ".join(grant.scopes)
            row.account = grant.account or row.account
            if login:
                row.obtained_at = now
            else:
                row.refreshed_at = now
            row.broken, row.last_error, row.failed_at, row.notified_at = False, "", None, None
            db.add(row)
        return _access(row)

    def _settings(self, name: str) -> OAuthConfig:
        cfg = self.config.oauth_named(name)
        if cfg is None:  # the configuration checks this; a caller's mistake otherwise
            raise TokenRefusedError(name, "no such [oauth.NAME] table")
        return cfg

    def _read(self, name: str) -> OAuthToken | None:
        with Session(self.engine, expire_on_commit=False) as db:
            return db.get(OAuthToken, name)

    def _fresh(self, row: OAuthToken, rejected: str) -> bool:
        if row.broken or not row.access_token or row.access_token == rejected:
            return False
        due = renew_at(row)
        return due is None or due > self._clock()

    def _renew(self, cfg: OAuthConfig, row: OAuthToken | None) -> AccessToken:
        if cfg.flow != OAuthFlow.CLIENT_CREDENTIALS:
            if row is None or not row.refresh_token:
                raise TokenRefusedError(cfg.name, f"no tokens yet; run: {fix_command(cfg.name)}")
            if row.broken:
                # Asking again would only be refused again: it takes a person.
                raise TokenRefusedError(
                    cfg.name, f"{row.last_error}; run: {fix_command(cfg.name)}"
                )
        flows = self._flows(cfg)
        try:
            if cfg.flow == OAuthFlow.CLIENT_CREDENTIALS:
                grant = flows.app_token()
            else:
                assert row is not None
                grant = flows.refresh(row.refresh_token)
        except TokenRefusedError as exc:
            self._failed(cfg, exc, broken=True)
            raise TokenRefusedError(
                cfg.name, f"{exc.problem}; run: {fix_command(cfg.name)}"
            ) from None
        except TokenUnavailableError as exc:
            self._failed(cfg, exc, broken=False)
            raise
        log.info("%s: access token renewed", cfg.name)
        return self.save(cfg, grant)

    def _failed(self, cfg: OAuthConfig, exc: TokenError, *, broken: bool) -> None:
        from mailbot.oauth.notice import tell_staff

        now = self._clock()
        with session_scope(self.engine) as db:
            row = db.get(OAuthToken, cfg.name) or OAuthToken(name=cfg.name, flow=cfg.flow)
            row.last_error = exc.problem[:2000]
            row.failed_at = now
            if broken:
                row.broken = True
                if row.notified_at is None:
                    tell_staff(db, self.config, cfg, exc.problem, now)
                    row.notified_at = now
            db.add(row)
        if broken:
            log.error("%s: sign-in refused, a new login is needed: %s", cfg.name, exc.problem)
        else:
            log.warning("%s: no new access token for now: %s", cfg.name, exc.problem)


def read_all(db: Session) -> dict[str, OAuthToken]:
    from sqlmodel import select

    return {row.name: row for row in db.exec(select(OAuthToken)).all()}


def _access(row: OAuthToken) -> AccessToken:
    expires = _aware(row.expires_at) if row.expires_at is not None else None
    return AccessToken(row.name, row.access_token, expires, renew_at(row))


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
