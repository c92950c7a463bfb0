"""Real mail servers for the tests: a throwaway Dovecot and a recording SMTP server.

Nothing here mocks a protocol. Dovecot runs as its own instance with its own
config, sockets and mail store in a temp dir, so the host's system Dovecot (if
any) is neither needed nor touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from imapclient import IMAPClient

DOVECOT_BIN = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
DOVEADM_BIN = shutil.which("doveadm") or (
    "/usr/bin/doveadm" if Path("/usr/bin/doveadm").exists() else None
)


def make_cert(cert: Path, key: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost (PEM), usable as a CA
    file by clients."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    os.chmod(cert, 0o644)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, *, greeting: bytes | None = None) -> None:
    """Until the port accepts a connection (and, if given, sends the greeting prefix)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if greeting is None or s.recv(64).startswith(greeting):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not answer within {timeout}s ({last})")


_DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
{passwd_mechanisms}}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
}}
"""


#: the OAuth2 variant: tokens of XOAUTH2 and OAUTHBEARER logins are checked by the
#: test authorization server's introspection endpoint (RFC 7662); passwords (PLAIN,
#: LOGIN: the test's own client) still by the passwd file, which never sees a token
_OAUTH_PASSDB = """passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
"""

_OAUTH2_CONF = """introspection_mode = post
introspection_url = {url}
client_id = {client_id}
client_secret = {client_secret}
username_attribute = username
active_attribute = active
active_value = true
"""


@dataclass(frozen=True)
class Introspection:
    """Where an OAuth2 Dovecot asks whether a token is good, and as whom."""

    url: str
    client_id: str
    client_secret: str


@dataclass
class Dovecot:
    """One Dovecot instance on loopback with a single user (and ``more_users``).

    ``append``/``uids``/``flags`` talk IMAP through their own short connections,
    so they act like another mail client (or the MTA) next to the code under test.
    """

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "bot@example.test"
    password: str = "s3cret-test"
    #: with TLS: STARTTLS on ``port``, implicit TLS on ``tls_port``, cert for 127.0.0.1
    tls: bool = False
    tls_port: int = 0
    #: the OAuth2 variant: XOAUTH2 and OAUTHBEARER checked against this endpoint
    introspection: Introspection | None = None
    #: further users with the same password
    more_users: tuple[str, ...] = ()
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def process_group(self) -> int:
        """The master's process group: the master and every process it started."""
        if self._proc is None:
            raise RuntimeError("dovecot is not running")
        return self._proc.pid

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / self.user

    def setup(self) -> None:
        ids = pwd.getpwnam("dovecot")
        for sub in ("run", "state", "log", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        ssl = "ssl = no"
        if self.tls:
            self.tls_port = self.tls_port or free_port()
            make_cert(self.cert, self.root / "key.pem")
            ssl = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.root}/key.pem"
        oauth = self.introspection
        self.conf.write_text(_DOVECOT_CONF.format(
            root=self.root, port=self.port, tls_port=self.tls_port, ssl=ssl,
            mechanisms=" xoauth2 oauthbearer" if oauth else "",
            oauth_passdb=_OAUTH_PASSDB.format(root=self.root) if oauth else "",
            passwd_mechanisms="  mechanisms = plain login\n" if oauth else "",
        ))
        files = [self.conf, self.root / "passwd"]
        if oauth is not None:
            files.append(self.root / "oauth2.conf.ext")
            files[-1].write_text(_OAUTH2_CONF.format(
                url=oauth.url, client_id=oauth.client_id, client_secret=oauth.client_secret
            ))
        (self.root / "passwd").write_text("".join(
            f"{user}:{{PLAIN}}{self.password}\n" for user in (self.user, *self.more_users)
        ))
        # Dovecot drops privileges: its own users must reach the config, passwd and mail.
        os.chmod(self.root, 0o755)
        for path in files:
            os.chmod(path, 0o644)
        os.chown(self.root / "mail", ids.pw_uid, ids.pw_gid)

    @property
    def cert(self) -> Path:
        """The self-signed certificate (PEM), usable as a CA file by clients."""
        return self.root / "cert.pem"

    def start(self, timeout: float = 15.0) -> None:
        assert DOVECOT_BIN is not None
        log = open(self.root / "log" / "stderr.log", "ab")  # noqa: SIM115 - lives with the process
        self._proc = subprocess.Popen(
            [DOVECOT_BIN, "-F", "-c", str(self.conf)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Its own process group: stop() can end the imap children with the master.
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.host, self.port, timeout, greeting=b"* OK")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"dovecot did not start:\n{self.log_tail()}") from None

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # The whole group: imap processes outlive a lone master by ~10 s; TERM makes
        # each send "* BYE Server shutting down." and close, like a real restart.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop (clients see BYE and a closed socket), optionally stay down, start again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for name in ("dovecot.log", "stderr.log"):
            path = self.root / "log" / name
            if path.exists():
                out.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)

    # -- acting as another client -------------------------------------------------

    @contextlib.contextmanager
    def client(self, user: str | None = None) -> Iterator[IMAPClient]:
        c = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            c.login(user or self.user, self.password)
            yield c
        finally:
            with contextlib.suppress(Exception):
                c.logout()

    def append(
        self, raw: bytes, folder: str = "INBOX", flags: Sequence[str] = (), user: str | None = None
    ) -> int:
        """Deliver ``raw`` into ``folder``; returns the new UID (Dovecot has UIDPLUS)."""
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            reply = c.append(folder, raw, flags=[f.encode() for f in flags])
        # reply looks like b"[APPENDUID 1700000000 7] Append completed."
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        return int(text.split("]")[0].split()[-1])

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            return sorted(int(u) for u in c.search("ALL"))

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            found = c.get_flags(c.search("ALL"))
        return {int(uid): {f.decode() for f in fl} for uid, fl in found.items()}

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as c:
            return int(c.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def set_uidvalidity(self, value: int, folder: str = "INBOX") -> None:
        """Change UIDVALIDITY in place (as a server migration would): mails stay."""
        assert DOVEADM_BIN is not None
        subprocess.run(
            [DOVEADM_BIN, "-c", str(self.conf), "mailbox", "update", "-u", self.user,
             "--uid-validity", str(value), folder],
            check=True, capture_output=True, timeout=30,
        )

    def kick(self, user: str | None = None) -> None:
        """End the user's sessions, as a server does with a session whose token expired."""
        assert DOVEADM_BIN is not None
        subprocess.run(
            [DOVEADM_BIN, "-c", str(self.conf), "kick", user or self.user],
            check=True, capture_output=True, timeout=30,
        )

    def clean(self, user: str | None = None) -> None:
        """Empty INBOX and drop every other folder: each test starts from nothing."""
        with self.client(user) as c:
            for _flags, _delim, name in c.list_folders():
                folder = name if isinstance(name, str) else name.decode()
                if folder.upper() != "INBOX":
                    c.delete_folder(folder)
            c.select_folder("INBOX")
            uids = c.search("ALL")
            if uids:
                c.delete_messages(uids)
                c.expunge()


def start_dovecot(
    *,
    tls: bool = False,
    introspection: Introspection | None = None,
    more_users: tuple[str, ...] = (),
) -> Dovecot:
    # Not under pytest's tmp dir: that is mode 0700 and the dovecot user cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
    server = Dovecot(root=root, tls=tls, introspection=introspection, more_users=more_users)
    server.setup()
    server.start()
    return server


def destroy_dovecot(server: Dovecot) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


# -- SMTP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    #: (host, port) of the client: one value per SMTP connection
    peer: tuple[str, int]
    #: the message came over TLS (STARTTLS or implicit)
    tls: bool = False
    #: the login the client authenticated as, if any
    login: str | None = None
    #: the MAIL FROM parameters (SIZE=..., BODY=8BITMIME, SMTPUTF8)
    mail_options: tuple[str, ...] = ()
    #: time.monotonic() when the message was taken
    at: float = 0.0


#: what a handler answers to make the session hang up instead of replying
_HANG_UP = "000 hang up"


class RecordingHandler:
    """aiosmtpd handler that keeps every accepted envelope and answers as told.

    Besides answers, it holds what a real relay may do to a client: hold every reply
    back (``reply_delay``, a network's round trip), take no more than
    ``max_sessions`` sessions at once (more are greeted with 421 and closed), hang up
    in the middle of a message's DATA, and take long over a message
    (``hold_data``). It counts the sessions open at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.connections: list[tuple[str, int]] = []
        self._fail_next: list[str] = []
        self._fail_rcpt: dict[str, str] = {}
        #: seconds each reply is held back
        self.reply_delay = 0.0
        #: sessions served at once; None: no limit
        self.max_sessions: int | None = None
        #: seconds the server takes over each message before it answers
        self.hold_data = 0.0
        #: time.monotonic() of each answer given by fail_next or hang_up_next
        self.refused_at: list[float] = []
        self.sessions_open = 0
        self.sessions_peak = 0
        self._hang_up_next: list[bool] = []
        self._hang_up_at_mail = 0

    def fail_next(self, count: int, reply: str = "451 4.3.0 try again later") -> None:
        """Answer DATA of the next ``count`` messages with ``reply`` (4xx or 5xx)."""
        with self._lock:
            self._fail_next.extend([reply] * count)

    def hang_up_next(self, count: int = 1, *, taken: bool = False) -> None:
        """Close the session after the next ``count`` messages arrived, before their
        reply; with ``taken`` the message is kept first (the server took it, the
        client cannot know)."""
        with self._lock:
            self._hang_up_next.extend([taken] * count)

    def hang_up_at_mail(self, count: int = 1) -> None:
        """Close the next ``count`` sessions at their MAIL FROM, before any reply."""
        with self._lock:
            self._hang_up_at_mail += count

    def fail_recipient(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        with self._lock:
            self._fail_rcpt[address.lower()] = reply

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.connections.clear()
            self._fail_next.clear()
            self._fail_rcpt.clear()
            self._hang_up_next.clear()
            self._hang_up_at_mail = 0
            self.refused_at.clear()
            self.sessions_peak = self.sessions_open
            self.reply_delay = self.hold_data = 0.0
            self.max_sessions = None

    def session_opened(self) -> bool:
        """A new session: False when it is one too many."""
        with self._lock:
            if self.max_sessions is not None and self.sessions_open >= self.max_sessions:
                return False
            self.sessions_open += 1
            self.sessions_peak = max(self.sessions_peak, self.sessions_open)
            return True

    def session_closed(self) -> None:
        with self._lock:
            self.sessions_open -= 1

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self._lock:
            self.connections.append(tuple(session.peer))
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        with self._lock:
            if self._hang_up_at_mail:
                self._hang_up_at_mail -= 1
                return _HANG_UP
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            reply = self._fail_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold_data:
            await asyncio.sleep(self.hold_data)
        with self._lock:
            if self._fail_next:
                self.refused_at.append(time.monotonic())
                return self._fail_next.pop(0)
            hang_up = self._hang_up_next.pop(0) if self._hang_up_next else None
            if hang_up is not None:
                self.refused_at.append(time.monotonic())
            if hang_up is not False:
                self.received.append(
                    Received(
                        mail_from=envelope.mail_from,
                        rcpt_tos=tuple(envelope.rcpt_tos),
                        content=bytes(envelope.original_content),
                        peer=tuple(session.peer),
                        tls=server.transport.get_extra_info("ssl_object") is not None,
                        login=session.auth_data if session.authenticated else None,
                        mail_options=tuple(envelope.mail_options),
                        at=time.monotonic(),
                    )
                )
        return _HANG_UP if hang_up is not None else "250 2.0.0 queued as test"


class _Session(SMTP):
    """aiosmtpd's session, doing what the handler was told: replies held back, a 421
    that closes the connection as RFC 5321 (3.8) has it, a hang-up instead of a
    reply, and a limit on the sessions at once."""

    async def _handle_client(self) -> None:
        handler: RecordingHandler = self.event_handler
        if not handler.session_opened():
            await self.push("421 4.7.0 too many connections, try again later")
            return
        try:
            await super()._handle_client()
        finally:
            handler.session_closed()

    async def push(self, status: Any) -> None:
        text = status if isinstance(status, str) else status.decode()
        if text == _HANG_UP:
            transport = self.transport
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            return
        delay = self.event_handler.reply_delay
        if delay:
            await asyncio.sleep(delay)
        await super().push(status)
        if text.startswith("421") and self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Session(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """aiosmtpd in a thread on loopback; ``stop``/``start`` keep the port.

    ``tls``: "starttls" offers and requires STARTTLS, "ssl" speaks TLS from the first
    byte; both with ``cert``/``key`` (see :func:`make_cert`). ``logins``: user to
    password; a client must then log in (over TLS) before sending.
    """

    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "ssl"] = "none",
        cert: Path | None = None,
        key: Path | None = None,
        logins: dict[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.handler = RecordingHandler()
        self.tls = tls
        self._context: ssl.SSLContext | None = None
        if tls != "none":
            assert cert is not None and key is not None
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(cert, key)
        self.logins = logins or {}
        self._controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.logins.get(
            auth_data.login.decode()
        ) == auth_data.password.decode()
        if not ok:  # not handled: aiosmtpd then answers 535 itself
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data.login.decode())

    @property
    def received(self) -> list[Received]:
        with self.handler._lock:
            return list(self.handler.received)

    def start(self) -> None:
        if self._controller is not None:
            return
        options: dict[str, Any] = {}
        if self.tls == "starttls":
            options.update(tls_context=self._context, require_starttls=True)
        elif self.tls == "ssl":
            options.update(ssl_context=self._context)
        if self.logins:
            options.update(authenticator=self._authenticate, auth_required=True)
        controller = _Controller(
            self.handler, hostname=self.host, port=self.port, decode_data=False,
            ready_timeout=10, **options,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None
