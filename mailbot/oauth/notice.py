"""Telling staff once that a token set broke: which mailboxes stopped, why, and the
command that fixes it.

The mail goes through the outbox like every other staff mail, unless the relay itself
logs in with the broken set: then it could never be sent, and it is written straight
into the Maildir outbox (``[store] outbox``), where a Maildir-reading setup or a
person finds it.
"""

from __future__ import annotations

import logging
import mailbox
from datetime import datetime

from sqlmodel import Session

from mailbot.config import Config, OAuthConfig
from mailbot.kinds import AuthMethod, OAuthFlow, OutboxKind
from mailbot.outbound.mime import compose
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer, domain_of, new_message_id

log = logging.getLogger(__name__)


def users_of(config: Config, name: str) -> list[str]:
    """What logs in with the token set ``name``: mailbox names, and "smtp"."""
    users = [box.name for box in config.imap if box.auth == AuthMethod.OAUTH2 and box.oauth == name]
    smtp = config.smtp
    if smtp is not None and smtp.auth == AuthMethod.OAUTH2 and smtp.oauth == name:
        users.append("smtp")
    return users


def tell_staff(db: Session, config: Config, cfg: OAuthConfig, problem: str, now: datetime) -> None:
    notify = config.staff.notify
    if not notify:
        log.error("%s broke and [staff] notify is not set: nobody is told by mail", cfg.name)
        return
    renderer = Renderer()
    lang = config.staff.language
    users = users_of(config, cfg.name) or [cfg.name]
    context = {
        "token_set": cfg.name,
        "users": users,
        "problem": problem,
        "provider": cfg.provider,
        "command": f"mailbot auth login {cfg.name}",
        "app_only": cfg.flow == OAuthFlow.CLIENT_CREDENTIALS,
    }
    subject = renderer.subject("oauth_broken", lang, **context)
    body = renderer.render("oauth_broken", lang, title=subject, **context)
    if "smtp" not in users:
        Outgoing(config).queue(
            db, kind=OutboxKind.OAUTH_BROKEN, ticket=None, to=[notify], subject=subject,
            body=body, now=now, auto_reply=False,
        )
        return
    raw = compose(
        from_header=config.service.from_header, to=[notify], subject=subject, body=body,
        message_id=new_message_id(domain_of(config.service.from_header)), auto_reply=False,
        now=now,
    )
    config.outbox_dir.parent.mkdir(parents=True, exist_ok=True)
    key = mailbox.Maildir(config.outbox_dir, factory=None, create=True).add(raw)
    log.error("%s: the relay cannot send; staff notice written to %s/new/%s",
              cfg.name, config.outbox_dir, key)
