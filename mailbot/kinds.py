"""The words mailbot keeps for states and kinds: ticket, inbound and outbox statuses,
what an outgoing mail is, who wrote a message, what an event records.

Each is a ``StrEnum``: the stored value is the member's value, so rows written before
these types existed read back unchanged, and a comparison with the enum member is a
comparison with the stored text. Pure (no imports of mailbot), so every stage, the
pure mail stage included, can name them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class TicketStatus(StrEnum):
    OPEN = "open"
    WAITING = "waiting"
    SOLVED = "solved"


#: a ticket in these states is in the order of work
OPEN_STATES: tuple[TicketStatus, ...] = (TicketStatus.OPEN, TicketStatus.WAITING)


class InboundStatus(StrEnum):
    NEW = "new"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"


class InboundDisposition(StrEnum):
    """What a processed mail turned out to be when it is no work of its own (the
    ``inbound.disposition`` column, migration 0009); NULL for the rest (tickets,
    follow-ups, technicians' replies, our own mail)."""

    #: held: our receiving server's verdict or a forged sender; never answered, never
    #: in the order of work, until a technician releases it
    SPAM = "spam"
    #: was spam, a technician released it: processed again as a customer's mail
    RELEASED = "released"
    #: a robot's mail (newsletter, list, notification, auto-reply, report): stored,
    #: never answered, attached to the ticket it refers to or listed by ``tickets --info``
    INFO = "info"


class SpamSource(StrEnum):
    """Who said a mail is spam: the filter of our receiving server, or its
    authentication of the sender (RFC 8601)."""

    SPAMASSASSIN = "spamassassin"
    RSPAMD = "rspamd"
    EXCHANGE = "exchange"
    DMARC = "dmarc"
    SPF = "spf"


class QuarantineReason(StrEnum):
    """Why an inbound mail is in quarantine; code decides on this, the error text is
    for people."""

    #: over the size limit: never downloaded (a placeholder from fetch) or refused by
    #: the parser; technicians are told, or the mail waits on the server unseen
    TOO_LARGE = "too_large"
    #: the parser refused it (broken, or a MIME tree beyond the limits)
    UNPARSABLE = "unparsable"
    #: the unique-constraint race with another worker went on past the retries
    CONFLICT = "conflict"
    #: anything else that went wrong while processing it
    FAILED = "failed"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    #: a staff announcement or reminder that went out inside a summary mail
    FOLDED = "folded"


class OutboxKind(StrEnum):
    """What an outgoing mail is; the order of sending and the auto-reply caps use it."""

    ACK = "ack"
    UPDATE = "update"
    NOTIFY = "notify"
    ONCALL = "oncall"
    RELAY = "relay"
    REMINDER = "reminder"
    #: one mail to staff in place of the announcements and reminders queued behind
    #: the relay's limit
    SUMMARY = "summary"
    #: to staff: a mailbox's OAuth2 sign-in failed for good and needs a new login
    OAUTH_BROKEN = "oauth_broken"
    #: the daily list of the spam held, to staff; a reply with #kein-spam releases
    SPAM_NOTICE = "spam_notice"


#: acknowledgements: automatic answers to a customer, capped per recipient (RFC 3834)
AUTO_REPLY_KINDS: frozenset[OutboxKind] = frozenset({OutboxKind.ACK, OutboxKind.UPDATE})
#: mail to the technicians: the staff side of a ticket's conversation
STAFF_KINDS: frozenset[OutboxKind] = frozenset(
    {OutboxKind.NOTIFY, OutboxKind.ONCALL, OutboxKind.REMINDER}
)


class ConversationSide(StrEnum):
    """The two conversations a ticket has in the mail programs of the people in it:
    the customer's (their mail, our acknowledgements and relays) and the technicians'
    (announcements, pages, reminders and their replies). Not stored: it follows from
    a message's direction and author, or its outbox kind."""

    CUSTOMER = "customer"
    STAFF = "staff"


class SendRank(IntEnum):
    """The order the outbox is sent in, lowest first, as the service page ranks the
    work: the critical before everything, the customer before the staff."""

    #: pages to the on-call technician, acknowledgements of critical tickets
    CRITICAL = 0
    #: technicians' replies relayed to customers
    RELAY = 1
    #: other acknowledgements and updates to customers
    CUSTOMER = 2
    #: announcements, reminders and summaries to staff
    STAFF = 3

    @classmethod
    def of(cls, kind: OutboxKind, *, critical: bool) -> SendRank:
        if kind == OutboxKind.ONCALL or (critical and kind in AUTO_REPLY_KINDS):
            return cls.CRITICAL
        if kind == OutboxKind.RELAY:
            return cls.RELAY
        if kind in AUTO_REPLY_KINDS:
            return cls.CUSTOMER
        return cls.STAFF


#: staff mail that may be folded into a summary while it waits behind the limit
FOLDABLE_KINDS: frozenset[OutboxKind] = frozenset({OutboxKind.NOTIFY, OutboxKind.REMINDER})


class AttachmentFate(StrEnum):
    """What became of a stored file in a mail we send (an announcement, a relay)."""

    ATTACHED = "attached"
    #: beyond ``[limits] forward_attachments_mb`` with the files before it: named only
    TOO_LARGE = "too_large"
    #: a program or script: named and marked, never sent along
    PROGRAM = "program"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class AuthorKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    MONITORING = "monitoring"
    BOT = "bot"


class EventKind(StrEnum):
    """The decisions recorded as events: what happened to a mail or a ticket."""

    # a mail arrives
    TICKET_OPENED = "ticket_opened"
    MESSAGE_ADDED = "message_added"
    CLASSIFIED = "classified"
    #: the classification is unsure: the other reading and why
    UNSURE = "unsure"
    SLA = "sla"
    REPLANNED = "replanned"
    AUTOMATED = "automated"
    OWN_MAIL_IGNORED = "own_mail_ignored"
    BOUNCED = "bounced"
    QUARANTINED = "quarantined"
    RETRY = "retry"
    TOO_LARGE_NOTIFIED = "too_large_notified"
    #: held as spam, with the header that decided
    SPAM = "spam"
    #: spam headers that came with the mail (below our server's Received): ignored
    SPAM_HEADERS_IGNORED = "spam_headers_ignored"
    #: a technician (command) or an operator (CLI) said it is no spam
    SPAM_RELEASED = "spam_released"
    SPAM_NOTICE_QUEUED = "spam_notice_queued"
    #: a robot's mail stored as information: attached to a ticket or listed
    INFORMATION = "information"
    # the answer to it
    ACK_QUEUED = "ack_queued"
    ACK_SUPPRESSED = "ack_suppressed"
    NOTIFY_QUEUED = "notify_queued"
    ONCALL_QUEUED = "oncall_queued"
    #: an announcement or reminder went out inside a summary (the relay's limit)
    STAFF_MAIL_FOLDED = "staff_mail_folded"
    # ticket fields
    PRIORITY_CHANGED = "priority_changed"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    # technicians
    STAFF_VERIFIED = "staff_verified"
    STAFF_UNVERIFIED = "staff_unverified"
    COMMANDS_UNKNOWN = "commands_unknown"
    INTERNAL_NOTE = "internal_note"
    RELAYED = "relayed"
    RELAY_SKIPPED = "relay_skipped"
    #: a technician's file that did not go to the customer (a program, or too large)
    ATTACHMENT_WITHHELD = "attachment_withheld"
    # monitoring alarms
    ALARM_REPEAT = "alarm_repeat"
    ALARM_RECOVERY = "alarm_recovery"
    # the SLA clock
    ESCALATED = "escalated"


class DoubtKind(StrEnum):
    """Why a judgement is marked unsure (``Classification.doubt``)."""

    #: critical on one cue or on an inference (several systems down at once, an admin
    #: account doing what nobody here did, only the subject saying so)
    WEAK_EVIDENCE = "weak_evidence"
    #: the rules read the mail two ways (everyone's outage, and one user's)
    RULES_DISAGREE = "rules_disagree"
    #: the planned-change model's probability lies close to its threshold
    MODEL_DISAGREES = "model_disagrees"


class LabelField(StrEnum):
    """The classifier's judgements of a ticket that a technician may correct; each
    value is the ticket's column (and the key of the stored evidence)."""

    PRIORITY = "priority"
    URGENCY = "urgency"
    DEADLINE = "deadline"
    PLANNED_CHANGE = "planned_change"


class CorrectionSource(StrEnum):
    """Where a technician's label came from."""

    #: a command line (``#prio``) in a mail our server authenticated
    COMMAND = "command"
    #: a form of a web view (none yet): the same row, without a mail behind it
    WEB = "web"


# not stored: how ``evaluate --corrections`` groups the tickets it counts
class ReportPeriod(StrEnum):
    WEEK = "week"
    MONTH = "month"


# not stored: what processing one mail came to
class OutcomeStatus(StrEnum):
    PROCESSED = "processed"
    QUARANTINED = "quarantined"
    #: another worker has it, or it is no longer new
    SKIPPED = "skipped"


# -- signing in to the mail servers -------------------------------------------------------


class AuthMethod(StrEnum):
    """How mailbot logs in to an IMAP or SMTP server (``auth`` in ``[imap]``, ``[smtp]``
    and ``[[mailboxes]]``)."""

    PASSWORD = "password"
    OAUTH2 = "oauth2"


class SaslMechanism(StrEnum):
    """The SASL mechanism that carries an OAuth2 access token (``mechanism``)."""

    #: Google's and Microsoft's: the one Exchange Online takes
    XOAUTH2 = "xoauth2"
    #: RFC 7628, the standard one (Google, Dovecot)
    OAUTHBEARER = "oauthbearer"


class OAuthProvider(StrEnum):
    MICROSOFT = "microsoft"
    GOOGLE = "google"
    #: any RFC 6749 server: its endpoints are configured
    GENERIC = "generic"


class OAuthFlow(StrEnum):
    """How a token set is obtained (``flow`` in ``[oauth.NAME]``)."""

    #: RFC 8628: a code typed in at the provider's page from any browser
    DEVICE = "device"
    #: RFC 6749 4.1 with PKCE (RFC 7636): the browser comes back to a loopback port
    AUTHORIZATION_CODE = "authorization_code"
    #: RFC 6749 4.4: the app itself, no person's account (Microsoft 365 app-only)
    CLIENT_CREDENTIALS = "client_credentials"


class TokenState(StrEnum):
    """What ``mailbot auth status`` says of a token set. Not stored: it follows from
    the row (or its absence)."""

    OK = "ok"
    #: no login yet
    MISSING = "missing"
    #: the provider refused a refresh for good: a new login is needed
    BROKEN = "broken"
