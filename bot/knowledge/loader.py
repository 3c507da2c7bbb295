"""Load the knowledge folder: parse, validate, cross-check and verify against the source.

Every problem becomes a `KnowledgeError` with file and line; all problems are collected
before failing, so a moderator sees the whole list at once and the bot never serves a
partially loaded knowledge base.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.knowledge.models import (
    LANGS,
    EntriesFile,
    Entry,
    NotInSourceFile,
    NotInSourceQuestions,
    Source,
    SourcesFile,
    SynonymGroups,
    SynonymsFile,
    Topic,
    TopicsFile,
    UiFile,
    UiTexts,
)
from bot.knowledge.numbers import unsupported_numbers, unsupported_values
from bot.knowledge.source import SourceText
from bot.knowledge.yamlfile import KnowledgeError, YamlDocument, YamlFileError, read_yaml

ModelT = TypeVar("ModelT", bound=BaseModel)
NOT_IN_SOURCE_FILE = "not-in-source.yaml"

_ALL_FIELDS = sorted(
    {
        name
        for model in (
            EntriesFile,
            TopicsFile,
            SourcesFile,
            SynonymsFile,
            UiFile,
            UiTexts,
            Entry,
            NotInSourceFile,
            NotInSourceQuestions,
        )
        for name in model.model_fields
    }
    | {
        "en",
        "ru",
        "paragraph",
        "text",
        "value",
        "low",
        "high",
        "unit",
        "period",
        "as_of",
        "claimed_by",
        "speaker",
        "speaker_role",
        "translation_ru",
    }
)


class KnowledgeLoadError(Exception):
    """The knowledge base has problems; `errors` lists each with file and line."""

    def __init__(self, errors: list[KnowledgeError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the knowledge base")
        self.errors = errors


@dataclass(frozen=True)
class LoadedSource:
    """A source's metadata together with its verified text."""

    meta: Source
    text: SourceText


@dataclass(frozen=True)
class KnowledgeVersion:
    """What exactly is loaded: a content hash, and the git commit when there is one."""

    content_hash: str
    commit: str | None

    def __str__(self) -> str:
        return f"{self.content_hash}" + (f" (git {self.commit})" if self.commit else "")


@dataclass(frozen=True)
class KnowledgeStats:
    """Counts reported by `returnbot kb check` and /kb."""

    entries: int
    questions_en: int
    questions_ru: int
    quotes_verified: int
    figures_verified: int
    evidence_verified: int
    not_in_source: int = 0  # near-miss questions that must get "I don't know"


@dataclass(frozen=True)
class KnowledgeBase:
    """A fully validated, verified knowledge base; immutable, swapped whole on reload."""

    root: Path
    entries: tuple[Entry, ...]
    topics: tuple[Topic, ...]
    sources: dict[str, LoadedSource]
    ui: UiTexts
    synonyms: SynonymGroups
    version: KnowledgeVersion
    stats: KnowledgeStats
    not_in_source: tuple[NotInSourceQuestions, ...] = ()
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _by_id: dict[str, Entry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({entry.id: entry for entry in self.entries})

    def entry(self, entry_id: str) -> Entry | None:
        """Return the entry with `entry_id`, or None (e.g. for a stale button)."""
        return self._by_id.get(entry_id)

    def topic(self, topic_id: str) -> Topic | None:
        """Return the topic with `topic_id`, or None."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def entries_in(self, topic_id: str) -> tuple[Entry, ...]:
        """Return the entries of one topic, in file order."""
        return tuple(e for e in self.entries if e.topic == topic_id)

    def source_of(self, entry: Entry) -> LoadedSource | None:
        """Return the source an entry cites (None for meta entries)."""
        return self.sources.get(entry.source) if entry.source else None


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(doc: YamlDocument, error: dict[str, Any]) -> KnowledgeError:
    """Turn one pydantic error into a moderator-readable, located message."""
    loc = tuple(p for p in error["loc"] if isinstance(p, int) or p in _ALL_FIELDS)
    if error["type"] == "extra_forbidden":
        loc = (*loc, str(error["loc"][-1]))  # the unknown key itself: its own line and name
    line = doc.line_of(loc)
    where = ""
    if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
        entries = doc.data.get("entries") if isinstance(doc.data, dict) else None
        item = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        entry_id = item.get("id") if isinstance(item, dict) else None
        where = f"entry '{entry_id}': " if entry_id else f"entry #{loc[1] + 1}: "
        loc = loc[2:]
    name = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        bad = str(error["loc"][-1])
        guess = difflib.get_close_matches(bad, _ALL_FIELDS, n=1, cutoff=0.7)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        message = f"unknown field '{name}'{hint}"
    elif kind == "missing":
        if loc and loc[-1] in LANGS:
            message = f"missing language '{loc[-1]}' in '{_dotted(loc[:-1])}'"
        else:
            message = f"missing field '{name}'"
    elif kind == "string_too_short":
        message = f"empty text in '{name}'"
    elif kind == "value_error":
        message = (f"{name}: " if name else "") + error["msg"].removeprefix("Value error, ")
    else:
        message = f"'{name}': {error['msg']}" if name else error["msg"]
    return KnowledgeError(doc.file, line, where + message)


def _validate(
    doc: YamlDocument, model: type[ModelT], errors: list[KnowledgeError]
) -> ModelT | None:
    try:
        return model.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        errors.extend(_describe(doc, e) for e in exc.errors())
        return None


def _read(
    file: Path, model: type[ModelT], errors: list[KnowledgeError]
) -> tuple[YamlDocument | None, ModelT | None]:
    if not file.is_file():
        errors.append(KnowledgeError(file, None, "file is missing"))
        return None, None
    try:
        doc = read_yaml(file)
    except YamlFileError as exc:
        errors.append(exc.error)
        return None, None
    return doc, _validate(doc, model, errors)


def _question_key(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def _git_commit(root: Path) -> str | None:
    """Read the checkout's HEAD commit from .git without running git (may be sandboxed)."""
    for folder in (root, *root.parents):
        git = folder / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text(encoding="utf-8").strip()
            if not head.startswith("ref: "):
                return head[:12]
            ref = head.removeprefix("ref: ")
            ref_file = git / ref
            if ref_file.is_file():
                return ref_file.read_text(encoding="utf-8").strip()[:12]
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    if line.endswith(f" {ref}"):
                        return line.split()[0][:12]
        except OSError:
            return None
        return None
    return None


def _content_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def knowledge_files(root: Path) -> list[Path]:
    """Return the files whose change should trigger a reload."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".yaml", ".txt"})


def load_knowledge(root: Path) -> KnowledgeBase:
    """Load and verify the knowledge folder, or raise KnowledgeLoadError listing every problem."""
    root = root.resolve()
    errors: list[KnowledgeError] = []
    if not root.is_dir():
        raise KnowledgeLoadError([KnowledgeError(root, None, "knowledge folder not found")])

    sources_doc, sources_file = _read(root / "sources.yaml", SourcesFile, errors)
    _, topics_file = _read(root / "topics.yaml", TopicsFile, errors)
    ui_doc, ui_file = _read(root / "ui.yaml", UiFile, errors)
    if ui_doc is not None and ui_file is not None:
        for name, lang, message in ui_file.ui.placeholder_problems():
            errors.append(KnowledgeError(ui_doc.file, ui_doc.line_of(("ui", name, lang)), message))
    _, synonyms_file = _read(root / "synonyms.yaml", SynonymsFile, errors)
    not_in_source: tuple[NotInSourceQuestions, ...] = ()
    not_in_source_doc: YamlDocument | None = None
    if (root / NOT_IN_SOURCE_FILE).is_file():
        not_in_source_doc, not_in_source_file = _read(
            root / NOT_IN_SOURCE_FILE, NotInSourceFile, errors
        )
        if not_in_source_doc and not_in_source_file:
            not_in_source = not_in_source_file.not_in_source

    sources: dict[str, LoadedSource] = {}
    if sources_doc and sources_file:
        for index, source in enumerate(sources_file.sources):
            line = sources_doc.line_of(("sources", index, "file"))
            path = (root / source.file).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                errors.append(
                    KnowledgeError(
                        sources_doc.file,
                        line,
                        f"source file '{source.file}' not found in the knowledge folder",
                    )
                )
                continue
            try:
                text = SourceText.read(path)
            except UnicodeDecodeError:
                errors.append(KnowledgeError(path, None, "source text is not valid UTF-8"))
                continue
            sources[source.id] = LoadedSource(meta=source, text=text)

    topic_ids = {t.id for t in topics_file.topics} if topics_file else set()

    entry_files = sorted((root / "entries").glob("*.yaml"))
    if not entry_files:
        errors.append(KnowledgeError(root / "entries", None, "no entries files (*.yaml) found"))
    located: list[tuple[Entry, YamlDocument, int]] = []
    for file in entry_files:
        doc, parsed = _read(file, EntriesFile, errors)
        if doc and parsed:
            located.extend((entry, doc, i) for i, entry in enumerate(parsed.entries))

    counts = _cross_check(located, topic_ids, sources, errors)
    if not_in_source and not_in_source_doc:
        _check_not_in_source(located, not_in_source, not_in_source_doc, errors)

    if errors:
        raise KnowledgeLoadError(errors)
    assert ui_file is not None  # noqa: S101 - guaranteed when no errors
    assert synonyms_file is not None  # noqa: S101
    assert topics_file is not None  # noqa: S101
    entries = tuple(entry for entry, _, _ in located)
    stats = KnowledgeStats(
        entries=len(entries),
        questions_en=sum(len(e.questions.en) for e in entries),
        questions_ru=sum(len(e.questions.ru) for e in entries),
        quotes_verified=counts["quotes"],
        figures_verified=counts["figures"],
        evidence_verified=counts["evidence"],
        not_in_source=sum(len(group.en) + len(group.ru) for group in not_in_source),
    )
    return KnowledgeBase(
        root=root,
        entries=entries,
        topics=topics_file.topics,
        sources=sources,
        ui=ui_file.ui,
        synonyms=synonyms_file.synonyms,
        not_in_source=not_in_source,
        version=KnowledgeVersion(content_hash=_content_hash(root), commit=_git_commit(root)),
        stats=stats,
    )


def _check_not_in_source(
    located: list[tuple[Entry, YamlDocument, int]],
    groups: tuple[NotInSourceQuestions, ...],
    doc: YamlDocument,
    errors: list[KnowledgeError],
) -> None:
    """A question cannot be both answered by an entry and declared not in the source."""

    def key(question: str) -> str:
        return " ".join(question.casefold().split())

    answered: dict[str, str] = {}
    for entry, _, _ in located:
        for lang in LANGS:
            for question in entry.questions.get(lang):
                answered.setdefault(key(question), entry.id)
    for index, group in enumerate(groups):
        for lang in LANGS:
            for number, question in enumerate(group.get(lang)):
                entry_id = answered.get(key(question))
                if entry_id is not None:
                    errors.append(
                        KnowledgeError(
                            doc.file,
                            doc.line_of(("not_in_source", index, lang, number)),
                            f"'{question}' is also a question of entry '{entry_id}': "
                            "it cannot be both answered and not in the source",
                        )
                    )


def _cross_check(
    located: list[tuple[Entry, YamlDocument, int]],
    topic_ids: set[str],
    sources: dict[str, LoadedSource],
    errors: list[KnowledgeError],
) -> dict[str, int]:
    """Check what no single model can: ids, references, and faithfulness to the source."""
    counts = {"quotes": 0, "figures": 0, "evidence": 0}
    first_id: dict[str, tuple[YamlDocument, int]] = {}
    first_question: dict[tuple[str, str], str] = {}
    all_ids = {entry.id for entry, _, _ in located}

    for entry, doc, index in located:

        def line(*path: str | int, _doc: YamlDocument = doc, _i: int = index) -> int:
            return _doc.line_of(("entries", _i, *path))

        def fail(
            message: str, *path: str | int, _doc: YamlDocument = doc, _e: Entry = entry
        ) -> None:
            errors.append(KnowledgeError(_doc.file, line(*path), f"entry '{_e.id}': {message}"))

        if entry.id in first_id:
            other_doc, other_index = first_id[entry.id]
            other_line = other_doc.line_of(("entries", other_index, "id"))
            fail(f"duplicate id (also in {other_doc.file.name}:{other_line})", "id")
        else:
            first_id[entry.id] = (doc, index)
        if topic_ids and entry.topic not in topic_ids:
            fail(
                f"unknown topic '{entry.topic}' (topics.yaml has: {', '.join(sorted(topic_ids))})",
                "topic",
            )
        for position, related in enumerate(entry.related):
            if related not in all_ids:
                guess = difflib.get_close_matches(related, sorted(all_ids), n=1)
                hint = f" (did you mean '{guess[0]}'?)" if guess else ""
                fail(f"'related' points at missing entry '{related}'{hint}", "related", position)
        for lang in LANGS:
            for position, question in enumerate(entry.questions.get(lang)):
                key = (lang, _question_key(question))
                owner = first_question.setdefault(key, entry.id)
                if owner != entry.id:
                    fail(
                        f"question '{question}' is also under entry '{owner}'",
                        "questions",
                        lang,
                        position,
                    )
        _verify_against_source(entry, sources, fail, counts)
    return counts


def _verify_against_source(
    entry: Entry,
    sources: dict[str, LoadedSource],
    fail: Any,
    counts: dict[str, int],
) -> None:
    """Check evidence and quotes occur verbatim, and numbers match the evidence."""
    if entry.kind == "meta":
        for lang in LANGS:
            if unsupported_numbers(entry.answer.get(lang), ""):
                fail("a meta entry's answer must not state numbers", "answer", lang)
        return
    if entry.source is None:
        return
    loaded = sources.get(entry.source)
    if loaded is None:
        if sources:
            fail(f"unknown source '{entry.source}'", "source")
        return
    text = loaded.text
    ok = True
    for position, evidence in enumerate(entry.evidence):
        if text.paragraph_contains(evidence.paragraph, evidence.text):
            counts["evidence"] += 1
            continue
        ok = False
        found = text.find_paragraph(evidence.text)
        if found is not None:
            fail(
                f"evidence is in paragraph {found}, not {evidence.paragraph}",
                "evidence",
                position,
                "paragraph",
            )
        else:
            fail(
                "evidence text does not occur verbatim in the source", "evidence", position, "text"
            )
    evidence_text = " ".join(e.text for e in entry.evidence)
    for lang in LANGS:
        missing = unsupported_numbers(entry.answer.get(lang), evidence_text)
        if missing:
            ok = False
            fail(
                f"answer.{lang} states {', '.join(missing)}, which its evidence does not",
                "answer",
                lang,
            )
    if entry.quote is not None:
        if text.contains(entry.quote.text):
            counts["quotes"] += 1
        else:
            fail("quote.text does not occur verbatim in the source", "quote", "text")
    if entry.figure is not None:
        figure = entry.figure
        bad_values = unsupported_values(figure.numbers(), evidence_text)
        if bad_values:
            ok = False
            shown = ", ".join(f"{v:g}" for v in bad_values)
            fail(f"figure value {shown} is not stated in its evidence", "figure")
        for name in ("unit", "period", "as_of", "claimed_by"):
            localized = getattr(figure, name)
            if localized is None:
                continue
            for lang in LANGS:
                missing = unsupported_numbers(localized.get(lang), evidence_text)
                if missing:
                    ok = False
                    fail(
                        f"figure.{name}.{lang} states {', '.join(missing)}, "
                        "which its evidence does not",
                        "figure",
                        name,
                        lang,
                    )
        if ok:
            counts["figures"] += 1
