"""The classifier: one message's subject, new text and date in, a ``Classification`` out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from mailbot.classify._deadline import Deadline, find_deadline, local_day
from mailbot.classify._decide import judge
from mailbot.classify._evidence import gather, is_reply_subject
from mailbot.classify._language import detect_language
from mailbot.classify._monitoring import parse_alarm, state_priority
from mailbot.classify._nlp import Pipelines, default_models_dir, load_pipelines
from mailbot.classify._reasons import alarm_reason, deadline_reason, doubt_of, render
from mailbot.classify._textcat import LazyPlannedModel, PlannedModel
from mailbot.sla import SlaSettings
from mailbot.triage import Classification, Priority, Urgency

__all__ = ["DEFAULT_ZONE", "JUDGED_CHARS", "Classifier"]

#: The zone a classifier resolves "bis Freitag" in when its caller names none: the
#: SLA settings' default, so that a configuration without ``[sla]`` means one zone.
DEFAULT_ZONE = ZoneInfo(SlaSettings().timezone)

#: characters of the new text that are judged. What the writer says comes first; what
#: follows a long text is a pasted log or listing. spaCy refuses texts over 1,000,000
#: characters, and judging time grows with the length.
JUDGED_CHARS = 100_000


class Classifier:
    """Holds the spaCy pipelines; load once per process, classify many times."""

    def __init__(
        self,
        pipes: Pipelines,
        planned_model: PlannedModel | LazyPlannedModel | None = None,
        *,
        zone: ZoneInfo = DEFAULT_ZONE,
    ) -> None:
        self._pipes = pipes
        self._planned_model = planned_model
        #: the service's zone: a mail sent at 23:30 UTC on a Thursday says "morgen"
        #: about Saturday in Berlin, so deadlines are resolved against its local day
        self.zone = zone

    @classmethod
    def load(cls, models_dir: Path | None = None, *, zone: ZoneInfo = DEFAULT_ZONE) -> Classifier:
        directory = models_dir or default_models_dir()
        return cls(load_pipelines(directory), LazyPlannedModel(directory / "textcat"), zone=zone)

    def with_planned_model(self, model: PlannedModel | None) -> Classifier:
        """The same rules with another second opinion (cross-validation; None: rules only)."""
        return Classifier(self._pipes, model, zone=self.zone)

    def in_zone(self, zone: ZoneInfo) -> Classifier:
        """The same pipelines resolving deadlines in ``zone`` (itself if it already does)."""
        if zone == self.zone:
            return self
        return Classifier(self._pipes, self._planned_model, zone=zone)

    def warm(self) -> None:
        """Load what is otherwise loaded on first use (the planned-change model)."""
        if isinstance(self._planned_model, LazyPlannedModel):
            self._planned_model.load()

    def classify(
        self,
        subject: str,
        text: str,
        sent_at: datetime,
        *,
        sender: str = "",
        monitoring_sender: bool = False,
    ) -> Classification:
        """Judge one message. ``text`` is the body already passed through ``new_text``;
        only its first ``JUDGED_CHARS`` characters count (cut at a line end)."""
        if len(text) > JUDGED_CHARS:
            text = text[:JUDGED_CHARS].rpartition("\n")[0] or text[:JUDGED_CHARS]
        language = detect_language(text, subject).language
        alarm = parse_alarm(subject, text)
        if alarm is not None:
            priority = Priority(state_priority(alarm))
            return Classification(
                language=language,
                priority=priority,
                urgency=Urgency.NONE,
                deadline=None,
                planned_change=False,
                reasons=(alarm_reason(alarm, language),),
                category="monitoring",
                resolved=alarm.recovery,
                alarm=alarm,
                basis=(alarm_reason(alarm, language),),
            )
        reply = is_reply_subject(subject)
        evidence = gather(self._pipes, subject, text)
        model = self._planned_model
        verdict = judge(
            evidence,
            reply_subject=reply,
            second_opinion=None if model is None else (lambda: model.score(subject, text)),
        )
        deadline: Deadline | None = find_deadline(
            text if reply else f"{' '.join(subject.split())}\n{text}",
            sent_at,
            zone=self.zone,
            planned=verdict.planned_change,
        )
        urgency = Urgency(verdict.urgency)
        extra: list[tuple[str, str]] = []
        if (
            deadline is not None
            and urgency is Urgency.NONE
            and not verdict.planned_change
            and deadline.day <= local_day(sent_at, self.zone)
        ):
            # "muss heute raus", "by 12 noon today": a deadline that runs out today is
            # the threat triage.md counts as urgent, in whatever words.
            urgency = Urgency.URGENT
            extra.append(("urgent_today", deadline.phrase))
        reasons = list(render((*verdict.reasons, *extra), language))
        if deadline is not None:
            reasons.append(deadline_reason(deadline, language))
        return Classification(
            language=language,
            priority=Priority(verdict.priority),
            urgency=urgency,
            deadline=deadline.day if deadline else None,
            planned_change=verdict.planned_change,
            reasons=tuple(reasons),
            category=verdict.category,
            resolved=verdict.resolved,
            alarm=None,
            doubt=doubt_of(verdict.doubt, language),
            basis=render(verdict.basis, language),
        )
