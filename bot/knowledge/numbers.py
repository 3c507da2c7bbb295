"""The number-matching rule: every number an answer states must appear in its evidence.

Numbers are compared by value, whatever their written form:
- thousands separators: 300,000 = 300 000 = 300000 (comma or space followed by three digits);
- decimal separators: 3.6 = 3,6;
- ranges give both ends: "40 to 45", "40-45", "40–45" give 40 and 45;
- a multiplier word after a number scales it: "300 тысяч" = "300 thousand" = 300000,
  "1.5 million" = "1,5 млн" = 1500000;
- "50-year-old" gives 50; "3.6%" gives 3.6 (the percent sign is not part of the value);
- word fractions in evidence ("half", "one-fifth", "one-third", "a quarter") count as
  0.5, 0.2, 0.333…, 0.25 for a figure's structured value/low/high only; answers must
  write them in words, never as digits.
Two values match when they differ by less than 0.1 % (so 0.333 matches one-third).
"""

from __future__ import annotations

import re

_NUMBER = re.compile(
    r"(?<![\d.,])"
    r"(\d{1,3}(?:[,\u00a0\u202f ]\d{3})+(?![\d])|\d+)"  # integer part, maybe grouped
    r"(?:[.,](\d+))?"  # decimal part
    r"(?:\s*(тыс(?:яч[аи]?|\.)?|thousand|млн|миллион(?:а|ов)?|million|млрд|миллиард(?:а|ов)?|billion)\b)?",
    re.IGNORECASE,
)
_MULTIPLIERS = {
    "тыс": 1e3,
    "thousand": 1e3,
    "млн": 1e6,
    "миллион": 1e6,
    "million": 1e6,
    "млрд": 1e9,
    "миллиард": 1e9,
    "billion": 1e9,
}
_WORD_FRACTIONS = {
    r"\bhalf\b": 0.5,
    r"\bone[- ]third\b": 1 / 3,
    r"\bone[- ]fifth\b": 0.2,
    r"\bone[- ]quarter\b|\ba quarter\b": 0.25,
    r"\btwo[- ]thirds\b": 2 / 3,
}


def _multiplier(word: str | None) -> float:
    if not word:
        return 1.0
    word = word.lower()
    for stem, factor in _MULTIPLIERS.items():
        if word.startswith(stem):
            return factor
    return 1.0


def extract_numbers(text: str) -> tuple[float, ...]:
    """Return every number written in digits in `text`, by value."""
    values: list[float] = []
    for match in _NUMBER.finditer(text):
        integer, decimal, word = match.groups()
        digits = re.sub(r"[,\u00a0\u202f ]", "", integer)
        value = float(f"{digits}.{decimal}") if decimal else float(digits)
        values.append(value * _multiplier(word))
    return tuple(values)


def extract_word_fractions(text: str) -> tuple[float, ...]:
    """Return the fractions written in words ("half", "one-third") in `text`."""
    lowered = text.lower()
    return tuple(v for pattern, v in _WORD_FRACTIONS.items() if re.search(pattern, lowered))


def same_number(a: float, b: float) -> bool:
    """Compare two stated numbers, allowing for rounding such as 0.333 for one-third."""
    return abs(a - b) <= 0.001 * max(abs(a), abs(b), 1e-9)


def unsupported_numbers(
    claim: str, evidence: str, *, allow_word_fractions: bool = False
) -> list[str]:
    """Return the numbers in `claim` that `evidence` does not contain, as written."""
    supported = list(extract_numbers(evidence))
    if allow_word_fractions:
        supported += extract_word_fractions(evidence)
    missing: list[str] = []
    for match in _NUMBER.finditer(claim):
        (value,) = extract_numbers(match.group(0))
        if not any(same_number(value, s) for s in supported):
            missing.append(match.group(0).strip())
    return missing


def unsupported_values(values: tuple[float, ...], evidence: str) -> list[float]:
    """Return the structured figure values that `evidence` does not state."""
    supported = list(extract_numbers(evidence)) + list(extract_word_fractions(evidence))
    return [v for v in values if not any(same_number(v, s) for s in supported)]
