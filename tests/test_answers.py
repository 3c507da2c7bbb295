"""bot.answers on the shipped knowledge base: replies as plain data, gaps without identity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.answers import (
    ACTION_ENTRY,
    ACTION_FEEDBACK,
    ACTION_LANG,
    ACTION_TOPIC,
    ACTION_TOPICS,
    Answers,
    Reply,
    lang_from_code,
)
from bot.knowledge import LANGS, KnowledgeBase, Lang
from bot.knowledge.paths import default_knowledge_dir
from bot.runtime import KnowledgeRuntime
from bot.storage import Storage

ANSWERED = "What did Alexey say?"
UNKNOWN = "what's the weather in Paris?"
AMBIGUOUS = (
    "share who returned",
    "2022 emigration",
    "return",
    "job",
    "jobs abroad",
    "figures",
    "quote",
    "reasons",
)


@pytest.fixture(scope="module")
def runtime() -> KnowledgeRuntime:
    return KnowledgeRuntime.load(default_knowledge_dir())


@pytest.fixture
def kb(runtime: KnowledgeRuntime) -> KnowledgeBase:
    return runtime.current.kb


@pytest.fixture(scope="module")
def shared_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    """For tests that only check that nothing was recorded (opening a database costs)."""
    with Storage.open(tmp_path_factory.mktemp("shared")) as opened:
        yield opened


@pytest.fixture(scope="module")
def answers(runtime: KnowledgeRuntime, shared_storage: Storage) -> Answers:
    return Answers(runtime, shared_storage)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with Storage.open(tmp_path) as opened:
        assert opened.healthy
        yield opened


@pytest.fixture
def recording(runtime: KnowledgeRuntime, storage: Storage) -> Answers:
    """Answers with a fresh database of their own, for tests that count what was kept."""
    return Answers(runtime, storage)


def actions(reply: Reply) -> list[str]:
    return [button.action for row in reply.buttons for button in row]


def ambiguous_question(answers: Answers) -> str:
    for question in AMBIGUOUS:
        if answers.ask(question, hint="en", record=False).kind == "clarify":
            return question
    pytest.fail("none of the candidate questions is ambiguous any more; add one")


# ---------------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        (None, None),
        ("", None),
        ("en", "en"),
        ("en-GB", "en"),
        ("EN-us", "en"),
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("uk", "ru"),
        ("be", "ru"),
        ("kk", "ru"),
        ("de", None),
        ("zh-hans", None),
        ("-", None),
    ],
)
def test_lang_from_code(code: str | None, lang: Lang | None) -> None:
    assert lang_from_code(code) == lang


# ---------------------------------------------------------------------------- questions


def test_answer_carries_entry_quote_attribution_and_feedback(
    answers: Answers, kb: KnowledgeBase
) -> None:
    reply = answers.ask(ANSWERED)
    entry = kb.entry("alexey")
    assert entry is not None
    assert entry.quote is not None
    assert (reply.kind, reply.lang, reply.entry_id) == ("answer", "en", "alexey")
    assert reply.heading == entry.title.en
    assert reply.text == entry.answer.en
    assert reply.quote is not None
    assert reply.quote.text == entry.quote.text
    assert reply.quote.note is None  # the original, not a translation
    assert entry.quote.speaker.en in reply.quote.by
    assert len(reply.attribution) == 1
    assert "2" in reply.attribution[0]
    assert actions(reply)[-2:] == ["f:+:alexey", "f:-:alexey"]
    related = [f"{ACTION_ENTRY}:{r}" for r in entry.related if kb.entry(r) is not None]
    assert actions(reply)[:-2] == related


def test_russian_answer_uses_the_translation_and_says_so(
    answers: Answers, kb: KnowledgeBase
) -> None:
    reply = answers.ask("Что сказал Алексей?")
    entry = kb.entry("alexey")
    assert entry is not None
    assert entry.quote is not None
    assert (reply.kind, reply.lang) == ("answer", "ru")
    assert reply.quote is not None
    assert reply.quote.text == entry.quote.translation_ru
    assert reply.quote.note == kb.ui.text("translated_quote_note", "ru")


def test_chat_language_wins_over_the_question_language(
    answers: Answers, kb: KnowledgeBase
) -> None:
    reply = answers.ask(ANSWERED, hint="en", chat_lang="ru")
    assert (reply.kind, reply.lang, reply.entry_id) == ("answer", "ru", "alexey")
    entry = kb.entry("alexey")
    assert entry is not None
    assert reply.heading == entry.title.ru


def test_figure_entries_say_who_claims_the_number(answers: Answers, kb: KnowledgeBase) -> None:
    entry = next(e for e in kb.entries if e.figure is not None)
    reply = answers.open_entry(entry.id, "en")
    assert reply is not None
    assert entry.figure is not None
    assert any(entry.figure.claimed_by.en in line for line in reply.attribution)


def test_unknown_question_offers_the_topics(answers: Answers, kb: KnowledgeBase) -> None:
    reply = answers.ask(UNKNOWN)
    assert (reply.kind, reply.text, reply.entry_id) == (
        "unknown",
        kb.ui.text("unknown", "en"),
        None,
    )
    assert actions(reply) == [ACTION_TOPICS]


def test_clarify_offers_the_candidates(answers: Answers, kb: KnowledgeBase) -> None:
    question = ambiguous_question(answers)
    reply = answers.ask(question, hint="en", record=False)
    assert reply.text == kb.ui.text("clarify", "en")
    assert reply.match is not None
    assert actions(reply) == [f"{ACTION_ENTRY}:{c.entry_id}" for c in reply.match.candidates]
    assert len(actions(reply)) >= 2


def test_ask_records_gaps_only_for_unknown_and_clarify(
    recording: Answers, storage: Storage
) -> None:
    question = ambiguous_question(recording)  # record=False: leaves no trace
    assert storage.stats().questions == 0

    recording.ask(ANSWERED)
    assert storage.gaps() == []
    recording.ask(UNKNOWN)
    recording.ask(question, hint="en")

    gaps = {(g.text, g.outcome) for g in storage.gaps()}
    assert gaps == {(UNKNOWN, "unknown"), (question, "clarify")}
    stats = storage.stats()
    assert (stats.questions, stats.answered, stats.clarify, stats.unknown) == (3, 1, 1, 1)
    assert stats.top_entries == [("alexey", 1)]


def test_ask_without_recording_or_storage_keeps_nothing(
    runtime: KnowledgeRuntime, storage: Storage
) -> None:
    Answers(runtime, storage).ask(UNKNOWN, record=False)
    assert storage.stats().questions == 0
    assert Answers(runtime, None).ask(UNKNOWN).kind == "unknown"  # no storage: still answers


# ---------------------------------------------------------------------------- buttons


def test_press_entry(answers: Answers) -> None:
    reply = answers.press(f"{ACTION_ENTRY}:evgeniy", lang="ru")
    assert (reply.kind, reply.lang, reply.entry_id) == ("answer", "ru", "evgeniy")


def test_press_topic_lists_its_entries_and_a_way_back(answers: Answers, kb: KnowledgeBase) -> None:
    reply = answers.press(f"{ACTION_TOPIC}:people", lang="en")
    assert reply.kind == "topic"
    expected = [f"{ACTION_ENTRY}:{e.id}" for e in kb.entries_in("people")]
    assert actions(reply) == [*expected, ACTION_TOPICS]
    assert reply.buttons[-1][0].label == kb.ui.text("back", "en")


def test_press_topics_lists_every_topic_two_per_row(answers: Answers, kb: KnowledgeBase) -> None:
    reply = answers.press(ACTION_TOPICS, lang="ru")
    assert reply.kind == "topics"
    assert actions(reply) == [f"{ACTION_TOPIC}:{t.id}" for t in kb.topics]
    assert all(len(row) <= 2 for row in reply.buttons)
    assert [b.label for row in reply.buttons for b in row] == [t.title.ru for t in kb.topics]


@pytest.mark.parametrize("lang", LANGS)
def test_press_language_answers_in_the_chosen_language(
    answers: Answers, kb: KnowledgeBase, lang: Lang
) -> None:
    other: Lang = "ru" if lang == "en" else "en"
    reply = answers.press(f"{ACTION_LANG}:{lang}", lang=other)
    assert (reply.kind, reply.lang, reply.text) == ("info", lang, kb.ui.text("lang_set", lang))


@pytest.mark.parametrize(("sign", "helpful"), [("+", True), ("-", False)])
def test_press_feedback_records_it(
    recording: Answers, storage: Storage, kb: KnowledgeBase, sign: str, helpful: bool
) -> None:
    reply = recording.press(f"{ACTION_FEEDBACK}:{sign}:evgeniy", lang="en")
    assert (reply.kind, reply.text) == ("info", kb.ui.text("feedback_thanks", "en"))
    assert storage.stats().feedback == {"evgeniy": (1, 0) if helpful else (0, 1)}


@pytest.mark.parametrize(
    "action",
    [
        "",
        "garbage",
        "a:",
        "a:does-not-exist",
        "a:ALEXEY",
        "t:nope",
        "t:",
        "top:extra",
        "l:de",
        "l:",
        "f:+:nope",
        "f:x:alexey",
        "f:+",
        "f::alexey",
        "x" * 64,
        "a:alexey\x00",
        "a:../alexey",
    ],
)
def test_forged_or_stale_actions_expire_and_record_nothing(
    answers: Answers, shared_storage: Storage, kb: KnowledgeBase, action: str
) -> None:
    before = shared_storage.stats()
    reply = answers.press(action, lang="ru")
    assert (reply.kind, reply.lang, reply.text) == (
        "expired",
        "ru",
        kb.ui.text("expired_button", "ru"),
    )
    assert shared_storage.stats() == before


def test_every_action_fits_telegrams_callback_data(answers: Answers, kb: KnowledgeBase) -> None:
    """Callback data is the action plus "|<lang>" and may be at most 64 bytes."""
    replies = [answers.greeting("en"), answers.language_choice("en"), answers.sources("en")]
    replies += [answers.press(f"{ACTION_TOPIC}:{t.id}", lang="ru") for t in kb.topics]
    replies += [answers.press(f"{ACTION_ENTRY}:{e.id}", lang="ru") for e in kb.entries]
    for reply in replies:
        for action in actions(reply):
            assert len(f"{action}|ru".encode()) <= 64, action
            assert answers.press(action, lang="en").kind != "expired", action


# ---------------------------------------------------------------------------- other replies


def test_open_entry(answers: Answers) -> None:
    assert answers.open_entry("alexey", "en") is not None
    assert answers.open_entry("bogus", "en") is None


def test_greeting_and_texts(answers: Answers, kb: KnowledgeBase) -> None:
    greeting = answers.greeting("ru")
    assert (greeting.kind, greeting.text) == ("topics", kb.ui.text("start_greeting", "ru"))
    assert actions(greeting) == [f"{ACTION_TOPIC}:{t.id}" for t in kb.topics]
    assert answers.text("help", "en") == Reply("info", "en", kb.ui.text("help", "en"))


def test_sources_describe_every_source(answers: Answers, kb: KnowledgeBase) -> None:
    reply = answers.sources("ru")
    assert reply.heading == kb.ui.text("sources_intro", "ru")
    for loaded in kb.sources.values():
        assert loaded.meta.title.ru in reply.text
        assert loaded.meta.description.ru in reply.text


def test_language_choice_offers_both(answers: Answers) -> None:
    assert actions(answers.language_choice("en")) == [f"{ACTION_LANG}:en", f"{ACTION_LANG}:ru"]


def test_search_returns_answers_without_feedback(recording: Answers, storage: Storage) -> None:
    answers = recording
    results = answers.search("why are people returning", limit=4)
    assert 1 <= len(results) <= 4
    assert results[0].entry_id == "return-reasons"
    assert len({r.entry_id for r in results}) == len(results)
    for reply in results:
        assert reply.kind == "answer"
        assert not any(a.startswith(f"{ACTION_FEEDBACK}:") for a in actions(reply))
    assert storage.stats().questions == 0  # inline search is not a question asked
    assert answers.search(UNKNOWN) == []


@pytest.mark.parametrize("greeting", ["hello", "Hi!", "спасибо", "Здравствуйте!", "thanks 🙏"])
def test_small_talk_gets_a_greeting_and_is_not_a_gap(tmp_path, greeting: str) -> None:
    from bot.runtime import KnowledgeRuntime, build_snapshot
    from bot.storage import Storage

    snapshot = build_snapshot(default_knowledge_dir())
    storage = Storage.open(tmp_path)
    try:
        answers = Answers(KnowledgeRuntime(snapshot.kb.root, snapshot), storage)
        reply = answers.ask(greeting)
        assert reply.kind == "unknown"
        assert reply.text == snapshot.kb.ui.text("small_talk", reply.lang)
        assert reply.buttons  # the topics, so there is somewhere to go
        assert storage.gaps() == []
        assert storage.stats().questions == 1
    finally:
        storage.close()
