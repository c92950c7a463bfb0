"""judge: everything mailbot concludes about one message, without touching the store.

Shared by ``mailbot classify`` (which only prints it) and the process stage (which
acts on it), so both always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mailbot.classify import Classifier
from mailbot.config import Config, CustomerConfig
from mailbot.mail.automated import detect_automated
from mailbot.mail.parse import ParsedMail
from mailbot.mail.quotes import new_text
from mailbot.mail.spam import NOT_SPAM, SpamVerdict, spam_verdict
from mailbot.sla import BusinessCalendar, Plan, plan
from mailbot.triage import Classification, Urgency


@dataclass(frozen=True)
class Judgement:
    mail: ParsedMail
    #: the new text: quoted history and signature removed
    body: str
    automated: bool
    automated_reasons: tuple[str, ...]
    #: from one of our own addresses (see ``detect_automated``)
    own_mail: bool
    classification: Classification
    #: the Date header, or the arrival time when the header is missing or absurd
    sent_at: datetime
    customer: CustomerConfig | None
    contract: bool
    #: None for automated mail: nobody is promised anything
    plan: Plan | None
    staff_sender: bool
    monitoring_sender: bool
    #: what our receiving server said: spam or a forged sender, with the header
    spam: SpamVerdict = NOT_SPAM

    @property
    def information(self) -> bool:
        """A robot's mail that is nobody's work: a newsletter, a list, a notification,
        an auto-reply, a report. Our own mail and mail from the monitoring (an alarm,
        or a message from it that was not read as one) are not: they have ways of
        their own."""
        return (
            self.automated
            and not self.own_mail
            and not self.monitoring_sender
            and self.classification.alarm is None
        )


class Judge:
    """Holds what is expensive to load (the spaCy pipelines, the holiday calendar)."""

    def __init__(self, config: Config, classifier: Classifier | None = None) -> None:
        self.config = config
        self.calendar = BusinessCalendar(config.sla)
        # A shared classifier (tests, several runtimes) still resolves deadlines in
        # this configuration's zone.
        zone = self.calendar.zone
        self.classifier = classifier.in_zone(zone) if classifier else Classifier.load(zone=zone)

    def judge(
        self,
        mail: ParsedMail,
        arrival: datetime | None = None,
        *,
        clock_from: datetime | None = None,
    ) -> Judgement:
        """``clock_from``: the reaction time counts from then, not from the mail's
        Date (a mail released from spam: nobody saw it as work before)."""
        arrival = arrival or datetime.now(UTC)
        sent_at = mail.date if _plausible(mail.date, arrival) else arrival
        assert sent_at is not None
        body = new_text(mail.text)
        verdict = detect_automated(
            mail,
            own_addresses=self.config.own_addresses,
            monitoring_senders=self.config.monitoring.senders,
            own_words=body,
        )
        monitoring = self.config.is_monitoring(mail.from_addr)
        classification = self.classifier.classify(
            mail.subject, body, sent_at, sender=mail.from_addr, monitoring_sender=monitoring
        )
        reasons = list(verdict.reasons)
        if classification.alarm is not None and not reasons:
            reasons.append(f"monitoring alarm ({classification.alarm.system})")
        automated = bool(reasons)
        if automated and (
            classification.urgency != Urgency.NONE
            or classification.deadline is not None
            or classification.planned_change
        ):
            # Urgency, deadlines and planned changes are what a customer asks for; an
            # out-of-office note's "bis 23.11." or a newsletter's "sofort patchen" is not.
            classification = replace(
                classification, urgency=Urgency.NONE, deadline=None, planned_change=False
            )
        customer = self.config.customer_for(mail.from_addr) if mail.from_addr else None
        contract = bool(customer and customer.contract)
        # The customer reported it when the mail was written (a backlog on our side must
        # not stretch the promise); a Date in the future is a wrong clock, not a delay.
        clock_from = clock_from or min(sent_at, arrival)
        the_plan = None
        if not automated:
            the_plan = plan(
                clock_from,
                classification.priority,
                contract,
                classification.urgency,
                classification.deadline,
                classification.planned_change,
                self.calendar,
            )
        return Judgement(
            mail=mail,
            body=body,
            automated=automated,
            automated_reasons=tuple(reasons),
            own_mail=verdict.own_mail,
            classification=classification,
            sent_at=sent_at,
            customer=customer,
            contract=contract,
            plan=the_plan,
            staff_sender=self.config.is_staff(mail.from_addr),
            monitoring_sender=monitoring,
            spam=spam_verdict(mail, self.config),
        )


def _plausible(date: datetime | None, arrival: datetime) -> bool:
    """A Date header more than a year off, or in the future, is not believed."""
    if date is None:
        return False
    delta = (arrival - date).total_seconds()
    return -36 * 3600 < delta < 366 * 86400
