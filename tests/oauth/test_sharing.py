"""Several workers on one store share one token set: of those that find it due at the
same moment, one refreshes and the others take what it stored (the test server
refuses a used refresh token, so a race would break the set)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlmodel import Session

from mailbot.errors import TokenUnavailableError
from mailbot.oauth.login import login
from mailbot.oauth.tokens import AccessToken, TokenKeeper
from mailbot.store import OAuthToken, open_store
from tests.helpers import STORE_BACKENDS, write_config
from tests.oauth.sets import oauth_toml, technician
from tests.oauthserver import OAuthServer

WORKERS = 6


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_workers_due_at_once_refresh_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, oauth_server: OAuthServer
) -> None:
    store = ""
    if backend == "postgresql":
        store = f'\n[store]\nurl = "{request.getfixturevalue("postgres_url")}"\n'
    config = write_config(tmp_path, oauth_toml(oauth_server), store=store)
    engines = [open_store(config.store_url) for _ in range(WORKERS)]
    oauth_server.lifetime = 2
    with technician(oauth_server):
        login(config, engines[0], "lab", say=lambda _line: None)
    time.sleep(2.1)  # due for everyone
    start = threading.Barrier(WORKERS)
    got: list[AccessToken] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        keeper = TokenKeeper(config, engines[index])
        start.wait()
        try:
            got.append(keeper.access_token("lab"))
        except BaseException as exc:  # a failure of any worker fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for engine in engines:
        engine.dispose()

    assert errors == []
    assert oauth_server.requests["refresh_token"] == 1
    assert len({t.token for t in got}) == 1 and len(got) == WORKERS
    assert got[0].token in {t.access_token for t in oauth_server.active_tokens("mailbot")}


def test_a_provider_that_is_away_breaks_nothing(tmp_path: Path, oauth_server: OAuthServer) -> None:
    config = write_config(tmp_path, oauth_toml(oauth_server))
    engine = open_store(config.store_url)
    oauth_server.lifetime = 1
    with technician(oauth_server):
        login(config, engine, "lab", say=lambda _line: None)
    time.sleep(1.1)
    keeper = TokenKeeper(config, engine)
    oauth_server.fail_token_requests(1)

    with pytest.raises(TokenUnavailableError, match="HTTP 503"):
        keeper.access_token("lab")
    with Session(engine) as db:
        row = db.get(OAuthToken, "lab")
        assert row is not None and not row.broken and row.notified_at is None
        assert "HTTP 503" in row.last_error
    assert keeper.access_token("lab").token  # the next try refreshes
    engine.dispose()
