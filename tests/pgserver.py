"""A throwaway PostgreSQL server on a free loopback port, for the store tests."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _bin(name: str) -> str | None:
    for folder in _BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
        self.pg_ctl = pg_ctl
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mailbot-pg-"))
        self.data = self.dir / "data"
        self.user = None
        if os.geteuid() == 0:
            # The server refuses to run as root; Debian's package creates "postgres".
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._run(
            [
                initdb,
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        self._run(
            [
                pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.dir / "log"),
                "-w",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k {self.dir} -F",
                "start",
            ]
        )

    def _run(self, cmd: list[str]) -> None:
        def demote() -> None:
            if self.user is not None:
                os.setgid(self.user.pw_gid)
                os.setuid(self.user.pw_uid)

        subprocess.run(cmd, check=True, capture_output=True, preexec_fn=demote, timeout=120)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


_counter = iter(range(1_000_000))


@pytest.fixture()
def postgres_url(postgres: PostgresServer) -> str:
    return postgres.create_database(f"mailbot_{os.getpid()}_{next(_counter)}_{int(time.time())}")
