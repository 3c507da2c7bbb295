"""Tests for the knowledge base: the shipped one loads clean and every moderator mistake is caught.

Broken knowledge bases are built from the shipped one: copy `knowledge/` into tmp_path and make
one small textual edit, exactly what a moderator would change. Expected line numbers are computed
from the edited text, so the tests do not break when entries are added or reordered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.knowledge import (
    KnowledgeBase,
    KnowledgeError,
    KnowledgeLoadError,
    default_knowledge_dir,
    load_knowledge,
)
from bot.knowledge.numbers import (
    extract_numbers,
    extract_word_fractions,
    unsupported_numbers,
    unsupported_values,
)
from bot.knowledge.source import SourceText
from bot.knowledge.yamlfile import MAX_FILE_BYTES, YamlFileError, read_yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "knowledge"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kb"
SOURCE_NAME = "return-migration-article.txt"
SOURCE = SHIPPED / "sources" / SOURCE_NAME
SHARED_SOURCE = REPO.parent / "shared" / "sources" / SOURCE_NAME

# `path:line: message`, the form `returnbot kb check` prints for each problem.
LOCATED_LINE = re.compile(r"^(?P<path>.+?\.(?:yaml|txt)):(?P<line>\d+): (?P<message>.+)$")


# --- helpers ----------------------------------------------------------------------------------


def line_of(text: str, needle: str) -> int:
    """Return the 1-based line on which `needle` starts in `text`."""
    index = text.find(needle)
    assert index >= 0, f"{needle!r} not found"
    return text.count("\n", 0, index) + 1


def key_line_before(text: str, needle: str, key: str) -> int:
    """Return the line of the last `key` above `needle` (e.g. the `en: >-` owning a sentence)."""
    index = text.find(needle)
    assert index >= 0, f"{needle!r} not found"
    key_index = text.rfind(key, 0, index)
    assert key_index >= 0, f"{key!r} not found above {needle!r}"
    return text.count("\n", 0, key_index) + 1


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


class KnowledgeCopy:
    """A copy of the shipped knowledge folder that a test breaks with one edit."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def edit(self, rel: str, old: str, new: str) -> str:
        """Replace the single occurrence of `old` in `rel` by `new`; return the edited text."""
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} must occur exactly once in {rel}"
        edited = text.replace(old, new)
        path.write_text(edited, encoding="utf-8")
        return edited

    def errors(self) -> list[KnowledgeError]:
        return load_errors(self.root)


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


def test_yaml_syntax_error_points_at_the_badly_indented_line(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/how-many.yaml",
        "  - id: how-many-returned\n    kind: context\n",
        "  - id: how-many-returned\n      kind: context\n",
    )
    error = only_error(kb.errors(), "how-many.yaml", "YAML syntax")
    assert error.line == line_of(edited, "      kind: context")
    assert "mapping values are not allowed" in error.message


QUESTIONS_KEY = "    questions:\n      en:\n        - How many Russians have returned?\n"


def test_unknown_field_suggests_the_known_one(kb: KnowledgeCopy) -> None:
    kb.edit("entries/how-many.yaml", QUESTIONS_KEY, QUESTIONS_KEY.replace("questions", "qestions"))
    error = only_error(kb.errors(), "how-many.yaml", "unknown field")
    assert error.message.startswith("entry 'how-many-returned': ")
    assert "(did you mean 'questions'?)" in error.message


def test_unknown_field_is_reported_on_its_own_line_by_name(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/how-many.yaml", QUESTIONS_KEY, QUESTIONS_KEY.replace("questions", "qestions")
    )
    error = only_error(kb.errors(), "how-many.yaml", "unknown field")
    assert "unknown field 'qestions'" in error.message
    assert error.line == line_of(edited, "    qestions:")


def test_missing_field_points_at_its_entry(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/how-many.yaml",
        '    topic: how-many\n    source: return-migration-article\n    title: {en: "How many',
        '    source: return-migration-article\n    title: {en: "How many',
    )
    error = only_error(kb.errors(), "how-many.yaml", "missing field")
    assert error.message == "entry 'how-many-returned': missing field 'topic'"
    assert error.line == line_of(edited, "  - id: how-many-returned")


def test_empty_string_is_an_error(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/how-many.yaml", 'title: {en: "How many have returned"', 'title: {en: ""'
    )
    error = only_error(kb.errors(), "how-many.yaml", "empty text")
    assert error.message == "entry 'how-many-returned': empty text in 'title.en'"
    assert error.line == line_of(edited, 'title: {en: ""')


def test_answer_without_russian_is_a_missing_language(kb: KnowledgeCopy) -> None:
    text = kb.text("entries/economy.yaml")
    start = text.index("      ru: >-\n        По данным статьи, тысячи")
    ru_block = text[start : text.index("    evidence:", start)]
    edited = kb.edit("entries/economy.yaml", ru_block, "")
    error = only_error(kb.errors(), "economy.yaml", "missing language")
    assert error.message == "entry 'economic-effect': missing language 'ru' in 'answer'"
    assert error.line == key_line_before(
        edited, "that reverse migration has likely added", "    answer:"
    )


def test_duplicate_id_across_two_files_names_both_places(kb: KnowledgeCopy) -> None:
    edited = kb.edit("entries/economy.yaml", "  - id: putin-good-trend\n", "  - id: alexey\n")
    people = kb.text("entries/people.yaml")
    error = only_error(kb.errors(), "people.yaml", "duplicate id")
    first = line_of(edited, "  - id: alexey\n")
    assert error.message == f"entry 'alexey': duplicate id (also in economy.yaml:{first})"
    assert error.line == line_of(people, "  - id: alexey\n")


@pytest.mark.parametrize("question", ["Putin quote", "putin QUOTE?"])
def test_same_question_under_two_entries(kb: KnowledgeCopy, question: str) -> None:
    edited = kb.edit("entries/people.yaml", "        - Alexey quote\n", f"        - {question}\n")
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "people.yaml"
    assert error.message == (
        f"entry 'alexey': question '{question}' is also under entry 'putin-good-trend'"
    )
    assert error.line == line_of(edited, f"        - {question}\n")


def test_related_to_a_missing_id_suggests_the_existing_one(kb: KnowledgeCopy) -> None:
    old = "related: [putin-good-trend, better-opportunities, how-many-returned]"
    edited = kb.edit("entries/economy.yaml", old, old.replace("trend", "trnd", 1))
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "economy.yaml"
    assert error.message == (
        "entry 'economic-effect': 'related' points at missing entry 'putin-good-trnd' "
        "(did you mean 'putin-good-trend'?)"
    )
    assert error.line == line_of(edited, "related: [putin-good-trnd")


def test_unknown_topic_lists_the_known_ones(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/economy.yaml",
        "    kind: figure\n    topic: economy\n",
        "    kind: figure\n    topic: economics\n",
    )
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "economy.yaml"
    assert error.message.startswith("entry 'economic-effect': unknown topic 'economics' (")
    assert "economy" in error.message
    assert error.line == line_of(edited, "    topic: economics")


def test_quote_with_one_word_changed_is_not_verbatim(kb: KnowledgeCopy) -> None:
    old = '      text: "The business didn\'t work out; no one is really waiting for us"\n'
    edited = kb.edit("entries/people.yaml", old, old.replace("really", "truly"))
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "people.yaml"
    assert error.message == "entry 'alexey': quote.text does not occur verbatim in the source"
    assert error.line == line_of(edited, "no one is truly waiting")


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param('text: "Many fled to register dissent', id="word"),
        pytest.param('text: "Many left to regicter dissent', id="letter"),
        pytest.param('text: "many left to register dissent', id="case"),
        pytest.param('text: "Many left to register dissent against the war, and', id="comma"),
    ],
)
def test_evidence_not_in_the_source(kb: KnowledgeCopy, changed: str) -> None:
    old = 'text: "Many left to register dissent against the war and'
    edited = kb.edit("entries/exodus.yaml", old, changed + old[len(changed) :])
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "exodus.yaml"
    assert error.message == (
        "entry 'why-people-left': evidence text does not occur verbatim in the source"
    )
    assert error.line == line_of(edited, changed)


def test_evidence_in_the_wrong_paragraph_names_the_right_one(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/exodus.yaml",
        '      - paragraph: 3\n        text: "Many left',
        '      - paragraph: 4\n        text: "Many left',
    )
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "exodus.yaml"
    assert error.message == "entry 'why-people-left': evidence is in paragraph 3, not 4"
    assert error.line == line_of(edited, '      - paragraph: 4\n        text: "Many left')


def test_changed_figure_value_no_longer_matches_its_evidence(kb: KnowledgeCopy) -> None:
    edited = kb.edit("entries/exodus.yaml", "      value: 300000\n", "      value: 310000\n")
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "exodus.yaml"
    assert (
        error.message == "entry 'mobilization': figure value 310000 is not stated in its evidence"
    )
    figure_line = line_of(edited, "    figure:\n      value: 310000")
    assert error.line in (figure_line, figure_line + 1)  # the figure, or its value


def test_english_answer_stating_a_number_its_evidence_lacks(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/how-many.yaml",
        "an estimated 40 to 45\n        percent",
        "an estimated 40 to 55\n        percent",
    )
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "how-many.yaml"
    assert error.message == (
        "entry 'finion-estimate': answer.en states 55, which its evidence does not"
    )
    assert error.line == key_line_before(edited, "an estimated 40 to 55", "      en: >-")


def test_russian_answer_may_write_thousands_in_words(kb: KnowledgeCopy) -> None:
    kb.edit("entries/exodus.yaml", "призыв 300 000 резервистов", "призыв 300 тысяч резервистов")
    assert kb.errors() == []


def test_russian_answer_stating_a_number_its_evidence_lacks(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/exodus.yaml", "призыв 300 000 резервистов", "призыв 400 тысяч резервистов"
    )
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "exodus.yaml"
    assert error.message == (
        "entry 'mobilization': answer.ru states 400 тысяч, which its evidence does not"
    )
    assert error.line == key_line_before(edited, "призыв 400 тысяч", "      ru: >-")


def test_duplicate_yaml_key_names_both_lines(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/exodus.yaml", "    kind: figure\n", "    kind: figure\n    kind: figure\n"
    )
    first = line_of(edited, "    kind: figure\n")
    error = only_error(kb.errors(), "exodus.yaml", "duplicate key")
    assert error.message == f"duplicate key 'kind' (first on line {first})"
    assert error.line == first + 1


def test_ui_text_with_a_wrong_placeholder(kb: KnowledgeCopy) -> None:
    kb.edit("ui.yaml", 'en: "{topic}: choose a question"', 'en: "{topc}: choose a question"')
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "ui.yaml"
    assert "'topic_questions.en' must use exactly these placeholders: {topic}" in error.message


def test_ui_placeholder_error_points_at_the_text(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "ui.yaml", 'en: "{topic}: choose a question"', 'en: "{topc}: choose a question"'
    )
    error = only_error(kb.errors(), "ui.yaml", "topic_questions.en")
    assert error.line == line_of(edited, 'en: "{topc}')


def test_ui_text_with_a_positional_placeholder_is_rejected(kb: KnowledgeCopy) -> None:
    kb.edit("ui.yaml", 'en: "{topic}: choose a question"', 'en: "{topic}: choose a question {}"')
    only_error(kb.errors(), "ui.yaml", "topic_questions.en")


def test_missing_ui_key(kb: KnowledgeCopy) -> None:
    text = kb.text("ui.yaml")
    start = text.index("  inline_empty:\n")
    block = text[start : text.index("  chat_intro:\n", start)]
    edited = kb.edit("ui.yaml", block, "")
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "ui.yaml"
    assert error.message == "missing field 'ui.inline_empty'"
    assert error.line == line_of(edited, "ui:\n")


def test_meta_entry_answer_with_digits(kb: KnowledgeCopy) -> None:
    edited = kb.edit(
        "entries/about.yaml", "I answer only from one source:", "I answer only from 1 source:"
    )
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert error.file.name == "about.yaml"
    assert error.message == "entry 'about-source': a meta entry's answer must not state numbers"
    assert error.line == key_line_before(edited, "from 1 source", "      en: >-")


def test_word_fraction_does_not_support_digits_in_an_answer(kb: KnowledgeCopy) -> None:
    # The evidence says "half"; the figure may store 0.5, but the answer may not write 50.
    edited = kb.edit(
        "entries/how-many.yaml",
        "In June 2023, the Kremlin boasted that half of all who fled in the early days of the\n"
        "        exodus had already returned. This",
        "In June 2023, the Kremlin boasted that 50% of all who fled in the early days of the\n"
        "        exodus had already returned. This",
    )
    errors = kb.errors()
    assert len(errors) == 1, shown(errors)
    (error,) = errors
    assert (
        error.message == "entry 'kremlin-half': answer.en states 50, which its evidence does not"
    )
    assert error.line == key_line_before(edited, "boasted that 50%", "      en: >-")


def test_evidence_cut_in_the_middle_of_a_number_is_rejected(kb: KnowledgeCopy) -> None:
    fixture = FIXTURES / "forged-number.yaml"
    shutil.copy(fixture, kb.root / "entries" / "forged-number.yaml")
    error = only_error(kb.errors(), "forged-number.yaml", "evidence")
    text = fixture.read_text(encoding="utf-8")
    assert error.line == line_of(text, 'text: "When Putin ordered a call-up of 300"')


# --- hostile YAML -----------------------------------------------------------------------------


def _refuse(*_args, **_kwargs):
    raise AssertionError("the document was built; it should have been refused while scanning")


def test_alias_bomb_is_refused_before_anything_is_built(monkeypatch) -> None:
    bomb = FIXTURES / "billion-laughs.yaml"
    assert bomb.stat().st_size < 1024
    monkeypatch.setattr(yaml, "compose", _refuse)
    monkeypatch.setattr(yaml, "load", _refuse)
    with pytest.raises(YamlFileError) as exc:
        read_yaml(bomb)
    assert exc.value.error.message == "YAML anchors and aliases are not allowed"
    assert exc.value.error.line == line_of(bomb.read_text(encoding="utf-8"), "&l1")


def test_alias_bomb_in_the_knowledge_base_is_a_located_error(kb: KnowledgeCopy) -> None:
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
    source.write_bytes(source.read_text(encoding="utf-8").encode("cp1252"))
    errors = kb.errors()
    assert any("UTF-8" in e.message for e in errors), shown(errors)


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
        pytest.param("Russia's 3,6% annual economic growth", id="decimal-comma"),
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
    return subprocess.run(
        [sys.executable, "-m", "bot", "kb", "check", "--knowledge", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def test_kb_check_passes_on_the_shipped_kb(shipped: KnowledgeBase) -> None:
    result = kb_check(SHIPPED)
    assert result.returncode == 0, result.stdout + result.stderr
    s = shipped.stats
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"ok: {s.entries} entries, ")
    assert f"{s.quotes_verified} quotes verified" in summary
    assert f"{s.figures_verified} figures verified" in summary


def test_kb_check_reports_located_problems_and_refuses_the_kb(kb: KnowledgeCopy) -> None:
    old = "related: [putin-good-trend, better-opportunities, how-many-returned]"
    edited = kb.edit("entries/economy.yaml", old, old.replace("trend", "trnd", 1))
    kb.edit("entries/exodus.yaml", "      value: 300000\n", "      value: 310000\n")
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
    assert int(economy["line"]) == line_of(edited, "related: [putin-good-trnd")
    assert "'putin-good-trnd'" in economy["message"]
    assert "figure value 310000" in by_file["exodus.yaml"]["message"]
