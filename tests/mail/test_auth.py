"""auth: a technician is believed only on our own receiving server's word.

The topmost Authentication-Results header must carry ``[staff] authserv_id``; in it,
a dkim, spf or dmarc pass for a staff domain (spf: for the sender's own address)
authenticates. Everything below the topmost header may be the sender's invention.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailbot.config import Config, ServiceConfig, StaffConfig
from mailbot.mail.auth import AuthVerdict, staff_authenticated
from mailbot.mail.parse import ParsedMail, parse_message

OURS = "mx.itservice.example"
CONFIG = Config(
    path=None,
    store_url="sqlite://",
    outbox_dir=Path("outbox"),
    service=ServiceConfig(address="service@itservice.example"),
    staff=StaffConfig(domains=("itservice.example",), authserv_id=OURS),
)


def mail(sender: str, *results: str) -> ParsedMail:
    """A mail from ``sender`` with ``results`` as Authentication-Results, topmost first."""
    head = [f"Authentication-Results: {r}" for r in results]
    head += [f"From: {sender}", "To: service@itservice.example", "Subject: [#1042] Antwort"]
    return parse_message(("\r\n".join(head) + "\r\n\r\nErledigt.\r\n").encode())


def verdict(sender: str, *results: str, config: Config = CONFIG) -> AuthVerdict:
    return staff_authenticated(mail(sender, *results), config)


ANNA = "Anna Technik <anna@itservice.example>"


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (f"{OURS}; dkim=pass header.d=itservice.example", "dkim=pass for itservice.example"),
        # a subdomain of a staff domain signs for it too
        (
            f"{OURS}; dkim=pass header.d=mail.itservice.example",
            "dkim=pass for mail.itservice.example",
        ),
        (f"{OURS}; dkim=pass header.i=@itservice.example", "dkim=pass for @itservice.example"),
        (
            f"{OURS}; spf=pass smtp.mailfrom=anna@itservice.example",
            "spf=pass for anna@itservice.example",
        ),
        # an SPF domain alone (a bounce address without local part) is the domain's word
        (f"{OURS}; spf=pass smtp.mailfrom=itservice.example", "spf=pass for itservice.example"),
        (f"{OURS}; dmarc=pass header.from=itservice.example", "dmarc=pass for itservice.example"),
        # the first pass for a staff domain counts; failures before it do not spoil it
        (
            f"{OURS}; dkim=fail header.d=itservice.example; spf=none; "
            "dmarc=pass header.from=itservice.example",
            "dmarc=pass for itservice.example",
        ),
        # comments, a version after the id and capitals are the MTA's business
        (
            f"{OURS.upper()} 1 (Postfix); DKIM=Pass (2048-bit key) header.d=itservice.example",
            "dkim=pass for itservice.example",
        ),
    ],
)
def test_a_pass_for_a_staff_domain_in_our_header_authenticates(result: str, reason: str) -> None:
    found = verdict(ANNA, result)
    assert found == AuthVerdict(True, reason)


@pytest.mark.parametrize(
    "result",
    [
        f"{OURS}; dkim=fail header.d=itservice.example",
        f"{OURS}; dkim=neutral header.d=itservice.example; spf=softfail "
        "smtp.mailfrom=anna@itservice.example; dmarc=fail header.from=itservice.example",
        f"{OURS}; dkim=none; spf=none; dmarc=none",
        f"{OURS}; dkim=permerror header.d=itservice.example",
        # a pass, but for someone else's domain
        f"{OURS}; dkim=pass header.d=evil.example",
        f"{OURS}; dkim=pass header.d=itservice.example.evil.example",
        f"{OURS}; dkim=pass header.d=evilitservice.example",
        f"{OURS}; dmarc=pass header.from=evil.example",
        # SPF for another staff address is not this sender's pass
        f"{OURS}; spf=pass smtp.mailfrom=bob@itservice.example",
        # the staff domain written inside a comment is no property
        f"{OURS}; dkim=pass (header.d=itservice.example) header.d=evil.example",
    ],
)
def test_anything_but_a_staff_pass_in_our_header_does_not(result: str) -> None:
    found = verdict(ANNA, result)
    assert not found.authenticated
    assert found.reason == "our server reports no dkim, spf or dmarc pass for a staff domain"


def test_only_the_topmost_header_is_read() -> None:
    """The sender writes headers below ours at will, our authserv-id included."""
    forged = f"{OURS}; dkim=pass header.d=itservice.example"
    found = verdict(ANNA, f"{OURS}; dkim=fail header.d=itservice.example", forged)
    assert not found.authenticated
    assert "no dkim, spf or dmarc pass" in found.reason
    # Our header on top, with the pass: the one below changes nothing either way.
    assert verdict(ANNA, forged, f"{OURS}; dkim=fail").authenticated


def test_a_topmost_header_of_another_server_is_not_ours() -> None:
    forged = f"{OURS}; dkim=pass header.d=itservice.example"
    found = verdict(ANNA, "relay.evil.example; dkim=pass header.d=itservice.example", forged)
    assert found == AuthVerdict(
        False, "topmost Authentication-Results is from relay.evil.example, not our server"
    )
    # Our id as a prefix or inside a comment does not make the header ours.
    for top in (f"{OURS}.evil.example; dkim=pass", f"(by {OURS}) relay.evil.example; dkim=pass"):
        assert not verdict(ANNA, top + " header.d=itservice.example").authenticated


def test_a_header_without_an_authserv_id() -> None:
    found = verdict(ANNA, "")
    assert found == AuthVerdict(False, "topmost Authentication-Results is from ?, not our server")
    # Only a result where the id belongs: read as no id, not as a crash.
    found = verdict(ANNA, "; dkim=pass header.d=itservice.example")
    assert found == AuthVerdict(False, "topmost Authentication-Results is from ?, not our server")


def test_without_any_authentication_results() -> None:
    assert verdict(ANNA) == AuthVerdict(False, "no Authentication-Results header")


def test_a_sender_outside_the_staff_domains_is_never_staff() -> None:
    """Even with our server's pass for the staff domain: the From is what is believed."""
    perfect = f"{OURS}; dkim=pass header.d=itservice.example"
    for sender in (
        "kunde@mueller-steuerberatung.example",
        "anna@itservice.example.evil.example",
        "anna@evilitservice.example",
    ):
        found = verdict(sender, perfect)
        assert found == AuthVerdict(False, f"{sender} is not a staff address")
    # An ambiguous From reads as no sender at all (see parse): nobody is staff then.
    found = verdict("anna@itservice.example, bob@itservice.example", perfect)
    assert found == AuthVerdict(False, "sender is not a staff address")


def test_a_subdomain_sender_of_a_staff_domain_is_staff() -> None:
    result = f"{OURS}; dkim=pass header.d=itservice.example"
    found = verdict("anna@berlin.itservice.example", result)
    assert found == AuthVerdict(True, "dkim=pass for itservice.example")


def test_without_a_configured_authserv_id_nobody_is_verified() -> None:
    unset = replace(CONFIG, staff=replace(CONFIG.staff, authserv_id=None))
    found = verdict(ANNA, f"{OURS}; dkim=pass header.d=itservice.example", config=unset)
    assert found == AuthVerdict(
        False, "no [staff] authserv_id configured: no sender can be verified"
    )
