"""Shortcuts the matcher takes for speed: each must give what the plain computation gives."""

import random
from collections import defaultdict

import pytest
from rapidfuzz import fuzz, process

from bot.knowledge import default_knowledge_dir, load_knowledge
from bot.matcher import Matcher, _add_weight, ratio_reachable
from bot.text import EN_STOP, RU_STOP


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
