"""Measure the classifier against labelled mail (labels.jsonl beside <id>.eml files).

The caller supplies ``predict(eml_path) -> dict`` (the CLI parses the .eml);
this module only compares and counts, so it works for any predictor.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EvaluationReport", "LabelScores", "evaluate", "format_report"]

_FIELDS = ("priority", "urgency", "language", "planned_change", "automated")


@dataclass(frozen=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class FieldReport:
    name: str
    accuracy: float
    per_label: dict[str, LabelScores]
    #: (expected, predicted) -> count
    confusion: dict[tuple[str, str], int]

    @property
    def macro_f1(self) -> float:
        scores = [s.f1 for s in self.per_label.values() if s.support > 0]
        return sum(scores) / len(scores) if scores else 0.0


@dataclass
class EvaluationReport:
    total: int
    fields: dict[str, FieldReport]
    deadline_accuracy: float
    critical_recall: float
    priority_macro_f1: float
    customer_marked_automated: int
    #: id -> {field: (expected, predicted)}
    misclassified: dict[str, dict[str, tuple[object, object]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _key(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _field_report(name: str, pairs: list[tuple[str, str]]) -> FieldReport:
    confusion = Counter(pairs)
    labels = sorted({e for e, _ in pairs} | {p for _, p in pairs})
    per_label: dict[str, LabelScores] = {}
    for label in labels:
        tp = confusion[(label, label)]
        predicted = sum(1 for _, p in pairs if p == label)
        actual = sum(1 for e, _ in pairs if e == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScores(precision, recall, f1, actual)
    correct = sum(1 for e, p in pairs if e == p)
    return FieldReport(name, correct / len(pairs) if pairs else 0.0, per_label, dict(confusion))


def evaluate(
    path: Path | Sequence[Path], predict: Callable[[Path], dict[str, object]]
) -> EvaluationReport:
    """Every labelled set under ``path`` (one folder, or several measured together:
    ``eval/de`` and ``eval/en`` without ``eval/frozen``)."""
    pairs: dict[str, list[tuple[str, str]]] = {f: [] for f in _FIELDS}
    deadline_hits = 0
    customer_automated = 0
    total = 0
    misclassified: dict[str, dict[str, tuple[object, object]]] = {}
    errors: dict[str, str] = {}
    folders = [path] if isinstance(path, Path) else list(path)
    found = sorted({f for folder in folders for f in folder.rglob("labels.jsonl")})
    for labels_file in found:
        for line in labels_file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            expected = json.loads(line)
            ident = str(expected["id"])
            eml = labels_file.parent / f"{ident}.eml"
            try:
                got = predict(eml)
            except Exception as exc:  # a broken file is reported, the run goes on
                errors[ident] = f"{type(exc).__name__}: {exc}"
                continue
            total += 1
            wrong: dict[str, tuple[object, object]] = {}
            for name in _FIELDS:
                e, p = _key(expected.get(name)), _key(got.get(name))
                pairs[name].append((e, p))
                if e != p:
                    wrong[name] = (expected.get(name), got.get(name))
            if _key(expected.get("deadline")) == _key(got.get("deadline")):
                deadline_hits += 1
            else:
                wrong["deadline"] = (expected.get("deadline"), got.get("deadline"))
            if expected.get("automated") is False and got.get("automated") is True:
                customer_automated += 1
            if wrong:
                misclassified[ident] = wrong
    fields = {name: _field_report(name, pairs[name]) for name in _FIELDS}
    critical = fields["priority"].per_label.get("critical")
    return EvaluationReport(
        total=total,
        fields=fields,
        deadline_accuracy=deadline_hits / total if total else 0.0,
        critical_recall=critical.recall if critical else 0.0,
        priority_macro_f1=fields["priority"].macro_f1,
        customer_marked_automated=customer_automated,
        misclassified=misclassified,
        errors=errors,
    )


def format_report(report: EvaluationReport) -> str:
    lines = [
        f"messages: {report.total}",
        f"critical recall:       {report.critical_recall:.3f}",
        f"priority macro-F1:     {report.priority_macro_f1:.3f}",
        f"urgency accuracy:      {report.fields['urgency'].accuracy:.3f}",
        f"deadline exact day:    {report.deadline_accuracy:.3f}",
        f"planned_change F1:     {report.fields['planned_change'].per_label.get('true', LabelScores(0, 0, 0, 0)).f1:.3f}",  # noqa: E501
        f"language accuracy:     {report.fields['language'].accuracy:.3f}",
        f"customer mail marked automated: {report.customer_marked_automated}",
    ]
    for name, fr in report.fields.items():
        lines.append(f"\n{name}: accuracy {fr.accuracy:.3f}, macro-F1 {fr.macro_f1:.3f}")
        for label, sc in fr.per_label.items():
            lines.append(
                f"  {label:<12} P {sc.precision:.2f}  R {sc.recall:.2f}  "
                f"F1 {sc.f1:.2f}  n={sc.support}"
            )
        labels = sorted({e for e, _ in fr.confusion} | {p for _, p in fr.confusion})
        lines.append("  confusion (rows expected, columns predicted): " + " ".join(labels))
        for e in labels:
            row = " ".join(f"{fr.confusion.get((e, p), 0):>3}" for p in labels)
            lines.append(f"  {e:<12} {row}")
    if report.misclassified:
        lines.append("\nmisclassified:")
        for ident, wrong in sorted(report.misclassified.items()):
            detail = ", ".join(f"{k}: expected {e!r}, got {p!r}" for k, (e, p) in wrong.items())
            lines.append(f"  {ident}: {detail}")
    for ident, err in sorted(report.errors.items()):
        lines.append(f"  {ident}: ERROR {err}")
    return "\n".join(lines)
