"""Source texts and their verification: quotes and evidence must occur verbatim.

"Verbatim" ignores only whitespace and the typographic form of quotes and apostrophes,
because the article uses ’ and ” and breaks one sentence across two lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_TYPOGRAPHIC = str.maketrans({"’": "'", "‘": "'", "‛": "'", "“": '"', "”": '"', "„": '"'})
_WHITESPACE = re.compile(r"\s+")
# A line that ends without closing punctuation continues on the next line.
_PARAGRAPH_END = re.compile(r"[.!?:\"”’)]\s*$")


def normalize_verbatim(text: str) -> str:
    """Fold whitespace and typographic quotes, and nothing else."""
    return _WHITESPACE.sub(" ", text.translate(_TYPOGRAPHIC)).strip()


def split_paragraphs(text: str) -> tuple[str, ...]:
    """Split a source into paragraphs, joining lines broken mid-sentence."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(line.strip())
        if _PARAGRAPH_END.search(line):
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return tuple(paragraphs)


@dataclass(frozen=True)
class SourceText:
    """A loaded source file, split into numbered paragraphs (1-based)."""

    path: Path
    text: str
    paragraphs: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> SourceText:
        """Read and split a source file."""
        text = path.read_text(encoding="utf-8")
        return cls(path=path, text=text, paragraphs=split_paragraphs(text))

    def contains(self, span: str) -> bool:
        """Tell whether `span` occurs anywhere in the source, verbatim and on word bounds."""
        return occurs_whole(span, self.text)

    def paragraph_contains(self, number: int, span: str) -> bool:
        """Tell whether `span` occurs verbatim in paragraph `number`."""
        if not 1 <= number <= len(self.paragraphs):
            return False
        return occurs_whole(span, self.paragraphs[number - 1])

    def find_paragraph(self, span: str) -> int | None:
        """Return the paragraph that holds `span`, for a helpful error message."""
        for number, paragraph in enumerate(self.paragraphs, start=1):
            if occurs_whole(span, paragraph):
                return number
        return None


def occurs_whole(span: str, text: str) -> bool:
    """Verbatim containment that never cuts a word or number: "300" is not in "300,000"."""
    needle = normalize_verbatim(span)
    haystack = normalize_verbatim(text)
    if not needle:
        return False
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        if not _cuts(haystack, start - 1, start, needle[0]) and not _cuts(
            haystack, end, end - 1, needle[-1]
        ):
            return True
        start = haystack.find(needle, start + 1)
    return False


def _cuts(text: str, outside: int, inside: int, edge: str) -> bool:
    """Tell whether the span's edge at `inside` splits a word or number continuing at `outside`."""
    if outside < 0 or outside >= len(text) or not edge.isalnum():
        return False
    neighbour = text[outside]
    if neighbour.isalnum():
        return True
    # "300" followed by ",000" or preceded by "3." is part of a larger number.
    step = outside + (outside - inside)
    return edge.isdigit() and neighbour in ".," and 0 <= step < len(text) and text[step].isdigit()
