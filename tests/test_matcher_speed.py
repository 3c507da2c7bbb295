"""Shortcuts the matcher takes for speed: each must give what the plain computation gives."""

import random
from collections import defaultdict

import pytest
from rapidfuzz import fuzz, process

from bot.knowledge import default_knowledge_dir, load_knowledge
from bot.matcher import Matcher, _add_weight, _initial, _nearest, ratio_reachable
from bot.text import (
    _ADDRESSEES,
    _AMOUNT_AFTER_HOW,
    _ANTECEDENTS,
    _CYRILLIC,
    _HOW,
    _HOW_ARE_YOU,
    _LATIN,
    _RELATIVE,
    _SMALL_TALK,
    _TIME_AFTER_HOW_MANY,
    EN_STOP,
    QUESTION_WORDS,
    RU_STOP,
    _asks_when,
    fold,
    intent_tokens,
    is_small_talk,
    script_of,
    words,
)


def test_add_weight_sums_like_a_defaultdict_in_the_same_order() -> None:
    rng = random.Random(5)  # noqa: S311 - test data, not secrets
    for _ in range(200):
        postings = [sorted(rng.sample(range(60), rng.randint(0, 25))) for _ in range(4)]
        weights = [rng.uniform(0.1, 4.0) for _ in postings]
        plain: defaultdict[int, float] = defaultdict(float)
        fast: dict[int, float] = {}
        for qids, weight in zip(postings, weights, strict=True):
            for qid in qids:
                plain[qid] += weight
            _add_weight(fast, qids, weight)
        assert list(fast.items()) == list(plain.items())  # same keys, order and float bits


@pytest.mark.parametrize("cutoff", [70.0, 84.0])
def test_ratio_reachable_keeps_every_choice_extract_one_could_pick(cutoff: float) -> None:
    choices = sorted(w for w in EN_STOP | RU_STOP if len(w) >= 3)
    rng = random.Random(11)  # noqa: S311 - test data, not secrets
    probes = [*choices, "whyy", "сколко", "becuase", "a" * 12, "xy"]
    for word in choices:
        letters = list(word)
        rng.shuffle(letters)
        probes.append("".join(letters) + rng.choice(["", "s", "ed"]))
    for probe in probes:
        near = ratio_reachable(choices, len(probe), cutoff)
        assert near == [c for c in choices if c in near]  # order kept
        full = process.extractOne(
            probe, choices, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff
        )
        fast = process.extractOne(
            probe, near, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff
        )
        assert (full[0], full[1]) == (fast[0], fast[1]) if full else fast is None
        for choice in set(choices) - set(near):
            assert fuzz.ratio(probe, choice) < cutoff


def test_remembered_words_change_no_result() -> None:
    """A message read with every per-word memo warm matches as in a fresh matcher."""
    kb = load_knowledge(default_knowledge_dir())
    warm = Matcher.from_knowledge(kb)
    questions = [
        "pochemu rossiyane vozvrashchayutsya",
        "howmany russians returned",
        "скольковернулось",
        "are yuo a bot or a real persn",
        "what did Zelensky say about returnees?",
        "My brother lives in Tbilisi. Whyy do people come back? Is it the salary?",
    ]
    for question in questions:  # fill the memos with these very words
        warm.match(question)
    for question in questions:
        assert warm.match(question) == Matcher.from_knowledge(kb).match(question)


def _small_talk_in_full(text: str) -> bool:
    """is_small_talk without its shortcut: every word of the message read and checked."""
    found = words(_HOW_ARE_YOU.sub(" hi ", fold(text)))
    return (
        any(word in _SMALL_TALK and word not in _ADDRESSEES for word in found)
        and not any(word in QUESTION_WORDS for word in found)
        and all(word in _SMALL_TALK or word in EN_STOP or word in RU_STOP for word in found)
    )


def test_small_talk_shortcut_decides_as_reading_every_word() -> None:
    rng = random.Random(3)  # noqa: S311 - test data, not secrets
    pieces = [
        *sorted(_SMALL_TALK),
        *sorted(EN_STOP)[:40],
        *sorted(RU_STOP)[:40],
        *["why", "how", "сколько", "кто", "you", "bot", "бот", "dear", "u"],
        *["how are you", "как дела", "what's up", "sup", "how r u", "как сам", "kak dela"],
        *["people", "returned", "вернулись", "Russians", "IT", "300 k", "300к", "po4emu", "4to"],
        *["<b>", "</b>", "40%", "1,5", "don't", "what's", "ёлка", "Ёж", "A", "Б", "x"],
        *["ǰ", "ﬁne", "İstanbul", "ᄀ\u200bᅡ", "e\u0301", "zero\u200bwidth", "ß", "Kelvin"],
    ]
    separators = [" ", " ", " ", ", ", "! ", "? ", ". ", "...", "\n", "\u200b", ":)", "🙂 ", ""]
    for _ in range(20_000):
        parts = rng.choices(pieces, k=rng.randint(1, 6))
        text = "".join(part + rng.choice(separators) for part in parts)
        if rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.5 else text.title()
        assert is_small_talk(text) is _small_talk_in_full(text), text


def test_script_of_counts_only_mixed_text() -> None:
    rng = random.Random(8)  # noqa: S311 - test data, not secrets
    letters = "abcxyzABCK\u212a\u017fабвэюяАБЯЁё 1?,\u0301"  # Kelvin sign, long s: IGNORECASE
    for _ in range(20_000):
        text = "".join(rng.choices(letters, k=rng.randint(0, 12)))
        cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
        counted = None if not cyrillic and not latin else "ru" if cyrillic >= latin else "latin"
        assert script_of(text) == counted, text


def test_reachable_keys_by_bisection_are_those_ratio_reachable_keeps() -> None:
    """_refine's keys come from a bisection over key lengths; they must be exactly, and in
    the same order, what ratio_reachable(keys, length, 70) keeps, for every length, each
    key once, with the first question that has it."""
    from bot.knowledge import load_knowledge
    from bot.knowledge.paths import default_knowledge_dir

    matcher = Matcher.from_knowledge(load_knowledge(default_knowledge_dir()))
    checked = 0
    for index in matcher.indexes.values():
        for entry, keys in enumerate(index.entry_keys):
            first = index.entry_questions[entry].start
            for length in range(0, 2 + max(map(len, keys), default=0) * 2):
                choices, qids = index._reachable_keys(entry, length)
                assert choices == list(dict.fromkeys(ratio_reachable(keys, length, 70.0)))
                assert [index.question_key[q] for q in qids] == choices
                assert [keys.index(key) + first for key in choices] == qids
                assert qids == sorted(qids)
                assert all(q >= first for q in qids)
                checked += 1
    assert checked > 1000


def test_typo_choices_find_the_nearest_word_of_the_whole_initial_bucket() -> None:
    """correct() looks only at words of a reachable length; _nearest must pick the same one."""
    matcher = Matcher.from_knowledge(load_knowledge(default_knowledge_dir()))
    rng = random.Random(13)  # noqa: S311 - test data, not secrets
    checked = 0
    for index in matcher.indexes.values():
        for by_initial, choices in (
            (index._surface_by_initial, index._surface_choices),
            (index._vocab_by_initial, index._vocab_choices),
        ):
            words_known = sorted(w for bucket in by_initial.values() for w in bucket)
            probes = list(words_known)
            for word in words_known:  # a slip: a letter dropped, doubled, swapped or changed
                at = rng.randrange(1, len(word)) if len(word) > 1 else 0
                probes += [word[:at] + word[at + 1 :], word[:at] + word[at - 1] + word[at:]]
                probes.append(
                    word[: at - 1] + word[at : at + 1] + word[at - 1 : at] + word[at + 1 :]
                )
                probes.append(word[:at] + rng.choice("aeoиае") + word[at + 1 :])
            for probe in filter(None, probes):
                full = _nearest(probe, by_initial.get(_initial(probe), ()))
                assert _nearest(probe, choices.near(probe)) == full, probe
                checked += 1
    assert checked > 10_000


def _intents_word_by_word(raw_words: list[str]) -> list[str]:
    """intent_tokens without its shortcut: every word goes through every case."""
    out: list[str] = []
    previous = ""
    for position, word in enumerate(raw_words):
        if word in _AMOUNT_AFTER_HOW and previous in _HOW:
            out[-1] = "?many"
        elif word in _TIME_AFTER_HOW_MANY and out and out[-1] == "?many" and previous not in _HOW:
            out[-1] = "?how"
        elif word == "what" and previous == "or":
            pass  # a tag: "or what"
        elif word == "when" and position > 0 and not _asks_when(raw_words, position):
            pass  # a conjunction
        elif word in _RELATIVE and previous in _ANTECEDENTS:
            pass  # "those who"
        elif (token := QUESTION_WORDS.get(word)) is not None:
            out.append(token)
        previous = word
    return out


def test_intent_tokens_skip_only_words_no_case_acts_on() -> None:
    rng = random.Random(17)  # noqa: S311 - test data, not secrets
    vocabulary = [
        *QUESTION_WORDS,
        *_AMOUNT_AFTER_HOW,
        *_TIME_AFTER_HOW_MANY,
        *_ANTECEDENTS,
        *["or", "was", "did", "is", "you", "live", "people", "вернулись", "ли", "a"],
    ]
    for _ in range(20_000):
        raw = rng.choices(vocabulary, k=rng.randint(0, 8))
        assert intent_tokens(raw) == _intents_word_by_word(raw), raw
