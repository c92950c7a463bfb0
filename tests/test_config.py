"""Configuration: one clear line naming the key and the file for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.config import load_config
from mailbot.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.path is None
    assert cfg.store_url == f"sqlite:///{tmp_path.resolve()}/mailbot.db"
    assert cfg.outbox_dir == tmp_path.resolve() / "outbox"
    assert cfg.smtp is None and cfg.imap == ()
    assert cfg.limits.forward_attachments_mb == 10
    assert cfg.limits.forward_attachment_bytes == 10 * 1024 * 1024


def test_forward_attachments_limit_is_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[limits]\nforward_attachments_mb = 3\n"))
    assert cfg.limits.forward_attachment_bytes == 3 * 1024 * 1024


def test_env_variable_and_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[service]\nname = "From env"\n', encoding="utf-8")
    write(tmp_path, '[service]\nname = "Local"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILBOT_CONFIG", str(other))
    assert load_config().service.name == "From env"
    monkeypatch.delenv("MAILBOT_CONFIG")
    assert load_config().service.name == "Local"


def test_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAP_PW", "s3cret")
    cfg = load_config(write(tmp_path, """
[imap]
host = "imap.example.net"
username = "service"
password_env = "IMAP_PW"
"""))
    assert cfg.imap[0].password == "s3cret"
    assert cfg.imap[0].port == 993 and cfg.imap[0].security == "ssl"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[imap]\nusername = "x"\n', "imap.host"),
        ('[imap]\nhost = "h"\nusername = "x"\nsecurity = "tls"\n', "imap.security"),
        ('[imap]\nhost = "h"\nusername = "x"\nport = "993"\n', "imap.port"),
        ('[imap]\nhost = "h"\nusername = "x"\npassword_env = "NOPE_NOT_SET"\n',
         "imap.password_env"),
        ('[smtp]\nhost = "h"\nfrom_address = "nobody"\n', "smtp.from_address"),
        ('[staff]\ndomains = "itservice.example"\n', "staff.domains"),
        ('[[customers]]\nname = "x"\n', "customers[0].domain"),
        ('[[customers]]\ndomain = "a.example"\ncontract = "yes"\n', "customers[0].contract"),
        ('[store]\nurl = "sqlite:///x.db"\nurll = 1\n', "store.urll"),
        ('[limits]\nacks_per_hour = -1\n', "limits.acks_per_hour"),
        ('[limits]\nforward_attachments_mb = -1\n', "limits.forward_attachments_mb"),
        ('[limits]\nforward_attachments_mb = "10 MB"\n', "limits.forward_attachments_mb"),
        ("[bogus]\n", "bogus"),
        ('[sla]\nhours = { mon = "19:00-07:00" }\n', "sla.hours.mon"),
        ("[sla.targets]\nurgent = [60, 240]\n", "sla.targets.urgent"),
        ("[sla]\ntimezone = 1\n", "sla.timezone"),
        ("sla = 5\n", "sla"),
        ('[spam]\nmx = 5\n', "spam.mx"),
        ('[spam]\nmx = ["mx.a.example", ""]\n', "spam.mx"),
        ('[spam]\nserver_strips_foreign_headers = "yes"\n', "spam.server_strips_foreign_headers"),
        ('[spam]\nrspamd_score = -1\n', "spam.rspamd_score"),
        ('[spam]\nexchange_scl = 0\n', "spam.exchange_scl"),
        ('[spam]\nnotice_at = "25:00"\n', "spam.notice_at"),
        ('[spam]\nthreshold = 5\n', "spam.threshold"),
    ],
)
def test_errors_name_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert key in message
    assert str(path) in message
    assert "\n" not in message


def test_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    """One reader for every table, [sla] included: a typo is answered with the right names."""
    for text, known in (
        ('[service]\nnam = "x"\n', "name, address, hotline, from_address"),
        ("[sla]\nholiday = 1\n", "timezone, country, subdivision, hours"),
    ):
        with pytest.raises(ConfigError, match=f"unknown key; known: {known}"):
            load_config(write(tmp_path, text))


def test_syntax_error_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[imap\nhost=")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_customer_lookup_by_domain_and_host(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[[customers]]
domain = "mueller-steuerberatung.example"
name = "Müller"
contract = true
"""))
    found = cfg.customer_for("k.mueller@mueller-steuerberatung.example")
    assert found is not None and found.contract
    assert cfg.customer_for("x@mueller-steuerberatung.example.evil.example") is None
    host = cfg.customer_for_host("fs01.mueller-steuerberatung")
    assert host is not None and host.name == "Müller"


def test_spam_section(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[spam]
mx = ["MX1.itservice.example", ".protection.outlook.example"]
server_strips_foreign_headers = true
spamassassin_score = 6.5
rspamd_score = 7
rspamd_actions = ["Reject"]
exchange_scl = 6
notice_at = "07:30"
"""))
    spam = cfg.spam
    assert spam.mx == ("mx1.itservice.example", ".protection.outlook.example")
    assert spam.server_strips_foreign_headers
    assert (spam.spamassassin_score, spam.rspamd_score, spam.exchange_scl) == (6.5, 7.0, 6)
    assert spam.rspamd_actions == ("reject",)
    assert (spam.notice_at.hour, spam.notice_at.minute) == (7, 30)
    # One host name needs no list; without the section the defaults hold.
    assert load_config(write(tmp_path, '[spam]\nmx = "mx.a.example"\n')).spam.mx == (
        "mx.a.example",
    )
    default = load_config(write(tmp_path, "")).spam
    assert default.mx == () and not default.server_strips_foreign_headers
    assert default.rspamd_score == 6.0 and "add header" in default.rspamd_actions
