"""The IMAP protocol seam: every ``imapclient`` call lives here.

``fetch`` speaks only to :class:`ImapSession`, so a test or another transport can
stand in for it. Every network call has a timeout, and every failure leaves this
module as :class:`FetchError` (or :class:`FetchTimeoutError`).
"""

from __future__ import annotations

import imaplib
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.util import to_bytes

from mailbot.config import ImapConfig
from mailbot.errors import FetchError, FetchTimeoutError, TokenError
from mailbot.kinds import AuthMethod, SaslMechanism

if TYPE_CHECKING:
    from mailbot.oauth.tokens import AccessToken, TokenSource

SEEN = b"\\Seen"
#: header block cap for placeholders of too-large mail; hostile headers stop here
HEADER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class FolderInfo:
    uidvalidity: int
    exists: int
    uidnext: int | None


class ImapSession(Protocol):
    """What ``fetch`` needs from an IMAP connection (one selected folder at a time)."""

    def has_capability(self, name: str) -> bool: ...
    def select(self, folder: str) -> FolderInfo: ...
    def search(self, criteria: Sequence[str]) -> list[int]: ...
    def sizes(self, uids: Sequence[int]) -> dict[int, int]: ...
    def bodies(self, uids: Sequence[int]) -> dict[int, bytes]: ...
    def headers(self, uids: Sequence[int]) -> dict[int, bytes]: ...
    def mark_seen(self, uids: Sequence[int]) -> None: ...
    def move(self, uids: Sequence[int], folder: str) -> None: ...
    def noop(self) -> bool: ...
    def idle_start(self) -> None: ...
    def idle_wait(self, timeout: float) -> bool: ...
    def idle_stop(self) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def credentials_expire(self) -> datetime | None: ...


ClientFactory = Callable[[ImapConfig], ImapSession]


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Turn socket, TLS and IMAP errors into the mailbot hierarchy, naming the step."""
    try:
        yield
    except FetchError:
        raise
    except TimeoutError as exc:  # socket.timeout is TimeoutError since 3.10
        raise FetchTimeoutError(f"IMAP {what}: timed out") from exc
    except (IMAPClientError, imaplib.IMAP4.error, OSError, EOFError) as exc:
        raise FetchError(f"IMAP {what}: {exc or type(exc).__name__}") from exc


def tls_context(config: ImapConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file)
    if not config.verify:
        # Only on explicit request (verify = false): e.g. a self-signed box on the LAN.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _untagged_has(responses: Sequence[Any], *names: bytes) -> bool:
    for resp in responses:
        if isinstance(resp, tuple) and any(
            isinstance(part, bytes) and part.upper() in names for part in resp[:2]
        ):
            return True
    return False


class ImapClientSession:
    """:class:`ImapSession` over ``imapclient`` (UID mode throughout)."""

    def __init__(
        self, client: IMAPClient, config: ImapConfig, renew_at: datetime | None = None
    ) -> None:
        self._client = client
        self._config = config
        self._idling = False
        self._renew_at = renew_at

    @classmethod
    def connect(cls, config: ImapConfig, tokens: TokenSource | None = None) -> ImapClientSession:
        timeout = config.timeout or None
        with mapped(f"connect to {config.host}:{config.port}"):
            client = IMAPClient(
                config.host,
                port=config.port,
                ssl=config.security == "ssl",
                ssl_context=tls_context(config) if config.security == "ssl" else None,
                timeout=timeout,
            )
        try:
            if config.security == "starttls":
                with mapped("STARTTLS"):
                    client.starttls(tls_context(config))
            renew_at = None
            with mapped(f"login as {config.username}"):
                if config.auth == AuthMethod.OAUTH2:
                    renew_at = _oauth_login(client, config, tokens)
                else:
                    client.login(config.username, config.password)
        except BaseException:
            # The first error is the one worth reporting; a failed TLS wrap can leave
            # a socket that even shutdown() trips over.
            with suppress(OSError, IMAPClientError):
                client.shutdown()
            raise
        return cls(client, config, renew_at)

    def credentials_expire(self) -> datetime | None:
        """When the access token this session logged in with should be renewed (None:
        a password, or a token without a stated lifetime)."""
        return self._renew_at

    def has_capability(self, name: str) -> bool:
        with mapped("CAPABILITY"):
            return bool(self._client.has_capability(name))

    def select(self, folder: str) -> FolderInfo:
        with mapped(f"SELECT {folder}"):
            info = self._client.select_folder(folder)
        uidnext = info.get(b"UIDNEXT")
        return FolderInfo(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            exists=int(info.get(b"EXISTS", 0)),
            uidnext=int(uidnext) if uidnext is not None else None,
        )

    def search(self, criteria: Sequence[str]) -> list[int]:
        with mapped("UID SEARCH"):
            return sorted(int(uid) for uid in self._client.search(list(criteria)))

    def _fetch(self, uids: Sequence[int], item: str, key_prefix: bytes) -> dict[int, Any]:
        if not uids:
            return {}
        with mapped(f"UID FETCH {item}"):
            data = self._client.fetch(list(uids), [item])
        out: dict[int, Any] = {}
        for uid, fields in data.items():
            # The reply key drops PEEK and may carry the partial offset: BODY[HEADER]<0>.
            for key, value in fields.items():
                if key.upper().startswith(key_prefix):
                    out[int(uid)] = value
        return out

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        return {u: int(v) for u, v in self._fetch(uids, "RFC822.SIZE", b"RFC822.SIZE").items()}

    def bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        # PEEK: reading must never set \Seen; only a committed store may do that.
        got = self._fetch(uids, "BODY.PEEK[]", b"BODY[]")
        return {u: to_bytes(v) if v is not None else b"" for u, v in got.items()}

    def headers(self, uids: Sequence[int]) -> dict[int, bytes]:
        got = self._fetch(uids, f"BODY.PEEK[HEADER]<0.{HEADER_LIMIT}>", b"BODY[HEADER]")
        return {u: to_bytes(v) if v is not None else b"" for u, v in got.items()}

    def mark_seen(self, uids: Sequence[int]) -> None:
        if uids:
            with mapped("UID STORE +FLAGS \\Seen"):
                self._client.add_flags(list(uids), [SEEN], silent=True)

    def move(self, uids: Sequence[int], folder: str) -> None:
        if not uids:
            return
        with mapped(f"create {folder}"):
            if not self._client.folder_exists(folder):
                self._client.create_folder(folder)
        if self.has_capability("MOVE"):
            with mapped(f"UID MOVE {folder}"):
                self._client.move(list(uids), folder)
            return
        with mapped(f"UID COPY {folder}"):
            self._client.copy(list(uids), folder)
        with mapped("UID STORE +FLAGS \\Deleted"):
            self._client.delete_messages(list(uids), silent=True)
        with mapped("EXPUNGE"):
            if self.has_capability("UIDPLUS"):
                self._client.uid_expunge(list(uids))
            else:
                # Without UIDPLUS this also removes mail others flagged \Deleted: the
                # price of a server that has neither MOVE nor UIDPLUS.
                self._client.expunge()

    def noop(self) -> bool:
        """NOOP; True when the server reported new mail since the last command."""
        with mapped("NOOP"):
            _text, responses = self._client.noop()
        return _untagged_has(responses, b"EXISTS", b"RECENT")

    def idle_start(self) -> None:
        with mapped("IDLE"):
            self._client.idle()
        self._idling = True

    def idle_wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s in IDLE; True when the server announced new mail."""
        started = time.monotonic()
        with mapped("IDLE wait"):
            responses = self._client.idle_check(timeout=timeout)
        if _untagged_has(responses, b"BYE"):
            self._idling = False
            raise FetchError("IMAP IDLE: server closed the connection (BYE)")
        if not responses and time.monotonic() - started < timeout * 0.8:
            # imapclient returns [] both for "nothing yet" and for EOF; an early empty
            # answer means the socket woke up. A DONE round trip tells a dead peer apart.
            news = self.idle_stop()
            self.idle_start()
            return news
        return _untagged_has(responses, b"EXISTS", b"RECENT")

    def idle_stop(self) -> bool:
        """Leave IDLE; True when the server announced new mail while leaving."""
        if not self._idling:
            return False
        self._idling = False
        with mapped("IDLE done"):
            _text, responses = self._client.idle_done()
        return _untagged_has(responses, b"EXISTS", b"RECENT")

    def close(self) -> None:
        try:
            if self._idling:
                self.idle_stop()
            with mapped("LOGOUT"):
                self._client.logout()
        except FetchError:
            self.abort()

    def abort(self) -> None:
        """Drop the socket without a word: after an error a LOGOUT could only hang."""
        self._idling = False
        with suppress(OSError, IMAPClientError):
            self._client.shutdown()


def _oauth_login(
    client: IMAPClient, config: ImapConfig, tokens: TokenSource | None
) -> datetime | None:
    """SASL XOAUTH2 or OAUTHBEARER with the token set's access token; a token the server
    refuses (revoked, or refused before its time) is renewed once and tried again."""
    if tokens is None:
        raise FetchError(f"{config.name}: auth = oauth2, but no token source was given")
    token = _token(tokens, config)
    try:
        _authenticate(client, config, token.token)
    except LoginError:
        token = _token(tokens, config, rejected=token.token)
        _authenticate(client, config, token.token)
    return token.renew_at


def _token(tokens: TokenSource, config: ImapConfig, rejected: str = "") -> AccessToken:
    try:
        return tokens.access_token(config.oauth, rejected=rejected)
    except TokenError as exc:
        raise FetchError(f"IMAP login as {config.username}: {exc}") from exc


def _authenticate(client: IMAPClient, config: ImapConfig, token: str) -> None:
    # imapclient builds both SASL strings (RFC 7628 for OAUTHBEARER).
    if config.mechanism == SaslMechanism.OAUTHBEARER:
        client.oauthbearer_login(config.username, token)
    else:
        client.oauth2_login(config.username, token)


def connect(config: ImapConfig) -> ImapSession:
    return ImapClientSession.connect(config)


def connector(tokens: TokenSource | None) -> ClientFactory:
    """A :data:`ClientFactory` whose OAuth2 mailboxes log in with ``tokens``."""

    def factory(config: ImapConfig) -> ImapSession:
        return ImapClientSession.connect(config, tokens)

    return factory
