"""The triage classifier: subject + new text -> priority, urgency, deadline, planned change.

Rules over pattern evidence (``models/patterns``): every decision can be explained
by the strings in ``Classification.reasons``. Where the rules are unsure whether a mail
is a planned change, a small trained text classifier (``models/textcat``, built by
``mailbot train``) decides, and says so in the reasons.

    clf = Classifier.load(zone=ZoneInfo(config.sla.timezone))
    c = clf.classify(subject, new_text(body), sent_at)

This module is the package's whole public face: code outside ``mailbot.classify``
imports from here, never from the ``_private`` modules behind it.
"""

from __future__ import annotations

from mailbot.classify._classifier import DEFAULT_ZONE, JUDGED_CHARS, Classifier
from mailbot.classify._deadline import Deadline, find_deadline
from mailbot.classify._evaluate import EvaluationReport, evaluate, format_report
from mailbot.classify._examples import (
    MODEL_FIELDS,
    LabelledExample,
    example_line,
    json_key,
    label_code,
    read_examples,
)
from mailbot.classify._monitoring import parse_alarm, state_priority
from mailbot.classify._nlp import default_models_dir
from mailbot.classify._textcat import PlannedModel
from mailbot.classify._train import (
    CrossValidation,
    LabelledMail,
    cross_validate,
    read_training_set,
    train_to,
)

__all__ = [
    "DEFAULT_ZONE",
    "JUDGED_CHARS",
    "MODEL_FIELDS",
    "Classifier",
    "CrossValidation",
    "Deadline",
    "EvaluationReport",
    "LabelledExample",
    "LabelledMail",
    "PlannedModel",
    "cross_validate",
    "default_models_dir",
    "evaluate",
    "example_line",
    "find_deadline",
    "format_report",
    "json_key",
    "label_code",
    "parse_alarm",
    "read_examples",
    "read_training_set",
    "state_priority",
    "train_to",
]

