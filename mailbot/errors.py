"""One error hierarchy for mailbot.

Each class also derives from the builtin error it resembles, so callers can catch
either (``FetchTimeoutError`` is a ``TimeoutError``).
"""

from __future__ import annotations

from pathlib import Path


class MailbotError(Exception):
    """Base of every error mailbot raises on purpose."""


class ConfigError(MailbotError, ValueError):
    """A missing or wrong configuration key; the message is one line for the operator."""

    def __init__(self, key: str, path: Path | str | None, problem: str) -> None:
        self.key = key
        self.path = str(path) if path is not None else "<defaults>"
        self.problem = problem
        super().__init__(f"{self.path}: {key}: {problem}")


class ParseError(MailbotError, ValueError):
    """A message that cannot be parsed safely; it goes to quarantine with this reason."""


class MessageTooLargeError(ParseError):
    """Over the configured size limit."""


class FetchError(MailbotError, ConnectionError):
    """The IMAP side failed; the mail stays on the server, unflagged."""


class FetchTimeoutError(FetchError, TimeoutError):
    """The IMAP server did not answer in time."""


class SendError(MailbotError, ConnectionError):
    """The SMTP side failed."""


class TransientSendError(SendError):
    """4xx reply or a lost connection: retry later."""


class PermanentSendError(SendError):
    """5xx reply: the mail will not be retried."""


class SendTimeoutError(TransientSendError, TimeoutError):
    """The SMTP server did not answer in time."""


class TokenError(MailbotError):
    """An OAuth2 access token for a ``[oauth.NAME]`` token set could not be had."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"OAuth2 token set {name}: {problem}")


class TokenRefusedError(TokenError):
    """Refused for good (``invalid_grant``: revoked consent, a changed password, an
    expired refresh token; a wrong client secret; no login yet): it takes a new login
    or a fixed configuration, not another try."""


class TokenUnavailableError(TokenError, ConnectionError):
    """The provider could not be reached, or answered that it cannot now: try again."""
