"""The same mails and servers through django-helpdesk's ``get_email`` and through
``mailbot once``, in one run, for the ratio of the two.

django-helpdesk is not a dependency of mailbot and never goes into the lock: give the
Python of a throwaway virtual environment outside the repository that has it
(``python3 -m venv /tmp/dh-venv && /tmp/dh-venv/bin/pip install django-helpdesk``).
This script writes a minimal Django project for it (SQLite, the SMTP backend aimed at
the bench's server, one queue reading the bench's Dovecot INBOX over IMAP, the
e-mail templates of its fixture, the technicians' address as the queue's
``new_ticket_cc``), so that each new ticket is answered to its submitter and announced
to the technicians, as mailbot's provider setting does.

Both run as the commands an operator would start from cron, cold: the wall time from
start to exit (the server has then accepted what each sent), and the CPU of the
command and its children. Each tool starts from an empty store, the INBOX freshly
loaded with the same N mails; the runs alternate.

Usage:  python bench/bench_helpdesk.py --python /tmp/dh-venv/bin/python [--mails 200]
            [--repeat 2] [--json out.json]
Needs root (Dovecot) and the Debian package dovecot-imapd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._measure import median  # noqa: E402
from bench._servers import SmtpProcess  # noqa: E402
from bench._setting import NOTIFY, SERVICE, ZONE, Setting, corpus, write_config  # noqa: E402
from bench.bench_pipeline import servers_of, show  # noqa: E402
from tests.servers import Dovecot, destroy_dovecot, start_dovecot  # noqa: E402

_SETTINGS = """\
SECRET_KEY = "only-for-a-benchmark"
USE_TZ = True
TIME_ZONE = "Europe/Berlin"
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.sites", "django.contrib.humanize", "django.contrib.messages",
    "rest_framework", "helpdesk",
]
SITE_ID = 1
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = {smtp_port}
DEFAULT_FROM_EMAIL = {service!r}
HELPDESK_TEAMS_MODE_ENABLED = False
ROOT_URLCONF = "bench_urls"
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}}]
"""

_URLS = """\
from django.urls import include, path
urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

#: run once in the throwaway environment after the migrations: the one queue
_QUEUE = """\
import django
django.setup()
from helpdesk.models import Queue
Queue.objects.create(
    title="Service", slug="service", email_address={service!r}, new_ticket_cc={notify!r},
    allow_email_submission=True, email_box_type="imap", email_box_host={host!r},
    email_box_port={port}, email_box_ssl=False, email_box_user={user!r},
    email_box_pass={password!r}, email_box_imap_folder="INBOX", email_box_interval=0,
    logging_type="none",
)
"""


@dataclass(frozen=True)
class Command:
    seconds: float
    cpu_seconds: float
    accepted: int
    exit_code: int
    #: tickets in the tool's store afterwards
    tickets: int = 0


def count_rows(db: Path, table: str) -> int:
    """Rows of ``table`` in the SQLite file ``db`` (read with the standard library: the
    helpdesk's store is not ours to open with mailbot's engine)."""
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    connection.close()
    return int(count)


def timed(argv: list[str], env: dict[str, str], cwd: Path, smtp: SmtpProcess) -> Command:
    """Run ``argv`` to its end: wall time, CPU of it and its children, mail accepted."""
    before = smtp.received
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Command(
        seconds, usage.ru_utime + usage.ru_stime, smtp.received - before, proc.returncode
    )


class Helpdesk:
    """A Django project for django-helpdesk in ``folder``, its store made once."""

    def __init__(self, python: str, folder: Path, dovecot: Dovecot, smtp: SmtpProcess) -> None:
        self.python = python
        self.folder = folder
        self.smtp = smtp
        folder.mkdir(parents=True, exist_ok=True)
        self.db = folder / "helpdesk.sqlite3"
        self.template = folder / "template.sqlite3"
        (folder / "bench_settings.py").write_text(
            _SETTINGS.format(db=str(self.db), smtp_port=smtp.port, service=SERVICE)
        )
        (folder / "bench_urls.py").write_text(_URLS)
        (folder / "bench_queue.py").write_text(
            _QUEUE.format(
                service=SERVICE,
                notify=NOTIFY,
                host=dovecot.host,
                port=dovecot.port,
                user=dovecot.user,
                password=dovecot.password,
            )
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": str(folder),
            "DJANGO_SETTINGS_MODULE": "bench_settings",
        }
        for step in (
            ["-m", "django", "migrate", "-v", "0"],
            ["-m", "django", "loaddata", "-v", "0", "emailtemplate.json"],
            ["bench_queue.py"],
        ):
            subprocess.run(
                [python, *step], cwd=folder, env=self.env, check=True, capture_output=True
            )
        shutil.copyfile(self.db, self.template)

    def get_email(self) -> Command:
        shutil.copyfile(self.template, self.db)
        argv = [self.python, "-m", "django", "get_email", "--quiet"]
        done = timed(argv, self.env, self.folder, self.smtp)
        return replace(done, tickets=count_rows(self.db, "helpdesk_ticket"))


def _load(dovecot: Dovecot, mails: list[bytes]) -> None:
    dovecot.clean()
    with dovecot.client() as client:
        for raw in mails:
            client.append("INBOX", raw)


def _mailbot_once(work: Path, dovecot: Dovecot, smtp: SmtpProcess, name: str) -> Command:
    run_dir = work / name
    cfg = write_config(run_dir, servers_of(dovecot, smtp), Setting(provider=True))
    argv = [sys.executable, "-m", "mailbot", "--config", str(cfg), "once"]
    try:
        done = timed(argv, dict(os.environ), ROOT, smtp)
        return replace(done, tickets=count_rows(run_dir / "mailbot.db", "ticket"))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _summary(runs: list[Command], mails: int) -> dict[str, object]:
    return {
        "seconds": [round(r.seconds, 2) for r in runs],
        "mails_per_second": round(mails / (median([r.seconds for r in runs]) or 1), 1),
        "cpu_seconds": round(median([r.cpu_seconds for r in runs]) or 0, 2),
        "tickets": [r.tickets for r in runs],
        "accepted": [r.accepted for r in runs],
        "exit_codes": [r.exit_code for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", required=True, help="a Python that has django-helpdesk")
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    smtp = SmtpProcess()
    dovecot = start_dovecot()
    work = Path(tempfile.mkdtemp(prefix="mailbot-helpdesk-"))
    try:
        smtp.reset()
        helpdesk = Helpdesk(args.python, work / "helpdesk", dovecot, smtp)
        mails = corpus(args.mails, date=datetime.now(ZONE))
        ours: list[Command] = []
        theirs: list[Command] = []
        for rep in range(args.repeat):
            for tool in ("mailbot", "helpdesk") if rep % 2 == 0 else ("helpdesk", "mailbot"):
                _load(dovecot, mails)
                if tool == "mailbot":
                    ours.append(_mailbot_once(work, dovecot, smtp, f"mailbot-{rep}"))
                else:
                    theirs.append(helpdesk.get_email())
        mailbot, other = _summary(ours, args.mails), _summary(theirs, args.mails)
        rate, their_rate = mailbot["mails_per_second"], other["mails_per_second"]
        assert isinstance(rate, float) and isinstance(their_rate, float)
        show(
            {
                "mails": args.mails,
                "mailbot_once": mailbot,
                "helpdesk_get_email": other,
                "ratio_mailbot_to_helpdesk": round(rate / their_rate, 2) if their_rate else None,
            },
            args.json,
        )
    finally:
        smtp.stop()
        destroy_dovecot(dovecot)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
