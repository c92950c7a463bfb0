"""What the benchmarks run: the configuration (the provider's, or the lean one of the
earlier figures) and the mail (the labelled sets cycled, each copy its own Message-ID).

The provider's configuration is that of ``examples/mailbot.toml`` with every customer
of the mail sets: staff announcements to ``[staff] notify``, monitoring senders, contract
customers, and an on-call address (``[sla] oncall_address``) that a critical ticket of a
contract customer pages outside the service hours. Today and tomorrow are closed days
(``[sla] closed_days``), so every run happens outside the hours whatever the clock
says: each critical ticket pages, as it would at night or on a holiday, and the figures
do not depend on the time of day of the run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]

SERVICE = "service@itservice.example"
NOTIFY = "technik@itservice.example"
ONCALL = "bereitschaft@itservice.example"
STAFF_DOMAIN = "itservice.example"
MONITORING = "monitoring@itservice.example"
ZONE = ZoneInfo("Europe/Berlin")

#: (domain, name, contract): the businesses that write in the mail sets; the mail
#: providers' domains (gmx, t-online, ...) are private senders, no customers
CUSTOMERS: tuple[tuple[str, str, bool], ...] = (
    ("mueller-steuerberatung.example", "Müller Steuerberatung", True),
    ("kanzlei-hoffmann.example", "Kanzlei Hoffmann & Partner", True),
    ("praxis-weber.example", "Praxis Dr. Weber", True),
    ("schmitz-logistik.example", "Schmitz Logistik", True),
    ("autohaus-becker.example", "Autohaus Becker", True),
    ("ingenieurbuero-kraus.example", "Ingenieurbüro Kraus", True),
    ("architekten-schulz.example", "Architekten Schulz", True),
    ("zahnarzt-lorenz.example", "Zahnarztpraxis Lorenz", True),
    ("carrington-freight.example", "Carrington Freight", True),
    ("notariat-berger.example", "Notariat Berger", True),
    ("apotheke-am-markt.example", "Apotheke am Markt", False),
    ("kessler-young.example", "Kessler & Young", True),
    ("hv-brandt.example", "Hausverwaltung Brandt", False),
    ("whitfield-design.example", "Whitfield Design", False),
    ("ggs-lindenweg.example", "GGS Lindenweg", True),
    ("brightwater-media.example", "Brightwater Media", False),
    ("elektro-hartmann.example", "Elektro Hartmann", False),
    ("physio-am-park.example", "Physio am Park", False),
    ("lindqvist-engineering.example", "Lindqvist Engineering", True),
    ("physio-rheinblick.example", "Physio Rheinblick", False),
    ("baeckerei-klein.example", "Bäckerei Klein", False),
)


@dataclass(frozen=True)
class Servers:
    """Where the bench's servers listen (no IMAP: mail comes by ``ingest``)."""

    smtp_port: int | None = None
    imap_host: str = ""
    imap_port: int = 0
    imap_user: str = ""
    imap_password: str = ""


@dataclass(frozen=True)
class Setting:
    #: False: the lean setting of the earlier figures (no announcements, no customers)
    provider: bool = True
    #: ``[smtp] connections``; None leaves the key out (the default, 2)
    connections: int | None = None
    #: ``[smtp] max_per_minute``; None leaves the key out (no cap)
    max_per_minute: int | None = None


def _customers() -> str:
    return "".join(
        f'\n[[customers]]\ndomain = "{d}"\nname = "{n}"\ncontract = {str(c).lower()}\n'
        for d, n, c in CUSTOMERS
    )


def _provider_sections(now: datetime) -> str:
    today = now.astimezone(ZONE).date()
    closed = ", ".join(f'"{today + timedelta(days=d)}"' for d in (0, 1))
    return f"""
[staff]
domains = ["{STAFF_DOMAIN}"]
notify = "{NOTIFY}"
authserv_id = "mx.itservice.example"

[monitoring]
senders = ["{MONITORING}"]

[sla]
oncall_address = "{ONCALL}"
oncall_hours = {{ mon-fri = ["00:00-07:00", "19:00-24:00"], sat-sun = "00:00-24:00" }}
closed_days = [{closed}]
""" + _customers()


def write_config(folder: Path, servers: Servers, setting: Setting) -> Path:
    """``folder/mailbot.toml``, its store ``folder/mailbot.db``.

    The per-recipient caps are raised: the corpus cycles 319 mails, so one sender
    writes up to 38 mails within seconds, which the cap (10 an hour) would mostly
    leave unanswered; the bench measures sending them."""
    imap = ""
    if servers.imap_port:
        imap = f"""
[imap]
host = "{servers.imap_host}"
port = {servers.imap_port}
security = "none"
username = "{servers.imap_user}"
password = "{servers.imap_password}"
poll_interval = 600
batch_size = 200
"""
    smtp = ""
    if servers.smtp_port:
        smtp = f'\n[smtp]\nhost = "127.0.0.1"\nport = {servers.smtp_port}\nsecurity = "none"\n'
        if setting.connections is not None:
            smtp += f"connections = {setting.connections}\n"
        if setting.max_per_minute is not None:
            smtp += f"max_per_minute = {setting.max_per_minute}\n"
    service = f'[service]\naddress = "{SERVICE}"\n'
    if setting.provider:
        service = (
            f'[service]\nname = "IT-Service Nowak & Krüger"\naddress = "{SERVICE}"\n'
            'hotline = "+49 2102 7315-747"\n'
        )
    text = service + imap + smtp + '\n[store]\nurl = "sqlite:///mailbot.db"\n'
    if setting.provider:
        text += _provider_sections(datetime.now(ZONE))
    text += "\n[limits]\nacks_per_hour = 100000\nacks_per_day = 100000\nprocesses = 2\n"
    path = folder / "mailbot.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- mail ------------------------------------------------------------------------------

_THREAD_HEADERS = (b"message-id:", b"in-reply-to:", b"references:")
_DATE_LINE = re.compile(rb"^date:.*$", re.IGNORECASE | re.MULTILINE)


def _sources() -> list[Path]:
    return sorted((ROOT / "eval").glob("*/*.eml")) + sorted((ROOT / "examples").glob("*.eml"))


def _split(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = (
        raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
    )
    return head, body


def fresh(raw: bytes, message_id: str, date: datetime | None = None) -> bytes:
    """``raw`` as a new mail: its own Message-ID, in no thread, and (given ``date``)
    written at that moment."""
    head, body = _split(raw)
    lines = [ln for ln in head.splitlines() if not ln.lower().startswith(_THREAD_HEADERS)]
    lines.append(f"Message-ID: {message_id}".encode())
    if date is not None:
        stamp = f"Date: {format_datetime(date)}".encode()
        lines = [stamp if _DATE_LINE.match(ln) else ln for ln in lines]
        if stamp not in lines:
            lines.append(stamp)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def corpus(
    n: int, tag: str = "bench", date: datetime | list[datetime] | None = None
) -> list[bytes]:
    """N realistic mails: the labelled sets cycled, each with a fresh Message-ID.

    With ``date`` every copy is written at that moment (or copy i at ``date[i]``), as
    mail that arrives now: the sets' own dates lie months apart, and a ticket whose
    reaction time passed long ago would be reminded to the technicians at once."""
    sources = [p.read_bytes() for p in _sources()]
    pid = os.getpid()
    return [
        fresh(
            sources[i % len(sources)],
            f"<{tag}{i}.{pid}@bench.example>",
            date[i] if isinstance(date, list) else date,
        )
        for i in range(n)
    ]


def labelled(priorities: tuple[str, ...]) -> list[bytes]:
    """The mails of the labelled sets with one of ``priorities``, customers' only."""
    found: list[bytes] = []
    for labels in sorted((ROOT / "eval").glob("*/labels.jsonl")):
        for line in labels.read_text(encoding="utf-8").splitlines():
            label = json.loads(line)
            if label["priority"] in priorities and not label["automated"]:
                found.append((labels.parent / f"{label['id']}.eml").read_bytes())
    return found


def is_automated(raw: bytes) -> bool:
    """What the corpus counts as robot mail (the bot must not acknowledge it)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return bool(
        msg["Auto-Submitted"]
        or msg["List-Id"]
        or msg["Precedence"]
        or "monitoring@" in str(msg["From"])
        or "mailer-daemon" in str(msg["From"]).lower()
    )


def sender(raw: bytes) -> str:
    msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    addresses = getattr(msg["From"], "addresses", ())
    return str(addresses[0].addr_spec).lower() if addresses else ""


#: the critical mail of the paging benchmark: a contract customer's file server is
#: down and nobody can work (triage.md: a central server down is critical)
CRITICAL_FROM = "a.vogt@mueller-steuerberatung.example"
CRITICAL_MAIL = """\
From: Andrea Vogt <{sender}>
To: IT-Service <{service}>
Subject: Fileserver ausgefallen - niemand kann arbeiten
Date: {date}
Message-ID: {message_id}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Guten Abend,

unser Fileserver ist seit etwa zwanzig Minuten komplett ausgefallen. Keiner im Büro
kommt mehr an die Mandantenordner, DATEV startet bei niemandem. Wir können so nicht
arbeiten und müssen morgen früh Abgaben fertig haben.

Bitte melden Sie sich so schnell wie möglich.

Andrea Vogt
Müller Steuerberatung
"""


def critical_mail(message_id: str) -> bytes:
    text = CRITICAL_MAIL.format(
        sender=CRITICAL_FROM,
        service=SERVICE,
        date=format_datetime(datetime.now(ZONE)),
        message_id=message_id,
    )
    return text.replace("\n", "\r\n").encode("utf-8")


def customer_senders(mails: list[bytes]) -> set[str]:
    """Who must be acknowledged: the senders of the mail that is neither automated
    (by the corpus's own reckoning) nor the provider's own."""
    found = {sender(raw) for raw in mails if not is_automated(raw)}
    return {s for s in found if s and not s.endswith("@" + STAFF_DOMAIN)}
