"""Tests for the knowledge base: the shipped one loads clean and every moderator mistake is caught.

Broken knowledge bases are built from the shipped one: copy `knowledge/` into tmp_path and make
one small textual edit inside one YAML block (an entry, one of its fields, a UI text), exactly what
a moderator would change. Expected line numbers come from the edited text, so the tests survive
entries and questions being added, reordered or reworded elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cli_process import run_cli

from bot.knowledge import (
    KnowledgeBase,
    KnowledgeError,
    KnowledgeLoadError,
    default_knowledge_dir,
    load_knowledge,
    loader,
)
from bot.knowledge.numbers import (
    extract_numbers,
    extract_word_fractions,
    unsupported_numbers,
    unsupported_values,
)
from bot.knowledge.source import SourceText
from bot.knowledge.yamlfile import MAX_FILE_BYTES, YamlDocument, YamlFileError, read_yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "knowledge"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kb"
SOURCE_NAME = "return-migration-article.txt"
SOURCE = SHIPPED / "sources" / SOURCE_NAME
SHARED_SOURCE = REPO.parent / "shared" / "sources" / SOURCE_NAME

# `path:line: message`, the form `returnbot kb check` prints for each problem.
LOCATED_LINE = re.compile(r"^(?P<path>.+?\.(?:yaml|txt)):(?P<line>\d+): (?P<message>.+)$")

Scope = tuple[str, ...]


# --- helpers ----------------------------------------------------------------------------------


def line_at(text: str, offset: int) -> int:
    """Return the 1-based line of character `offset`."""
    return text.count("\n", 0, offset) + 1


def line_of(text: str, needle: str) -> int:
    """Return the 1-based line on which `needle` first starts in `text`."""
    index = text.find(needle)
    assert index >= 0, f"{needle!r} not found"
    return line_at(text, index)


def scope_span(text: str, scope: Scope) -> tuple[int, int]:
    """Return the offsets of the YAML block that `scope` names.

    A scope is a path of line prefixes, e.g. ("  - id: mobilization", "    answer:", "      ru:"):
    each is looked up inside the block before it, and a block runs from its own line to the next
    non-blank line indented no deeper than that line.
    """
    start, end = 0, len(text)
    for anchor in scope:
        match = re.compile("^" + re.escape(anchor), re.MULTILINE).search(text, start, end)
        assert match, f"{anchor!r} not found (scope {scope!r})"
        indent = len(anchor) - len(anchor.lstrip(" "))
        start = match.start()
        newline = text.find("\n", match.end(), end)
        pos = end if newline == -1 else newline + 1
        while pos < end:
            newline = text.find("\n", pos, end)
            line = text[pos : end if newline == -1 else newline]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
                break
            pos = end if newline == -1 else newline + 1
        end = pos
    return start, end


def scope_line(text: str, scope: Scope) -> int:
    """Return the line of the block `scope` names (e.g. of an entry's `en:` answer key)."""
    return line_at(text, scope_span(text, scope)[0])


@dataclasses.dataclass(frozen=True)
class Edit:
    """A moderator's edit: the file's new text and the line where the change starts."""

    text: str
    line: int


def load_errors(root: Path) -> list[KnowledgeError]:
    """Load `root` and return its problems; an empty list means it loaded."""
    try:
        load_knowledge(root)
    except KnowledgeLoadError as exc:
        return exc.errors
    return []


def shown(errors: list[KnowledgeError]) -> str:
    return "\n".join(e.format() for e in errors) or "(no errors: the knowledge base loaded)"


def only_error(errors: list[KnowledgeError], file_name: str, fragment: str) -> KnowledgeError:
    """Return the one error in `file_name` whose message contains `fragment`."""
    found = [e for e in errors if e.file.name == file_name and fragment in e.message]
    assert len(found) == 1, f"expected one {fragment!r} error in {file_name}:\n{shown(errors)}"
    return found[0]


def single_error(errors: list[KnowledgeError], file_name: str) -> KnowledgeError:
    """Return the only error, checking it is in `file_name`: nothing else may break."""
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == file_name, shown(errors)
    return error


class KnowledgeCopy:
    """A copy of the shipped knowledge folder that a test breaks with one edit."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def _write(self, rel: str, text: str, start: int) -> Edit:
        (self.root / rel).write_text(text, encoding="utf-8")
        return Edit(text, line_at(text, start))

    def edit(self, rel: str, old: str, new: str, scope: Scope = ()) -> Edit:
        """Replace the single `old` inside the block `scope` names (default: the whole file)."""
        text = self.text(rel)
        start, end = scope_span(text, scope)
        block = text[start:end]
        assert block.count(old) == 1, f"{old!r} must occur exactly once in {rel} {scope!r}"
        at = start + block.index(old)
        return self._write(rel, text[:at] + new + text[at + len(old) :], at)

    def replace_block(self, rel: str, scope: Scope, new: str) -> Edit:
        """Replace the whole block `scope` names with `new` ("" deletes it)."""
        text = self.text(rel)
        start, end = scope_span(text, scope)
        return self._write(rel, text[:start] + new + text[end:], start)

    def entry(self, rel: str, entry_id: str) -> dict:
        """Return one entry's data, to build edits from what is shipped."""
        data = yaml.safe_load(self.text(rel))
        return next(e for e in data["entries"] if e["id"] == entry_id)

    def errors(self) -> list[KnowledgeError]:
        return load_errors(self.root)


_PARSED: dict[bytes, YamlDocument] = {}


@pytest.fixture(autouse=True)
def _parse_each_yaml_content_once(monkeypatch) -> None:
    """Keep the suite fast: the loader parses each distinct YAML content once per test run.

    A full load takes a noticeable fraction of a second (pure-Python YAML, three passes per
    file) and most tests load a copy in which only one file differs. `read_yaml` is a pure
    function of a file's bytes, so reusing its result for byte-identical files is exact: edited
    and hostile files are always parsed for real, and errors are never cached. The `kb check`
    subprocess tests and the shipped-KB fixture run the loader unpatched.
    """

    def parse_once(file: Path, **kwargs) -> YamlDocument:
        try:
            raw = file.read_bytes()
        except OSError:
            return read_yaml(file, **kwargs)
        key = hashlib.sha256(raw).digest() + repr(sorted(kwargs.items())).encode()
        if key not in _PARSED:
            _PARSED[key] = read_yaml(file, **kwargs)
        return dataclasses.replace(_PARSED[key], file=file)

    monkeypatch.setattr(loader, "read_yaml", parse_once)


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeCopy:
    root = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, root)
    return KnowledgeCopy(root)


@pytest.fixture(scope="module")
def shipped() -> KnowledgeBase:
    return load_knowledge(default_knowledge_dir())


def fold(text: str) -> str:
    """An independent re-statement of "verbatim": fold typographic quotes and whitespace."""
    for typographic, plain in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"')):
        text = text.replace(typographic, plain)
    return " ".join(text.split())


def test_scope_span_finds_nested_blocks() -> None:
    text = (
        "entries:\n  - id: a\n    answer:\n      en: >-\n        one\n\n        two\n"
        "      ru: x\n    related: []\n  # next\n  - id: b\n    answer: {en: y, ru: z}\n"
    )
    start, end = scope_span(text, ("  - id: a", "    answer:", "      en:"))
    assert text[start:end] == "      en: >-\n        one\n\n        two\n"
    start, end = scope_span(text, ("  - id: a",))
    assert text[start:end].endswith("    related: []\n")
    assert scope_line(text, ("  - id: b", "    answer:")) == 12


# --- the shipped knowledge base ---------------------------------------------------------------


def test_shipped_kb_loads_with_positive_counts(shipped: KnowledgeBase) -> None:
    s = shipped.stats
    assert s.entries == len(shipped.entries) > 0
    assert s.questions_en == sum(len(e.questions.en) for e in shipped.entries) > 0
    assert s.questions_ru == sum(len(e.questions.ru) for e in shipped.entries) > 0
    assert s.quotes_verified > 0
    assert s.figures_verified > 0
    assert s.evidence_verified > 0
    assert shipped.topics
    assert shipped.sources


def test_shipped_entry_ids_are_unique(shipped: KnowledgeBase) -> None:
    ids = [e.id for e in shipped.entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []


def test_every_shipped_quote_occurs_in_the_source(shipped: KnowledgeBase) -> None:
    source = fold(SOURCE.read_text(encoding="utf-8"))
    quotes = [e for e in shipped.entries if e.quote is not None]
    assert quotes
    for entry in quotes:
        assert entry.quote is not None
        assert fold(entry.quote.text) in source, entry.id


def test_verified_counts_equal_quote_figure_and_evidence_counts(shipped: KnowledgeBase) -> None:
    entries = shipped.entries
    assert shipped.stats.quotes_verified == sum(e.kind == "quote" for e in entries)
    assert shipped.stats.figures_verified == sum(e.kind == "figure" for e in entries)
    assert shipped.stats.evidence_verified == sum(len(e.evidence) for e in entries)


def test_shipped_source_matches_the_shared_copy() -> None:
    if not SHARED_SOURCE.is_file():
        pytest.skip(f"no shared copy of the source at {SHARED_SOURCE}")
    assert SOURCE.read_bytes() == SHARED_SOURCE.read_bytes()


# --- each class of moderator mistake, located -------------------------------------------------

HOW_MANY = "entries/how-many.yaml"
ECONOMY = "entries/economy.yaml"
EXODUS = "entries/exodus.yaml"
PEOPLE = "entries/people.yaml"
ABOUT = "entries/about.yaml"


def test_yaml_syntax_error_points_at_the_badly_indented_line(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        HOW_MANY, "    kind: context\n", "      kind: context\n", ("  - id: how-many-returned",)
    )
    error = only_error(kb.errors(), "how-many.yaml", "YAML syntax")
    assert "mapping values are not allowed" in error.message
    assert error.line == edit.line


def test_unknown_field_is_named_on_its_own_line_with_a_suggestion(kb: KnowledgeCopy) -> None:
    edit = kb.edit(HOW_MANY, "    questions:\n", "    qestions:\n", ("  - id: how-many-returned",))
    error = only_error(kb.errors(), "how-many.yaml", "unknown field")
    assert error.message == (
        "entry 'how-many-returned': unknown field 'qestions' (did you mean 'questions'?)"
    )
    assert error.line == edit.line


def test_nested_unknown_field_is_named_by_its_path(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        EXODUS, "- paragraph:", "- paragraf:", ("  - id: why-people-left", "    evidence:")
    )
    error = only_error(kb.errors(), "exodus.yaml", "unknown field")
    assert error.message == (
        "entry 'why-people-left': unknown field 'evidence[0].paragraf' (did you mean 'paragraph'?)"
    )
    assert error.line == edit.line


def test_missing_field_points_at_its_entry(kb: KnowledgeCopy) -> None:
    edit = kb.edit(HOW_MANY, "    topic: how-many\n", "", ("  - id: how-many-returned",))
    error = only_error(kb.errors(), "how-many.yaml", "missing field")
    assert error.message == "entry 'how-many-returned': missing field 'topic'"
    assert error.line == scope_line(edit.text, ("  - id: how-many-returned",))


def test_empty_string_is_an_error(kb: KnowledgeCopy) -> None:
    edit = kb.replace_block(
        HOW_MANY,
        ("  - id: how-many-returned", "    title:"),
        '    title: {en: "", ru: "Сколько вернулось"}\n',
    )
    error = only_error(kb.errors(), "how-many.yaml", "empty text")
    assert error.message == "entry 'how-many-returned': empty text in 'title.en'"
    assert error.line == edit.line


def test_answer_without_russian_is_a_missing_language(kb: KnowledgeCopy) -> None:
    edit = kb.replace_block(ECONOMY, ("  - id: economic-effect", "    answer:", "      ru:"), "")
    error = only_error(kb.errors(), "economy.yaml", "missing language")
    assert error.message == "entry 'economic-effect': missing language 'ru' in 'answer'"
    assert error.line == scope_line(edit.text, ("  - id: economic-effect", "    answer:"))


def test_duplicate_id_across_two_files_names_both_places(kb: KnowledgeCopy) -> None:
    # economy.yaml is read before people.yaml, so the error is on the later (original) alexey.
    edit = kb.edit(ECONOMY, "  - id: putin-good-trend\n", "  - id: alexey\n")
    error = only_error(kb.errors(), "people.yaml", "duplicate id")
    assert error.message == f"entry 'alexey': duplicate id (also in economy.yaml:{edit.line})"
    assert error.line == scope_line(kb.text(PEOPLE), ("  - id: alexey",))


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda q: q, id="same"),
        pytest.param(lambda q: q.upper().rstrip("?") + "?!", id="case-and-punctuation"),
    ],
)
def test_same_question_under_two_entries(kb: KnowledgeCopy, variant: Callable[[str], str]) -> None:
    question = variant(kb.entry(ECONOMY, "putin-good-trend")["questions"]["en"][0])
    quoted = json.dumps(question, ensure_ascii=False)  # a valid YAML double-quoted scalar
    edit = kb.edit(
        PEOPLE,
        "      en:\n",
        f"      en:\n        - {quoted}\n",
        ("  - id: alexey", "    questions:"),
    )
    error = single_error(kb.errors(), "people.yaml")
    assert error.message == (
        f"entry 'alexey': question '{question}' is also under entry 'putin-good-trend'"
    )
    assert error.line == edit.line + 1


def test_related_to_a_missing_id_suggests_the_existing_one(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        ECONOMY, "putin-good-trend", "putin-good-trnd", ("  - id: economic-effect", "    related:")
    )
    error = single_error(kb.errors(), "economy.yaml")
    assert error.message == (
        "entry 'economic-effect': 'related' points at missing entry 'putin-good-trnd' "
        "(did you mean 'putin-good-trend'?)"
    )
    assert error.line == edit.line


def test_unknown_topic_lists_the_known_ones(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        ECONOMY, "    topic: economy\n", "    topic: economics\n", ("  - id: economic-effect",)
    )
    error = single_error(kb.errors(), "economy.yaml")
    assert error.message.startswith("entry 'economic-effect': unknown topic 'economics' (")
    assert "economy" in error.message
    assert error.line == edit.line


def test_quote_with_one_word_changed_is_not_verbatim(kb: KnowledgeCopy) -> None:
    edit = kb.edit(PEOPLE, "really", "truly", ("  - id: alexey", "    quote:", "      text:"))
    error = single_error(kb.errors(), "people.yaml")
    assert error.message == "entry 'alexey': quote.text does not occur verbatim in the source"
    assert error.line == edit.line


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("Many left to register", "Many fled to register", id="word"),
        pytest.param("Many left to register", "many left to register", id="case"),
    ],
)
def test_evidence_not_in_the_source(kb: KnowledgeCopy, old: str, new: str) -> None:
    edit = kb.edit(EXODUS, old, new, ("  - id: why-people-left", "    evidence:"))
    error = single_error(kb.errors(), "exodus.yaml")
    assert error.message == (
        "entry 'why-people-left': evidence text does not occur verbatim in the source"
    )
    assert error.line == edit.line


def test_evidence_in_the_wrong_paragraph_names_the_right_one(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        EXODUS,
        "- paragraph: 3\n",
        "- paragraph: 4\n",
        ("  - id: why-people-left", "    evidence:"),
    )
    error = single_error(kb.errors(), "exodus.yaml")
    assert error.message == "entry 'why-people-left': evidence is in paragraph 3, not 4"
    assert error.line == edit.line


def test_changed_figure_value_no_longer_matches_its_evidence(kb: KnowledgeCopy) -> None:
    figure = ("  - id: mobilization", "    figure:")
    edit = kb.edit(EXODUS, "      value: 300000\n", "      value: 310000\n", figure)
    error = single_error(kb.errors(), "exodus.yaml")
    assert (
        error.message == "entry 'mobilization': figure value 310000 is not stated in its evidence"
    )
    assert error.line in (scope_line(edit.text, figure), edit.line)  # the figure, or its value


def test_english_answer_stating_a_number_its_evidence_lacks(kb: KnowledgeCopy) -> None:
    answer_en = ("  - id: finion-estimate", "    answer:", "      en:")
    edit = kb.edit(HOW_MANY, "40 to 45", "40 to 55", answer_en)
    error = single_error(kb.errors(), "how-many.yaml")
    assert error.message == (
        "entry 'finion-estimate': answer.en states 55, which its evidence does not"
    )
    assert error.line == scope_line(edit.text, answer_en)


ANSWER_RU_MOBILIZATION = ("  - id: mobilization", "    answer:", "      ru:")


def test_russian_answer_may_write_thousands_in_words(kb: KnowledgeCopy) -> None:
    kb.edit(EXODUS, "300 000", "300 тысяч", ANSWER_RU_MOBILIZATION)
    assert kb.errors() == []


def test_russian_answer_stating_a_number_its_evidence_lacks(kb: KnowledgeCopy) -> None:
    edit = kb.edit(EXODUS, "300 000", "400 тысяч", ANSWER_RU_MOBILIZATION)
    error = single_error(kb.errors(), "exodus.yaml")
    assert error.message == (
        "entry 'mobilization': answer.ru states 400 тысяч, which its evidence does not"
    )
    assert error.line == scope_line(edit.text, ANSWER_RU_MOBILIZATION)


def test_word_fraction_does_not_support_digits_in_an_answer(kb: KnowledgeCopy) -> None:
    # The evidence says "half": the figure may store 0.5, but the answer may not write 50%.
    answer_en = ("  - id: kremlin-half", "    answer:", "      en:")
    edit = kb.edit(HOW_MANY, "half of all", "50% of all", answer_en)
    error = single_error(kb.errors(), "how-many.yaml")
    assert (
        error.message == "entry 'kremlin-half': answer.en states 50, which its evidence does not"
    )
    assert error.line == scope_line(edit.text, answer_en)


def test_duplicate_yaml_key_names_both_lines(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        EXODUS,
        "    kind: figure\n",
        "    kind: figure\n    kind: figure\n",
        ("  - id: mobilization",),
    )
    error = only_error(kb.errors(), "exodus.yaml", "duplicate key")
    assert error.message == f"duplicate key 'kind' (first on line {edit.line})"
    assert error.line == edit.line + 1


TOPIC_QUESTIONS_EN = ("  topic_questions:", "    en:")


def test_ui_text_with_a_wrong_placeholder(kb: KnowledgeCopy) -> None:
    edit = kb.edit("ui.yaml", "{topic}", "{topc}", TOPIC_QUESTIONS_EN)
    error = single_error(kb.errors(), "ui.yaml")
    assert error.message == "'topic_questions.en' must use exactly these placeholders: {topic}"
    assert error.line == edit.line


def test_ui_text_with_a_positional_placeholder_is_rejected(kb: KnowledgeCopy) -> None:
    # "{}" is never filled by name: str.format would raise IndexError when the text is shown.
    edit = kb.edit("ui.yaml", "{topic}", "{topic} {}", TOPIC_QUESTIONS_EN)
    error = single_error(kb.errors(), "ui.yaml")
    assert "'topic_questions.en' must use exactly these placeholders" in error.message
    assert error.line == edit.line


def test_ui_text_with_an_unmatched_brace_is_rejected(kb: KnowledgeCopy) -> None:
    edit = kb.edit("ui.yaml", "{topic}", "{topic", TOPIC_QUESTIONS_EN)
    error = single_error(kb.errors(), "ui.yaml")
    assert "'topic_questions.en'" in error.message
    assert error.line == edit.line


def test_missing_ui_key(kb: KnowledgeCopy) -> None:
    edit = kb.replace_block("ui.yaml", ("  inline_empty:",), "")
    error = single_error(kb.errors(), "ui.yaml")
    assert error.message == "missing field 'ui.inline_empty'"
    assert error.line == scope_line(edit.text, ("ui:",))


def test_meta_entry_answer_with_digits(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        ABOUT,
        "      en: >-\n",
        "      en: >-\n        Updated in 2024.\n",
        ("  - id: about-source", "    answer:"),
    )
    error = single_error(kb.errors(), "about.yaml")
    assert error.message == "entry 'about-source': a meta entry's answer must not state numbers"
    assert error.line == edit.line


def test_evidence_cut_in_the_middle_of_a_number_is_rejected(kb: KnowledgeCopy) -> None:
    # forged-number.yaml cites "a call-up of 300", cut from "300,000", to back "300 reservists".
    fixture = FIXTURES / "forged-number.yaml"
    shutil.copy(fixture, kb.root / "entries" / "forged-number.yaml")
    error = single_error(kb.errors(), "forged-number.yaml")
    assert error.message == (
        "entry 'forged-call-up': evidence text does not occur verbatim in the source"
    )
    text = fixture.read_text(encoding="utf-8")
    assert error.line == line_of(text, 'text: "When Putin ordered a call-up of 300"')


# --- hostile YAML -----------------------------------------------------------------------------


def _refuse(*_args, **_kwargs):
    raise AssertionError("the document was built; it should have been refused while scanning")


def refuse_building_bombs(monkeypatch) -> None:
    """Fail fast, instead of expanding the bomb, if the loader ever builds a document with it."""
    for name in ("compose", "load"):
        real = getattr(yaml, name)

        def guarded(stream, *args, _real=real, **kwargs):
            if isinstance(stream, str) and "*l8" in stream:
                _refuse()
            return _real(stream, *args, **kwargs)

        monkeypatch.setattr(yaml, name, guarded)


def test_alias_bomb_is_refused_before_anything_is_built(monkeypatch) -> None:
    bomb = FIXTURES / "billion-laughs.yaml"
    assert bomb.stat().st_size < 1024
    monkeypatch.setattr(yaml, "compose", _refuse)
    monkeypatch.setattr(yaml, "load", _refuse)
    with pytest.raises(YamlFileError) as exc:
        read_yaml(bomb)
    assert exc.value.error.message == "YAML anchors and aliases are not allowed"
    assert exc.value.error.line == line_of(bomb.read_text(encoding="utf-8"), "&l1")


def test_alias_bomb_in_the_knowledge_base_is_a_located_error(
    kb: KnowledgeCopy, monkeypatch
) -> None:
    refuse_building_bombs(monkeypatch)
    shutil.copy(FIXTURES / "billion-laughs.yaml", kb.root / "topics.yaml")
    error = only_error(kb.errors(), "topics.yaml", "anchors and aliases")
    assert error.line == line_of(kb.text("topics.yaml"), "&l1")


def test_single_anchor_and_alias_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "alias.yaml"
    file.write_text("a: &x hello\nb: *x\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match="anchors and aliases are not allowed"):
        read_yaml(file)


def test_oversized_file_is_refused_before_parsing(tmp_path: Path, monkeypatch) -> None:
    file = tmp_path / "huge.yaml"
    line = b"# padding padding padding padding padding padding padding padding\n"
    file.write_bytes(b"topics: []\n" + line * (10 * 1024 * 1024 // len(line)))
    assert file.stat().st_size >= 10 * 1024 * 1024 - len(line)
    monkeypatch.setattr(yaml, "parse", _refuse)
    with pytest.raises(YamlFileError) as exc:
        read_yaml(file)
    assert exc.value.error.message == f"file is larger than {MAX_FILE_BYTES // 1024} KiB; refused"


def test_oversized_file_in_the_knowledge_base(kb: KnowledgeCopy) -> None:
    synonyms = kb.root / "synonyms.yaml"
    padding = b"# padding\n" * (10 * 1024 * 1024 // 10)
    synonyms.write_bytes(synonyms.read_bytes() + padding)
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "synonyms.yaml"
    assert "larger than" in error.message
    assert error.message.endswith("refused")


def test_python_object_tag_is_refused_and_not_executed(
    kb: KnowledgeCopy, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the payload would create its marker
    fixture = FIXTURES / "python-tag.yaml"
    shutil.copy(fixture, kb.root / "entries" / "python-tag.yaml")
    error = only_error(kb.errors(), "python-tag.yaml", "unsupported YAML tag")
    assert "python/object/apply:os.system" in error.message
    assert error.line == line_of(fixture.read_text(encoding="utf-8"), "!!python")
    assert not (tmp_path / "returnbot-yaml-marker").exists()


@pytest.mark.parametrize(
    "tag",
    [
        '!!python/object/apply:os.system ["echo hi > returnbot-yaml-marker"]',
        '!!python/object/new:os.system ["echo hi > returnbot-yaml-marker"]',
        "!!python/name:os.system",
        "!custom 1",
    ],
)
def test_non_plain_tags_are_refused(tmp_path: Path, monkeypatch, tag: str) -> None:
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "tagged.yaml"
    file.write_text(f"ok: 1\nx: {tag}\n", encoding="utf-8")
    with pytest.raises(YamlFileError) as exc:
        read_yaml(file)
    assert exc.value.error.message.startswith("YAML syntax: unsupported YAML tag")
    assert exc.value.error.line == 2
    assert not (tmp_path / "returnbot-yaml-marker").exists()


def test_non_utf8_yaml_file_is_a_clear_error(kb: KnowledgeCopy) -> None:
    topics = kb.root / "topics.yaml"
    topics.write_bytes(topics.read_text(encoding="utf-8").encode("cp1251"))  # a Windows editor
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "topics.yaml"
    assert error.message == "file is not valid UTF-8"
    assert error.format(kb.root) == "topics.yaml:1: file is not valid UTF-8"


def test_non_utf8_source_text_is_a_clear_error(kb: KnowledgeCopy) -> None:
    source = kb.root / "sources" / SOURCE_NAME
    source.write_bytes(source.read_text(encoding="utf-8").encode("cp1252"))  # ’ ” as cp1252
    error = single_error(kb.errors(), SOURCE_NAME)
    assert error.message == "source text is not valid UTF-8"


# --- the number-matching rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300,000", (300_000,)),
        ("300 000", (300_000,)),
        ("300\u00a0000", (300_000,)),
        ("300000", (300_000,)),
        ("300 тысяч", (300_000,)),
        ("300 thousand", (300_000,)),
        ("5 тыс.", (5_000,)),
        ("3.6", (3.6,)),
        ("3,6", (3.6,)),
        ("3.6%", (3.6,)),
        ("1.5 million", (1_500_000,)),
        ("1,5 млн", (1_500_000,)),
        ("40 to 45", (40, 45)),
        ("40–45", (40, 45)),
        ("40-45", (40, 45)),
        ("от 40 до 45", (40, 45)),
        ("50-year-old", (50,)),
        ("50-летний", (50,)),
        ("half of them, one-fifth", ()),
        ("no digits", ()),
    ],
)
def test_extract_numbers(text: str, expected: tuple[float, ...]) -> None:
    assert extract_numbers(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("claim", "evidence"),
    [
        ("300,000", "300 000"),
        ("300 000", "300,000"),
        ("300 тысяч", "a call-up of 300,000 reservists"),
        ("3,6%", "3.6% annual growth"),
        ("40–45 процентов", "40 to 45 percent"),
        ("a 50-летний man", "a 50-year-old former political consultant"),
    ],
)
def test_same_number_in_another_form_is_supported(claim: str, evidence: str) -> None:
    assert unsupported_numbers(claim, evidence) == []


def test_unsupported_numbers_returns_what_is_missing_as_written() -> None:
    claim = "between 40 and 55 percent, 300 тысяч, 1,5 млн and 3,7%"
    evidence = "40 to 45 percent; 300,000 reservists; 3.6% growth"
    assert unsupported_numbers(claim, evidence) == ["55", "1,5 млн", "3,7"]


def test_word_fractions_count_only_for_figure_values() -> None:
    evidence = "added between one-fifth and one-third to growth; half of all who fled"
    assert extract_word_fractions(evidence) == pytest.approx((0.5, 1 / 3, 0.2))
    assert unsupported_values((0.2, 0.333, 0.5), evidence) == []
    assert unsupported_values((0.25,), evidence) == [0.25]
    assert unsupported_values((0.34,), evidence) == [0.34]  # beyond rounding of one-third
    # An answer must write fractions in words: digits are not backed by "half".
    assert unsupported_numbers("0.5 of all who fled", evidence) == ["0.5"]
    assert unsupported_numbers("0.5", evidence, allow_word_fractions=True) == []


# --- verbatim source verification -------------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> SourceText:
    return SourceText.read(SOURCE)


@pytest.mark.parametrize(
    "span",
    [
        pytest.param(
            "The business didn't work out; no one is really waiting for us\"",
            id="straight-for-typographic",
        ),
        pytest.param('as a "good trend."', id="straight-double"),
        pytest.param("as a “good trend.”", id="typographic-double"),
        pytest.param("Russia's 3.6% annual economic growth", id="straight-apostrophe"),
        pytest.param("Russia’s   3.6%\tannual\neconomic growth", id="whitespace"),
        pytest.param("a call-up of 300,000", id="whole-number"),
        pytest.param("good trend", id="inside-quotes"),
    ],
)
def test_verbatim_ignores_only_whitespace_and_quote_style(source: SourceText, span: str) -> None:
    assert source.contains(span)


@pytest.mark.parametrize(
    "span",
    [
        pytest.param("The business didn't work out; no one is really waiting for as", id="letter"),
        pytest.param("the business didn't work out", id="case"),
        pytest.param('as a "GOOD TREND."', id="upper"),
        pytest.param("opting to end their self–exile", id="dash"),
        pytest.param("dissent against the war, and out of fear", id="punctuation"),
        pytest.param("Russia's 3,6% annual economic growth", id="decimal-comma"),
        pytest.param("a call-up of 300", id="cut-number-end"),
        pytest.param("000 reservists", id="cut-number-start"),
        pytest.param("to Russia's 3", id="cut-decimal"),
        pytest.param("rdered a call-up", id="cut-word"),
    ],
)
def test_verbatim_rejects_any_other_change(source: SourceText, span: str) -> None:
    assert not source.contains(span)


def test_evidence_spanning_the_line_break_in_paragraph_5(source: SourceText) -> None:
    assert "deliver a\nsolid economic performance" in source.text  # the break is really there
    span = "helping Russia weather wartime sanctions and deliver a solid economic performance."
    assert source.paragraph_contains(5, span)
    assert source.find_paragraph(span) == 5
    assert not source.paragraph_contains(6, span)


def test_shipped_evidence_across_the_line_break_is_verified(shipped: KnowledgeBase) -> None:
    entry = shipped.entry("economic-effect")
    assert entry is not None
    spans = [e.text for e in entry.evidence if e.paragraph == 5]
    assert any("deliver a solid economic performance" in s for s in spans)


def test_paragraph_out_of_range_is_not_found(source: SourceText) -> None:
    span = "That outflow has slowed, if not reversed."
    assert source.paragraph_contains(4, span)
    assert not source.paragraph_contains(0, span)
    assert not source.paragraph_contains(len(source.paragraphs) + 1, span)


# --- `returnbot kb check` as moderators and CI run it -----------------------------------------


def kb_check(root: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("kb", "check", "--knowledge", str(root), cwd=REPO)


def test_kb_check_passes_on_the_shipped_kb(shipped: KnowledgeBase) -> None:
    result = kb_check(SHIPPED)
    assert result.returncode == 0, result.stdout + result.stderr
    s = shipped.stats
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"ok: {s.entries} entries, ")
    assert f"{s.quotes_verified} quotes verified" in summary
    assert f"{s.figures_verified} figures verified" in summary


def test_kb_check_reports_located_problems_and_refuses_the_kb(kb: KnowledgeCopy) -> None:
    edit = kb.edit(
        ECONOMY, "putin-good-trend", "putin-good-trnd", ("  - id: economic-effect", "    related:")
    )
    kb.edit(EXODUS, "      value: 300000\n", "      value: 310000\n", ("  - id: mobilization",))
    result = kb_check(kb.root)
    assert result.returncode == 1, result.stdout + result.stderr
    *problems, summary = result.stdout.strip().splitlines()
    assert summary == "2 problem(s); the knowledge base was not loaded"
    located = [LOCATED_LINE.match(line) for line in problems]
    assert all(located), problems
    by_file = {Path(m["path"]).name: m for m in located if m}
    assert set(by_file) == {"economy.yaml", "exodus.yaml"}
    economy = by_file["economy.yaml"]
    assert Path(economy["path"]).resolve() == (kb.root / "entries" / "economy.yaml").resolve()
    assert int(economy["line"]) == edit.line
    assert "'putin-good-trnd'" in economy["message"]
    assert "figure value 310000" in by_file["exodus.yaml"]["message"]


NOT_IN_SOURCE = "not-in-source.yaml"


def test_not_in_source_questions_are_loaded_and_counted() -> None:
    kb = load_knowledge(default_knowledge_dir())
    assert kb.not_in_source, "the shipped knowledge base declares near misses"
    assert kb.stats.not_in_source == sum(len(g.en) + len(g.ru) for g in kb.not_in_source)
    assert any("surname" in q for g in kb.not_in_source for q in g.en)


def test_not_in_source_file_is_optional(kb: KnowledgeCopy) -> None:
    (kb.root / NOT_IN_SOURCE).unlink()
    assert kb.errors() == []
    assert load_knowledge(kb.root).not_in_source == ()


def test_not_in_source_question_may_not_be_an_entry_question(kb: KnowledgeCopy) -> None:
    stored = kb.entry("entries/people.yaml", "kartamyshev")["questions"]["en"][0]
    edit = kb.edit(NOT_IN_SOURCE, "      - Finion website\n", f"      - {stored.upper()}\n")
    error = only_error(kb.errors(), NOT_IN_SOURCE, "cannot be both answered")
    assert "entry 'kartamyshev'" in error.message
    assert error.line == edit.line


def test_not_in_source_unknown_field_is_located(kb: KnowledgeCopy) -> None:
    edit = kb.edit(NOT_IN_SOURCE, "  - note: \"Alexey's", "  - note_: \"Alexey's")
    error = only_error(kb.errors(), NOT_IN_SOURCE, "unknown field")
    assert "note_" in error.message
    assert error.line == edit.line
