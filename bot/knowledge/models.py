"""Pydantic models of the knowledge base: strict and frozen, so a typo in YAML is an error."""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Lang = Literal["en", "ru"]
LANGS: tuple[Lang, ...] = ("en", "ru")

NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Ids travel in callback data ("a:<id>", at most 64 bytes) and in /start deep links.
EntryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
TopicId = EntryId
SourceId = EntryId

MIN_QUESTIONS_PER_LANG = 8


class StrictModel(BaseModel):
    """Base for every knowledge model: unknown fields are errors and values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(StrictModel):
    """One text in both languages the bot speaks."""

    en: NonEmptyText
    ru: NonEmptyText

    def get(self, lang: Lang) -> str:
        """Return the text in `lang`."""
        return self.ru if lang == "ru" else self.en


class ShortLocalized(Localized):
    """A label short enough for a Telegram button."""

    en: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    ru: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class Questions(StrictModel):
    """Stored phrasings of the questions one entry answers, per language."""

    en: tuple[Question, ...] = Field(min_length=MIN_QUESTIONS_PER_LANG)
    ru: tuple[Question, ...] = Field(min_length=MIN_QUESTIONS_PER_LANG)

    def get(self, lang: Lang) -> tuple[str, ...]:
        """Return the questions in `lang`."""
        return self.ru if lang == "ru" else self.en


class Answer(Localized):
    """The answer itself: one to three self-contained sentences."""

    en: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
    ru: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


class Evidence(StrictModel):
    """A span of the source that an answer rests on; verified verbatim at load."""

    paragraph: int = Field(ge=1)
    text: NonEmptyText


class Figure(StrictModel):
    """A number the article states, with who states it and for when."""

    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: Localized
    period: Localized | None = None
    as_of: Localized | None = None
    claimed_by: Localized

    @model_validator(mode="after")
    def _value_or_range(self) -> Figure:
        has_range = self.low is not None or self.high is not None
        if (self.value is None) == (not has_range):
            raise ValueError("a figure has either 'value' or both 'low' and 'high'")
        if has_range and (self.low is None or self.high is None):
            raise ValueError("a range needs both 'low' and 'high'")
        if has_range and self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("'low' is greater than 'high'")
        if self.period is None and self.as_of is None:
            raise ValueError("a figure needs 'period' or 'as_of'")
        return self

    def numbers(self) -> tuple[float, ...]:
        """Return the figure's numeric fields that are set."""
        return tuple(n for n in (self.value, self.low, self.high) if n is not None)


class Quote(StrictModel):
    """A verbatim English quote from the source, with its Russian translation."""

    text: NonEmptyText
    speaker: Localized
    speaker_role: Localized
    translation_ru: NonEmptyText


EntryKind = Literal["figure", "reason", "quote", "context", "meta"]


class Entry(StrictModel):
    """One answerable thing: a figure, reason, quote or piece of context."""

    id: EntryId
    kind: EntryKind
    topic: TopicId
    source: SourceId | None = None
    title: ShortLocalized
    questions: Questions
    answer: Answer
    evidence: tuple[Evidence, ...] = ()
    figure: Figure | None = None
    quote: Quote | None = None
    related: tuple[EntryId, ...] = Field(default=(), max_length=3)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Entry:
        if self.kind == "meta":
            if self.source is not None or self.evidence:
                raise ValueError("a meta entry has no 'source' or 'evidence'")
        else:
            if self.source is None:
                raise ValueError(f"a {self.kind} entry needs 'source'")
            if not self.evidence:
                raise ValueError(f"a {self.kind} entry needs 'evidence'")
        if (self.kind == "figure") != (self.figure is not None):
            raise ValueError("'figure' is required for kind figure and only allowed there")
        if (self.kind == "quote") != (self.quote is not None):
            raise ValueError("'quote' is required for kind quote and only allowed there")
        if self.id in self.related:
            raise ValueError("an entry cannot be related to itself")
        return self


class EntriesFile(StrictModel):
    """One YAML file of entries (the schema moderators' editors validate against)."""

    entries: tuple[Entry, ...] = Field(min_length=1)


class Topic(StrictModel):
    """A group of entries, shown in /topics."""

    id: TopicId
    title: ShortLocalized


class TopicsFile(StrictModel):
    """knowledge/topics.yaml."""

    topics: tuple[Topic, ...] = Field(min_length=1)


class Source(StrictModel):
    """A source text the entries cite; 'unknown' where the text does not say."""

    id: SourceId
    file: NonEmptyText
    title: Localized
    language: Lang
    kind: Localized
    url: NonEmptyText
    author: NonEmptyText
    outlet: NonEmptyText
    published: NonEmptyText
    description: Localized


class SourcesFile(StrictModel):
    """knowledge/sources.yaml."""

    sources: tuple[Source, ...] = Field(min_length=1)


SynonymGroup = Annotated[tuple[NonEmptyText, ...], Field(min_length=2)]


class SynonymGroups(StrictModel):
    """Words the matcher treats as one; the first of each group is canonical."""

    en: tuple[SynonymGroup, ...] = ()
    ru: tuple[SynonymGroup, ...] = ()


class NotInSourceQuestions(StrictModel):
    """Near misses: they use the article's words but ask what it does not say."""

    note: NonEmptyText  # for moderators: what the article leaves out
    en: tuple[Question, ...] = Field(min_length=1)
    ru: tuple[Question, ...] = Field(min_length=1)

    def get(self, lang: Lang) -> tuple[str, ...]:
        """Return the questions in `lang`."""
        return self.ru if lang == "ru" else self.en


class NotInSourceFile(StrictModel):
    """knowledge/not-in-source.yaml (optional)."""

    not_in_source: tuple[NotInSourceQuestions, ...]


class SynonymsFile(StrictModel):
    """knowledge/synonyms.yaml."""

    synonyms: SynonymGroups


_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "topic_questions": frozenset({"topic"}),
    "source_details": frozenset({"title", "kind", "language", "author", "outlet", "published"}),
    "source_line": frozenset({"source", "paragraph"}),
    "claim_line": frozenset({"claimed_by"}),
    "quote_by": frozenset({"speaker", "role"}),
    "reload_ok": frozenset({"version", "entries"}),
    "kb_info": frozenset({"version", "entries", "questions_en", "questions_ru", "loaded_at"}),
    "stats_title": frozenset({"days"}),
    "stats_counts": frozenset(
        {
            "questions",
            "answered",
            "answered_share",
            "clarify",
            "clarify_share",
            "unknown",
            "unknown_share",
        }
    ),
    "stats_entry": frozenset({"entry", "count", "up", "down"}),
}


def placeholders(text: str) -> frozenset[str]:
    """Return the `{name}` placeholders used in a template."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # an unmatched brace
        return frozenset({"{"})
    # A bare "{}" yields an empty name: positional placeholders are never filled, so count it.
    return frozenset(name for _, name, _, _ in parsed if name is not None)


class UiTexts(StrictModel):
    """Every user-facing interface sentence, so none is hard-coded."""

    start_greeting: Localized
    help: Localized
    unknown: Localized
    small_talk: Localized
    clarify: Localized
    not_text: Localized
    expired_button: Localized
    slow_down: Localized
    error: Localized
    topics_title: Localized
    topic_questions: Localized
    back: ShortLocalized
    sources_intro: Localized
    source_details: Localized
    topics_button: ShortLocalized
    not_stated: ShortLocalized
    language_en: ShortLocalized
    language_ru: ShortLocalized
    lang_prompt: Localized
    lang_set: Localized
    source_line: Localized
    claim_line: Localized
    quote_by: Localized
    translated_quote_note: Localized
    related_title: Localized
    feedback_up: ShortLocalized
    feedback_down: ShortLocalized
    feedback_thanks: Localized
    unknown_command: Localized
    inline_topic_description: Localized
    inline_empty: Localized
    chat_intro: Localized
    chat_choose: Localized
    reload_ok: Localized
    reload_failed: Localized
    kb_info: Localized
    stats_title: Localized
    stats_counts: Localized
    stats_entry: Localized
    gaps_title: Localized
    gaps_empty: Localized
    storage_unavailable: Localized
    cmd_start: Localized
    cmd_help: Localized
    cmd_topics: Localized
    cmd_sources: Localized
    cmd_lang: Localized

    def placeholder_problems(self) -> list[tuple[str, Lang, str]]:
        """List (field, language, message) for texts whose placeholders are not the expected ones.

        Checked by the loader rather than a validator, so each error points at its own line.
        """
        problems: list[tuple[str, Lang, str]] = []
        for name in type(self).model_fields:
            expected = _PLACEHOLDERS.get(name, frozenset())
            text: Localized = getattr(self, name)
            for lang in LANGS:
                if placeholders(text.get(lang)) != expected:
                    want = ", ".join(sorted(f"{{{p}}}" for p in expected)) or "none"
                    problems.append(
                        (
                            name,
                            lang,
                            f"'{name}.{lang}' must use exactly these placeholders: {want}",
                        )
                    )
        return problems

    def text(self, name: str, lang: Lang, **values: object) -> str:
        """Return interface text `name` in `lang`, with placeholders filled."""
        template: Localized = getattr(self, name)
        return template.get(lang).format(**values) if values else template.get(lang)


class UiFile(StrictModel):
    """knowledge/ui.yaml."""

    ui: UiTexts


ENTRY_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
