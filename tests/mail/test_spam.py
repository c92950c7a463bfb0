"""spam: the verdicts of our own receiving server, read from the header, and only those.

A verdict header counts above the first Received line our MX wrote (``[spam] mx``),
or anywhere when the server strips the copies that came with the mail; below it, it
is the sender's (or the sender's provider's) and decides nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailbot.config import Config, ServiceConfig, SpamConfig, StaffConfig
from mailbot.kinds import SpamSource
from mailbot.mail.parse import parse_message
from mailbot.mail.spam import SpamVerdict, headers_in_order, spam_verdict

MX = "mx.itservice.example"
CONFIG = Config(
    path=None,
    store_url="sqlite://",
    outbox_dir=Path("outbox"),
    service=ServiceConfig(address="service@itservice.example"),
    staff=StaffConfig(domains=("itservice.example",), authserv_id=MX),
    spam=SpamConfig(mx=(MX,)),
)
OUR_RECEIVED = (
    f"Received: from mail.sender.example (mail.sender.example [203.0.113.9])\r\n"
    f"\tby {MX} (Postfix) with ESMTPS id 4QxA; Mon, 23 Nov 2026 09:00:01 +0100"
)
THEIR_RECEIVED = (
    "Received: from [10.0.0.5] by mail.sender.example with ESMTPSA; "
    "Mon, 23 Nov 2026 09:00:00 +0100"
)


def mail_with(
    above: list[str], below: tuple[str, ...] | list[str] = (), sender: str = "kunde@sender.example"
) -> bytes:
    """A mail whose ``above`` headers stand over our MX's Received line, ``below`` under
    it (where the sender's own would be)."""
    head = [*above, OUR_RECEIVED, *below, THEIR_RECEIVED, f"From: {sender}",
            "To: service@itservice.example", "Subject: Angebot", "Message-ID: <m@sender.example>"]
    return ("\r\n".join(head) + "\r\n\r\nHallo.\r\n").encode()


def verdict(raw: bytes, config: Config = CONFIG) -> SpamVerdict:
    return spam_verdict(parse_message(raw), config)


SPAM_HEADERS = [
    ("X-Spam-Flag: YES", SpamSource.SPAMASSASSIN),
    ("X-Spam-Status: Yes, score=7.2 required=5.0 tests=BAYES_99",
     SpamSource.SPAMASSASSIN),
    # Our threshold (5.0), not the filter's own "required", decides.
    ("X-Spam-Status: No, score=5.5 required=8.0 tests=BAYES_80", SpamSource.SPAMASSASSIN),
    ("X-Spamd-Result: default: False [8.10 / 15.00]; BAYES_SPAM(5.10)[99.87%]", SpamSource.RSPAMD),
    ("X-Spamd-Result: default: True [16.20 / 15.00]", SpamSource.RSPAMD),
    ("X-Rspamd-Score: 7.5", SpamSource.RSPAMD),
    ("X-Rspamd-Action: add header", SpamSource.RSPAMD),
    ("X-Rspamd-Action: rewrite  subject", SpamSource.RSPAMD),
    ("X-MS-Exchange-Organization-SCL: 5", SpamSource.EXCHANGE),
    ("X-Forefront-Antispam-Report: CIP:203.0.113.9;CTRY:;LANG:de;SCL:1;SRV:;IPV:NLI;SFV:SPM;"
     "PTR:;CAT:SPM;SFTY:;", SpamSource.EXCHANGE),
    ("X-Forefront-Antispam-Report: CIP:203.0.113.9;SCL:6;SFV:NSPM;", SpamSource.EXCHANGE),
    ("X-Forefront-Antispam-Report: CIP:203.0.113.9;SCL:-1;SFV:SKB;", SpamSource.EXCHANGE),
]

CLEAN_HEADERS = [
    "X-Spam-Flag: NO",
    "X-Spam-Status: No, score=1.2 required=5.0 tests=NONE",
    "X-Spamd-Result: default: False [2.10 / 15.00]; R_SPF_ALLOW(-0.20)[+ip4]",
    "X-Rspamd-Score: -0.5",
    "X-Rspamd-Action: no action",
    "X-Rspamd-Action: greylist",
    "X-MS-Exchange-Organization-SCL: -1",
    "X-MS-Exchange-Organization-SCL: 4",
    "X-Forefront-Antispam-Report: CIP:203.0.113.9;CTRY:DE;LANG:de;SCL:1;SRV:;IPV:NLI;SFV:NSPM;",
    "X-Forefront-Antispam-Report: CIP:203.0.113.9;SCL:-1;SFV:SKN;",
]


@pytest.mark.parametrize(("header", "source"), SPAM_HEADERS)
def test_each_verdict_of_our_server_is_spam_with_its_header(
    header: str, source: SpamSource
) -> None:
    found = verdict(mail_with([header]))
    assert found.spam and found.source == source
    assert found.header.lower().startswith(header.split(":", 1)[0].lower() + ":")
    assert found.reason


@pytest.mark.parametrize("header", CLEAN_HEADERS)
def test_our_server_saying_clean_is_no_spam(header: str) -> None:
    found = verdict(mail_with([header]))
    assert not found.spam and found.source is None
    assert found.ignored == ()


def test_the_issues_seo_mail_is_spam_though_the_flag_says_no() -> None:
    raw = mail_with([
        "X-Spam-Flag: NO",
        "X-Spamd-Result: default: False [8.10 / 15.00]; BAYES_SPAM(5.10)[99.87%]",
        "X-Rspamd-Action: add header",
    ])
    found = verdict(raw)
    assert found.spam and found.source == SpamSource.RSPAMD
    assert found.reason == "rspamd score 8.10 >= 6"
    assert found.header.startswith("X-Spamd-Result: default: False [8.10 / 15.00]")


@pytest.mark.parametrize(("header", "source"), SPAM_HEADERS)
def test_the_same_headers_below_our_received_came_with_the_mail(
    header: str, source: SpamSource
) -> None:
    found = verdict(mail_with([], below=[header]))
    assert not found.spam
    assert [i.split(":", 1)[0].lower() for i in found.ignored] == [header.split(":", 1)[0].lower()]


def test_a_received_line_faked_by_the_sender_moves_nothing() -> None:
    """The sender may write a Received "by" our MX below ours: our topmost line cuts."""
    fake = f"Received: from x by {MX} with SMTP; Mon, 23 Nov 2026 08:59:00 +0100"
    found = verdict(mail_with(["X-Spam-Flag: NO"], below=["X-Spam-Flag: YES", fake]))
    assert not found.spam
    assert found.ignored == ("X-Spam-Flag: YES",)


def test_without_our_received_line_nothing_counts() -> None:
    raw = b"X-Spam-Flag: YES\r\nFrom: a@b.example\r\nSubject: x\r\n\r\nHallo\r\n"
    found = verdict(raw)
    assert not found.spam and found.ignored == ("X-Spam-Flag: YES",)


def test_a_comment_naming_our_mx_is_no_received_line_of_ours() -> None:
    raw = mail_with([]).replace(
        OUR_RECEIVED.encode(),
        f"Received: from evil.example (helo checked by {MX}) by relay.evil.example".encode(),
    )
    raw = b"X-Spam-Flag: YES\r\n" + raw
    assert not verdict(raw).spam


def test_mx_names_a_domain_with_a_leading_dot() -> None:
    config = replace(CONFIG, spam=SpamConfig(mx=(".itservice.example",)))
    hop = "Received: from a by mx2.itservice.example with ESMTP"
    raw = f"X-Spam-Flag: YES\r\n{hop}\r\nFrom: a@b.example\r\n\r\nx\r\n".encode()
    assert verdict(raw, config).spam
    evil = "Received: from a by itservice.example.evil.example with ESMTP"
    raw = f"X-Spam-Flag: YES\r\n{evil}\r\nFrom: a@b.example\r\n\r\nx\r\n".encode()
    assert not verdict(raw, config).spam


def test_server_that_strips_foreign_headers_is_believed_anywhere() -> None:
    config = replace(CONFIG, spam=SpamConfig(server_strips_foreign_headers=True))
    found = verdict(mail_with([], below=["X-MS-Exchange-Organization-SCL: 9"]), config)
    assert found.spam and found.source == SpamSource.EXCHANGE


def test_without_mx_no_filter_header_counts() -> None:
    config = replace(CONFIG, spam=SpamConfig())
    found = verdict(mail_with(["X-Spam-Flag: YES"]), config)
    assert not found.spam and found.ignored == ("X-Spam-Flag: YES",)


def test_thresholds_come_from_the_configuration() -> None:
    strict = replace(CONFIG, spam=SpamConfig(mx=(MX,), rspamd_score=9.0, exchange_scl=7,
                                              rspamd_actions=("reject",)))
    assert not verdict(mail_with(["X-Spamd-Result: default: False [8.10 / 15.00]"]), strict).spam
    assert not verdict(mail_with(["X-MS-Exchange-Organization-SCL: 6"]), strict).spam
    assert not verdict(mail_with(["X-Rspamd-Action: add header"]), strict).spam
    assert verdict(mail_with(["X-Rspamd-Action: reject"]), strict).spam


def test_headers_keep_their_places_across_names() -> None:
    mail = parse_message(b"A: 1\r\nB: 2\r\nA: 3\r\nFrom: x@y.example\r\n\r\nz\r\n")
    assert [(h.position, h.name, h.value) for h in headers_in_order(mail)][:3] == [
        (0, "a", "1"), (1, "b", "2"), (2, "a", "3"),
    ]


# -- forged senders: our server's Authentication-Results ------------------------------

BANK = "konto@bank.example"


def auth(results: str, sender: str = BANK, *, above: bool = True) -> SpamVerdict:
    line = f"Authentication-Results: {results}"
    raw = mail_with([line], sender=sender) if above else mail_with([], [line], sender=sender)
    return verdict(raw)


@pytest.mark.parametrize(
    "results",
    [
        f"{MX}; spf=fail smtp.mailfrom=x@evil.example; dkim=none; "
        "dmarc=fail (p=reject dis=none) header.from=bank.example",
        f"{MX}; dmarc=fail action=quarantine header.from=bank.example",
        f"{MX}; dmarc=fail reason=\"No valid SPF, No valid DKIM\" header.from=bank.example "
        "(policy=reject)",
        f"{MX}; dmarc=fail policy.dmarc=reject header.from=bank.example",
    ],
)
def test_dmarc_fail_under_an_enforced_policy_is_a_forged_sender(results: str) -> None:
    found = auth(results)
    assert found.spam and found.source == SpamSource.DMARC
    assert "bank.example" in found.reason
    assert found.header.startswith("Authentication-Results: mx.itservice.example;")


def test_spf_fail_for_the_from_domain_is_a_forged_sender() -> None:
    found = auth(f"{MX}; spf=fail (sender IP is 198.51.100.7) smtp.mailfrom=konto@bank.example")
    assert found.spam and found.source == SpamSource.SPF


@pytest.mark.parametrize(
    "results",
    [
        f"{MX}; dmarc=pass header.from=bank.example",
        f"{MX}; dmarc=fail (p=none dis=none) header.from=bank.example",
        f"{MX}; dmarc=fail header.from=bank.example",  # no policy said: not enforced
        f"{MX}; spf=softfail smtp.mailfrom=konto@bank.example",
        f"{MX}; spf=fail smtp.mailfrom=bounces@mailer.example",  # not the From domain
        f"{MX}; dmarc=fail (p=reject) header.from=other.example",
        "mx.somebody-else.example; dmarc=fail (p=reject) header.from=bank.example",
    ],
)
def test_a_pass_or_an_unenforced_failure_is_no_forgery(results: str) -> None:
    assert not auth(results).spam


def test_a_failure_written_below_our_received_decides_nothing() -> None:
    found = auth(f"{MX}; dmarc=fail (p=reject) header.from=bank.example", above=False)
    assert not found.spam


def test_without_mx_the_topmost_results_of_our_server_count() -> None:
    config = replace(CONFIG, spam=SpamConfig())
    results = f"Authentication-Results: {MX}; dmarc=fail (p=reject) header.from=bank.example"
    raw = f"{results}\r\nFrom: {BANK}\r\nSubject: x\r\n\r\nHallo\r\n".encode()
    assert verdict(raw, config).source == SpamSource.DMARC
    # Not topmost: another server's header stands above it.
    other = "Authentication-Results: relay.example; none"
    assert not verdict(f"{other}\r\n{raw.decode()}".encode(), config).spam
