"""Measure matching quality: leave-one-out over stored questions and the labelled eval set.

Used by `returnbot kb test` (which CI runs) and by whoever tunes the matcher. Moderators
read the confusions: pairs of entries that get mixed up, i.e. questions to reword.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.matcher import LANGS, Matcher, MatchResult

UNKNOWN = "unknown"


@dataclass(frozen=True)
class EvalCase:
    """One labelled user message."""

    question: str
    expect: str
    lang: str
    style: str


@dataclass(frozen=True)
class EvalOutcome:
    """A case and what the matcher did with it."""

    case: EvalCase
    result: MatchResult

    @property
    def correct(self) -> bool:
        """Answered the expected entry outright, or refused when it should."""
        if self.case.expect == UNKNOWN:
            return self.result.outcome == "unknown"
        return self.result.outcome == "answer" and self.result.entry_id == self.case.expect

    @property
    def top1(self) -> bool:
        """The best candidate is right (an answer or the first did-you-mean)."""
        if self.case.expect == UNKNOWN:
            return self.result.outcome == "unknown"
        return self.result.outcome != "unknown" and self.result.entry_id == self.case.expect

    @property
    def got(self) -> str:
        """What the matcher chose, as a label."""
        if self.result.outcome == "unknown":
            return UNKNOWN
        prefix = "" if self.result.outcome == "answer" else "clarify:"
        return prefix + (self.result.entry_id or UNKNOWN)


@dataclass
class Report:
    """Aggregated figures of one evaluation run."""

    name: str
    outcomes: list[EvalOutcome] = field(default_factory=list)

    def _share(self, selected: list[EvalOutcome], attr: str = "correct") -> float:
        return sum(getattr(o, attr) for o in selected) / len(selected) if selected else 1.0

    def in_scope(self, lang: str) -> list[EvalOutcome]:
        """Cases in `lang` that the article answers."""
        return [o for o in self.outcomes if o.case.expect != UNKNOWN and o.case.lang == lang]

    def refusals(self, style: str) -> list[EvalOutcome]:
        """Cases labelled unknown of one style (out-of-scope or near-miss)."""
        return [o for o in self.outcomes if o.case.expect == UNKNOWN and o.case.style == style]

    def metrics(self) -> dict[str, float]:
        """Return the headline figures that thresholds are checked against."""
        figures: dict[str, float] = {}
        for lang in LANGS:
            figures[f"{lang}_accuracy"] = self._share(self.in_scope(lang))
            figures[f"{lang}_top1"] = self._share(self.in_scope(lang), "top1")
        figures["out_of_scope_refused"] = self._share(self.refusals("out-of-scope"))
        figures["near_miss_refused"] = self._share(self.refusals("near-miss"))
        wrong = [
            o
            for o in self.outcomes
            if o.result.outcome == "answer" and o.result.entry_id != o.case.expect
        ]
        figures["wrong_answer_rate"] = len(wrong) / len(self.outcomes) if self.outcomes else 0.0
        langs = [o for o in self.outcomes if o.case.lang in LANGS]
        figures["language_accuracy"] = (
            sum(o.result.lang == o.case.lang for o in langs) / len(langs) if langs else 1.0
        )
        return figures

    def confusions(self, limit: int = 15) -> list[tuple[str, str, int]]:
        """Return the most frequent (expected, got) mistakes."""
        counter = Counter((o.case.expect, o.got) for o in self.outcomes if not o.correct)
        return [(a, b, n) for (a, b), n in counter.most_common(limit)]

    def by_style(self) -> dict[str, tuple[int, int]]:
        """Return correct/total per style."""
        table: dict[str, list[int]] = {}
        for o in self.outcomes:
            row = table.setdefault(f"{o.case.lang}/{o.case.style}", [0, 0])
            row[0] += o.correct
            row[1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(table.items())}


def load_cases(path: Path) -> list[EvalCase]:
    """Read a labelled eval file (a YAML list of {q, expect, lang, style})."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        EvalCase(str(item["q"]), str(item["expect"]), str(item["lang"]), str(item["style"]))
        for item in data
    ]


def evaluate(matcher: Matcher, cases: list[EvalCase], name: str) -> Report:
    """Run every case through the matcher."""
    report = Report(name)
    for case in cases:
        report.outcomes.append(EvalOutcome(case, matcher.match(case.question)))
    return report


def leave_one_out(matcher: Matcher) -> Report:
    """Route each stored question, itself removed from the index; it must find its entry."""
    report = Report("leave-one-out")
    for lang in LANGS:
        for qid, entry_id, text in matcher.stored_questions(lang):
            result = matcher.match(text, lang, exclude=(lang, qid))
            case = EvalCase(text, entry_id, lang, "stored")
            report.outcomes.append(EvalOutcome(case, result))
    return report


def check_thresholds(
    figures: dict[str, float], thresholds: dict[str, float]
) -> list[tuple[str, float, float]]:
    """Return (metric, value, threshold) for each figure below (or, for rates, above) its bound."""
    failures = []
    for metric, bound in thresholds.items():
        value = figures.get(metric)
        if value is None:
            continue
        too_high = metric.endswith("_rate")
        if (value > bound) if too_high else (value < bound):
            failures.append((metric, value, bound))
    return failures
