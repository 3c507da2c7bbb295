"""Route a user's question to one knowledge-base entry, or say honestly that none fits.

The matcher is lexical and explainable: questions are folded, stemmed, typo-corrected
against the knowledge base's own vocabulary (rapidfuzz), and canonicalized through the
synonyms the moderators declare. Each entry is scored by how much of the question it
explains (IDF-weighted coverage) and by its closest stored question (weighted Dice),
then rapidfuzz's string similarity refines the closest few. Words the knowledge base has
never seen, and numbers (years) that an entry does not contain, count against a match:
that is what turns "how many Ukrainians returned?" or "GDP growth in 2024" into
`unknown` rather than the nearest fact. So do a "when?" or "how many?" asked of an entry
that holds no date or amount, and requests for personal advice, which the source never
gives. No Telegram imports here.
"""

from __future__ import annotations

import gc
import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter, mul
from typing import Any, Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.names import names
from bot.text import (
    ADDRESS_WORDS,
    EN_STOP,
    NUMBER_WORDS,
    QUESTION_WORDS,
    RU_STOP,
    asks_about_future,
    asks_for_advice,
    canonical_numbers,
    intent_tokens,
    is_small_talk,
    latin_to_cyrillic,
    looks_transliterated,
    script_of,
    sentences,
    splits_at_spaces,
    states_quantity,
    states_time,
    stem,
    without_source_framing,
    words,
)

Lang = Literal["en", "ru"]
Outcome = Literal["answer", "clarify", "unknown"]
LANGS: tuple[Lang, ...] = ("en", "ru")
_EDGE_SENTENCES = 6  # sentences scored from each end of a very long message
_SURELY_ENGLISH = 0.8  # share of words known in English that makes Latin text English
# A word in a third or more of the entries ("people", "return") tells no question apart.
_TELLING_IDF = math.log(1 + 3)
_WORD_MEMO = 100_000  # distinct words whose reading each index remembers
_FUNCTION_TYPO_RATIO = 84.0  # fuzz.ratio at which a word is a misspelt function word
_MAX_RUN_TOGETHER = 32  # letters: two words typed without a space are shorter
_KEEP = 20  # entries kept after scoring: enough for did-you-mean, refinement and inline mode


_DIGIT = re.compile(r"\d")
# "Уехавшие" stems like "уехать", but names who is asked about, not the leaving: "почему
# уехавшие возвращаются?" asks why they return. Participles of leaving are emigrants.
_LEAVER = re.compile(
    r"^(?:уеха|уезжа|сбежа|эмигрирова|свали|покину|релоцирова|убежа)вш"
    r"(?:ий|ая|ее|ие|его|ей|их|им|ими|ем|ую|иеся|ихся)$"
)


@dataclass(frozen=True)
class MatcherConfig:
    """Tuning knobs, calibrated on tests/eval/dev.yaml (see `returnbot kb test`)."""

    answer_score: float = 50.0  # at or above (with a clear margin): answer
    clarify_score: float = 48.0  # between clarify_score and answer_score: did-you-mean
    margin: float = 6.0  # best must beat the runner-up by this much to answer outright
    coverage_weight: float = 0.6  # share of the score from question coverage
    extra_credit: float = 0.4  # a word found only in an entry's answer counts this much
    intent_weight: float = 0.8  # weight of question-word intents relative to their IDF
    oov_weight: float = 2.2  # weight of a word the knowledge base has never seen
    number_penalty: float = 0.35  # score factor when the question's number is not in an entry
    oov_penalty: float = 0.5  # score factor for each word the knowledge base has never seen
    intent_penalty: float = 0.3  # "how many"/"when" asked of an entry that states no amount/date
    unmatched_penalty: float = 0.8  # per known word of the question that the entry lacks
    unmatched_rarity: float = 0.5  # 0: every lacking word counts 1; 1: in proportion to IDF
    penalty_scale: float = 1.0  # penalties shrink as known words grow: count / known**scale
    solo_margin: float = 20.0  # a lone candidate this far ahead is answered from the clarify band
    refuse_wrong_kind: bool = True  # the best entry holds no amount/date asked for → unknown
    context_oov_penalty: float = 1.0  # oov_penalty for a whole multi-sentence message (none)
    sentence_oov_penalty: float = 0.7  # ... for one sentence of a multi-sentence message
    background_number_penalty: float = 0.6  # ... when that number is in a fifth of entries
    place_penalty: float = 0.35  # factor when the question names a place or person the entry lacks
    sentence_support: float = 1.2  # long message: each other piece adds this much of its score
    strip_framing: bool = True
    sentence_known: float = 2.0  # a sentence of a long message needs this many known words
    attribute_known: int = 1  # at most this many known words + an unknown one → unknown
    fuzzy_bonus: float = 20.0  # at most this much for a near-verbatim stored question
    min_correction_len: int = 4  # shorter words are never typo-corrected
    max_candidates: int = 3
    contained_refusal: bool = True  # a message holding a whole not-in-source question: unknown
    centroid_weight: float = 1.5  # how much an entry's pooled questions reorder close entries
    reversed_phrases: bool = True  # Russian two-word synonyms also match in reverse order
    refusal_lead: float = 15.0  # a not-in-source match this far ahead refuses, telling or not
    sound_typos: bool = True  # Russian words misspelt by ear are read by how they sound


@dataclass(frozen=True)
class Candidate:
    """One scored entry: why it was chosen is the stored question it matched."""

    entry_id: str
    score: float
    question: str


@dataclass(frozen=True)
class MatchResult:
    """The matcher's decision, as plain data for the answer layer and for moderators."""

    outcome: Outcome
    entry_id: str | None
    score: float
    lang: Lang
    question: str | None  # for unknown: the not-in-source question it matched, if any
    candidates: tuple[Candidate, ...]
    unknown_words: tuple[str, ...] = ()
    small_talk: bool = False  # a greeting or thanks: unknown, but not a gap in the knowledge


@dataclass(frozen=True)
class IndexEntry:
    """What the matcher needs from one knowledge entry (decoupled for benchmarks)."""

    id: str
    questions: Mapping[str, Sequence[str]]
    extra_text: Mapping[str, str] = field(default_factory=dict)
    # Near misses declared in knowledge/not-in-source.yaml: matching one means "I don't know".
    not_in_source: bool = False
    # About the bot or the source: its answer may be "the date is not given", so "when" and
    # "how many" questions are not the wrong kind for it.
    meta: bool = False


# Letters people swap at the start of a word: е/э ("економика"), and Latin-script
# Russian gives е for both.
_SAME_INITIAL = {"э": "е", "ё": "е"}


def _initial(word: str) -> str:
    """The bucket of a word's first letter, for typo correction."""
    return _SAME_INITIAL.get(word[0], word[0])


_ROOT_LENGTH_GAP = 5  # see _same_root

# How Russian is misspelt by ear: unstressed о is heard as а, е/я/э as и ("вапросы",
# "атвечаеш", "расиян", "вечислав"), soft and hard signs are left out, double letters
# written single, "-ться"/"-тся" as "-ца".
_SOUND_LETTERS = str.maketrans(
    {"о": "а", "е": "и", "ё": "и", "я": "и", "э": "и", "ю": "у", "ь": None, "ъ": None}
)
_SOUND_ENDINGS = (("ться", "ца"), ("тся", "ца"))


def sound_key(word: str) -> str:
    """A Russian word as it sounds, for typos made by ear (see _SOUND_LETTERS)."""
    for ending, heard in _SOUND_ENDINGS:
        if word.endswith(ending):
            word = word[: -len(ending)] + heard
            break
    key = word.translate(_SOUND_LETTERS)
    return "".join(letter for i, letter in enumerate(key) if not i or key[i - 1] != letter)


# Transliteration is ambiguous: "sh" may be ш or сх ("ishod" = исход), "ts" ц or тс.
_TRANSLIT_ALTERNATIVES = (("ш", "сх"), ("ц", "тс"))


def _typo_reach(length: int) -> int:
    """How many typos (_nearest's distance) a word of `length` letters may hold."""
    return 1 if length <= 8 else 2


class _TypoChoices:
    """Words by their initial (see `_initial`), narrowed to what a typo of a word can reach.

    A distance is at least the difference in length: a word of another length than the
    typo's, give or take its reach, can never be the nearest. The rest keep their order,
    so extractOne finds the same first nearest word (a Russian initial holds up to 150
    words; on the eval sets 20 are left on average).
    """

    def __init__(self, by_initial: Mapping[str, Sequence[str]]) -> None:
        self._by_initial = by_initial
        self._near: dict[tuple[str, int], list[str]] = {}  # per initial and length

    def near(self, word: str) -> list[str]:
        """The words that share `word`'s initial and a length within its reach, in order."""
        length = len(word)
        key = (_initial(word), length)
        found = self._near.get(key)
        if found is None:
            reach = _typo_reach(length)
            found = [w for w in self._by_initial.get(key[0], ()) if abs(len(w) - length) <= reach]
            if len(self._near) >= _WORD_MEMO:
                self._near.clear()
            self._near[key] = found
        return found


def _nearest(word: str, choices: Sequence[str]) -> str | None:
    """The closest choice within a typo's reach (optimal string alignment distance).

    Typos rarely hit the first letter (choices share it), and a swap of two letters is
    one typo. Words of four letters get one dropped, added or swapped letter but no
    substitution: "safe" must not become "save", while "putn" is "putin".
    """
    if len(word) <= 4:  # no substitution: a nearer-listed "tree" must not hide "trend"
        letters = sorted(word)
        choices = [c for c in choices if len(c) != len(word) or sorted(c) == letters]
    best = process.extractOne(
        word, choices, scorer=OSA.distance, processor=None, score_cutoff=_typo_reach(len(word))
    )
    return None if best is None else best[0]


def _add_weight(overlap: dict[int, float], postings: Sequence[int], weight: float) -> None:
    """Add `weight` to each question of `postings`, in their order (0.0 + weight is weight).

    A membership test and a plain store beat a defaultdict's `+=`, whose missing keys cost
    a call each: most questions a word brings are new.
    """
    if not overlap:
        overlap.update(dict.fromkeys(postings, weight))
        return
    for qid in postings:
        if qid in overlap:
            overlap[qid] += weight
        else:
            overlap[qid] = weight


def ratio_reachable(choices: Sequence[str], length: int, cutoff: float) -> list[str]:
    """The choices, in order, that a word of `length` letters may match with fuzz.ratio >= cutoff.

    fuzz.ratio is 100 * (1 - indel distance / total length), and the distance is at least
    the difference of the lengths: the others can never reach the cutoff. extractOne over
    what is left finds the same choice (the first best one), without scoring the rest.
    """
    return [c for c in choices if 200 * min(length, len(c)) >= cutoff * (length + len(c))]


class _Pieces(dict[str, str]):
    """Space-separated pieces of knowledge-base text → their prepared words, joined by spaces.

    Texts repeat their pieces ("returned?", "Russians"), so each distinct one is folded and
    split once (see `splits_at_spaces`); words never hold a space.
    """

    def __init__(self, prepare: Callable[[str], list[str]]) -> None:
        super().__init__()
        self._prepare = prepare

    def __missing__(self, piece: str) -> str:
        words = self[piece] = " ".join(self._prepare(piece))
        return words


class _Learned(dict[str, str]):
    """Knowledge-base words → their stems; content words are also kept in `surface`, in order."""

    def __init__(self, lang: Lang, function_words: frozenset[str]) -> None:
        super().__init__()
        self._lang = lang
        self._function_words = function_words
        self.surface: dict[str, str] = {}  # every knowledge-base word as written → its stem

    def __missing__(self, word: str) -> str:
        base = self[word] = stem(word, self._lang)
        if word not in self._function_words:
            self.surface[word] = base
        return base


@dataclass
class _Query:
    terms: dict[str, float]
    numbers: frozenset[str]
    unknown: tuple[str, ...]
    text_key: str
    known: int = 0
    places: frozenset[str] = frozenset()  # places, nationalities and people named (stems)
    name_terms: frozenset[str] = frozenset()  # the terms those names became
    # Entries that cannot answer the kind of question asked ("when?" of an undated entry).
    wrong_kind: set[int] = field(default_factory=set)


class _LangIndex:
    """The index of one language: stored questions as weighted term sets."""

    def __init__(
        self,
        lang: Lang,
        entries: Sequence[IndexEntry],
        synonyms: Sequence[Sequence[str]],
        config: MatcherConfig,
    ) -> None:
        self.lang = lang
        self.config = config
        stop = RU_STOP if lang == "ru" else EN_STOP
        self._function_words = frozenset(QUESTION_WORDS) | stop
        self._function_list = sorted(w for w in self._function_words if len(w) >= 3)
        self._question_list = sorted(w for w in QUESTION_WORDS if len(w) >= 5)
        # _function_list by the length of the word to repair: see ratio_reachable.
        self._function_by_length: dict[int, list[str]] = {}
        self._function_by_letters: dict[str, list[str]] = defaultdict(list)
        for word in self._function_list:
            self._function_by_letters["".join(sorted(word))].append(word)
        # Per word of the messages read so far (words repeat across messages far more than
        # whole messages do): its repaired spelling, and how it reads (see `_read`).
        self._repairs: dict[str, str] = {}
        self._readings: dict[str, tuple[bool, str, str | None]] = {}
        self._corrections: dict[str, str | None] = {}
        self._prepared_cache: dict[str, list[str]] = {}
        self._reachable: dict[tuple[int, int], tuple[list[str], list[int]]] = {}
        self._keys_by_length: list[tuple[list[int], list[int]]] = []
        # Messages worded differently often fold to the same terms ("why do Russians
        # return?", "why are russians returning"): they are scored once.
        self._score_cache: dict[
            tuple[str, frozenset[str], int, int | None, bool, bool],
            tuple[tuple[tuple[float, int, int], ...], frozenset[int]],
        ] = {}
        self._address_stems = frozenset(stem(w, lang) for w in ADDRESS_WORDS)
        self._synonym_single: dict[str, str] = {}
        self._synonym_phrases: list[tuple[tuple[str, ...], str]] = []
        vocab: set[str] = set()
        for group in synonyms:
            members = [tuple(stem(w, lang) for w in self._prepare(phrase)) for phrase in group]
            members = [m for m in members if m]
            if not members:
                continue
            canonical = "_".join(members[0])
            for member in members:
                vocab.update(member)
                if len(member) == 1:
                    self._synonym_single.setdefault(member[0], canonical)
                else:
                    self._synonym_phrases.append((member, canonical))
        if lang == "ru" and config.reversed_phrases:
            # Russian word order is free: "назад едут" is "едут назад".
            declared = {phrase for phrase, _ in self._synonym_phrases}
            self._synonym_phrases += [
                (phrase[::-1], canonical)
                for phrase, canonical in list(self._synonym_phrases)
                if len(phrase) == 2 and phrase[::-1] not in declared
            ]
        self._synonym_phrases.sort(key=lambda p: -len(p[0]))
        self._phrases_by_first: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        for phrase, canonical in self._synonym_phrases:  # longest first within each list
            self._phrases_by_first[phrase[0]].append((phrase, canonical))
        self._phrase_starts = frozenset(self._phrases_by_first)
        # Only the build needs these: what it has read, piece by piece and word by word.
        pieces = _Pieces(self._prepare)
        learned = _Learned(lang, self._function_words)

        self.question_text: list[str] = []
        self.question_entry: list[int] = []
        self.question_terms: list[frozenset[str]] = []
        self.entry_questions: list[range] = []
        self.entry_term_counts: list[dict[str, int]] = []
        self.entry_extra: list[frozenset[str]] = []
        self.entry_numbers: list[frozenset[str]] = []
        self.entry_places: list[frozenset[str]] = []
        self.entry_refusal = [entry.not_in_source for entry in entries]  # never specific
        self._names = names(lang)
        self.entry_quantity: list[bool] = []
        self.entry_time: list[bool] = []
        for entry_index, entry in enumerate(entries):
            numbers: set[str] = set()
            places: set[str] = set()
            questions = entry.questions.get(lang, ())
            question_terms: list[frozenset[str]] = []
            for question in questions:
                raw, stems = self._learn(question, pieces, learned)
                places.update(self._places(raw, stems))
                terms = frozenset(self._terms(raw, stems)) | frozenset(intent_tokens(raw))
                question_terms.append(terms)
                if _DIGIT.search(question):
                    numbers.update(t for t in terms if t[0].isdigit())
            first = len(self.question_text)
            self.question_text += questions
            self.question_entry += [entry_index] * len(questions)
            self.question_terms += question_terms
            self.entry_questions.append(range(first, len(self.question_text)))
            counts = dict(Counter(chain.from_iterable(question_terms)))
            extra_text = entry.extra_text.get(lang, "")
            self.entry_quantity.append(entry.meta or states_quantity(extra_text))
            self.entry_time.append(entry.meta or states_time(extra_text))
            raw, stems = self._learn(extra_text, pieces, learned)
            places.update(self._places(raw, stems))
            extra = frozenset(self._terms(raw, stems))
            numbers.update(t for t in extra if t[0].isdigit())
            self.entry_term_counts.append(counts)
            self.entry_extra.append(extra)
            self.entry_numbers.append(frozenset(numbers))
            self.entry_places.append(frozenset(places))
        postings: dict[str, list[int]] = defaultdict(list)
        for qid, terms in enumerate(self.question_terms):
            for term in terms:
                postings[term].append(qid)
        self.postings = {term: tuple(ids) for term, ids in postings.items()}
        self.common_postings = max(80, len(self.question_text) // 100)
        self.question_key = list(map(" ".join, map(sorted, self.question_terms)))
        # Each entry's question keys in question order, as a list: extractOne goes through a
        # list faster than through a dict.
        self.entry_keys = [
            self.question_key[questions.start : questions.stop]
            for questions in self.entry_questions
        ]
        for keys in self.entry_keys:  # for _reachable_keys: positions by key length
            order = sorted(range(len(keys)), key=lambda i, keys=keys: len(keys[i]))
            self._keys_by_length.append(([len(keys[i]) for i in order], order))
        # Per not-in-source entry, its questions (in order) with their rarest term: a
        # message holds a question whole only if it holds that term (see _contained_refusal).
        self.refusal_questions: dict[int, list[tuple[str, frozenset[str], int]]] = {
            entry: [
                (min(terms, key=lambda t: (len(postings[t]), t)), terms, qid)
                for qid in self.entry_questions[entry]
                if (terms := self.question_terms[qid])  # an empty one is never "contained"
            ]
            for entry, refusal in enumerate(self.entry_refusal)
            if refusal
        }
        surface = learned.surface
        vocab.update(surface.values())

        entry_count = max(len(entries), 1)
        document_frequency = Counter(
            chain.from_iterable(
                set(counts) | extra
                for counts, extra in zip(self.entry_term_counts, self.entry_extra, strict=True)
            )
        )
        self.idf = {
            term: math.log(1 + entry_count / df) for term, df in document_frequency.items()
        }
        self.max_idf = math.log(1 + entry_count)
        number_entries = Counter(n for numbers in self.entry_numbers for n in numbers)
        self.background_numbers = frozenset(
            n for n, count in number_entries.items() if count >= max(3, 0.2 * entry_count)
        )
        # Each entry's questions pooled: how typical of the entry each term is.
        self.entry_centroid = [
            self._centroid(counts, len(questions))
            for questions, counts in zip(self.entry_questions, self.entry_term_counts, strict=True)
        ]
        # Every question term has an IDF: its own entry holds it. fsum, not sum: a frozenset
        # iterates in hash order, and a float sum in that order changes with PYTHONHASHSEED.
        self.question_weight = [
            math.fsum(map(self.idf.__getitem__, ts)) for ts in self.question_terms
        ]
        self.vocab = frozenset(v for v in vocab if not v[0].isdigit())
        self._vocab_by_initial: dict[str, list[str]] = defaultdict(list)
        self._vocab_by_root: dict[str, list[str]] = defaultdict(list)  # first four letters
        for word in sorted(self.vocab):
            self._vocab_by_initial[_initial(word)].append(word)
            if len(word) >= 4:
                self._vocab_by_root[word[:4]].append(word)
        self._surface = {w: s for w, s in surface.items() if not w[0].isdigit()}
        self._surface_by_initial: dict[str, list[str]] = defaultdict(list)
        self._short_by_letters: dict[str, list[str]] = defaultdict(list)  # three letters
        # Four-letter words by each three letters left when one is dropped: "bak" is "back".
        self._short_by_deletion: dict[str, list[str]] = defaultdict(list)
        for word in sorted(self._surface):
            self._surface_by_initial[_initial(word)].append(word)
            if len(word) == 3:
                self._short_by_letters["".join(sorted(word))].append(word)
        for word in sorted(set(self._surface) | self._function_words):
            if len(word) == 4 and word.isalpha():
                for dropped in sorted({word[:i] + word[i + 1 :] for i in range(4)}):
                    self._short_by_deletion[dropped].append(word)
        # Russian words by how they sound; a key two different stems share is no guide.
        self._by_sound: dict[str, str] = {}
        if lang == "ru":
            heard: dict[str, set[str]] = defaultdict(set)
            for word, base in self._surface.items():
                if len(word) >= 4:
                    heard[sound_key(word)].add(base)
            self._by_sound = {key: next(iter(s)) for key, s in heard.items() if len(s) == 1}

        # -- for the query path only ----------------------------------------------------
        self._surface_choices = _TypoChoices(self._surface_by_initial)
        self._vocab_choices = _TypoChoices(self._vocab_by_initial)

    def _by_centroid(
        self,
        query: _Query,
        results: list[tuple[float, int, int]],
        exclude: int | None,
        best_dice: Sequence[float],
    ) -> list[tuple[float, int, int]]:
        """Scale scores by the query's cosine with each entry's questions pooled.

        Entries are first scored on their single best question, which one odd stored
        question can win; the entry whose questions as a whole use the query's words is the
        safer guess. The factor fades as the best question's terms match the query's
        exactly (a stored question asked verbatim keeps its score). Only the kept entries
        are compared, so a large knowledge base pays for twenty entries, not for every entry
        sharing "why".
        """
        # Each cosine sums weight x centroid value in term order; map() does it in C. A term
        # in no entry's questions adds 0.0 to every sum, which changes none: it is left out.
        pooled = self.postings  # every centroid term is a question term
        terms = [term for term in query.terms if term in pooled]
        weights = [query.terms[term] for term in terms]
        absent = [0.0] * len(terms)
        cosines = []
        for _, entry, _ in results:
            centroid = self.entry_centroid[entry]
            if exclude is not None and entry == self.question_entry[exclude]:
                pool = dict(self.entry_term_counts[entry])  # leave-one-out: not in the pool
                for term in self.question_terms[exclude]:
                    pool[term] -= 1
                centroid = self._centroid(pool, len(self.entry_questions[entry]) - 1)
            cosines.append(sum(map(mul, weights, map(centroid.get, terms, absent))))
        top = max(cosines, default=0.0)
        if top <= 0:
            return results
        power = self.config.centroid_weight
        return [
            (score * (cosine / top) ** (power * (1 - best_dice[entry])), entry, qid)
            for (score, entry, qid), cosine in zip(results, cosines, strict=True)
        ]

    def _centroid(self, counts: dict[str, int], questions: int) -> dict[str, float]:
        """An entry's questions as one unit vector: sqrt(share of questions) x IDF per term."""
        share = 1 / max(1, questions)
        vector = {t: math.sqrt(c * share) * self.idf[t] for t, c in counts.items() if c > 0}
        # fsum: the terms come in hash order (counts are pooled from frozensets).
        norm = math.sqrt(math.fsum(v * v for v in vector.values())) or 1.0
        return {t: v / norm for t, v in vector.items()}

    # -- text → terms -------------------------------------------------------------------

    def _prepared(self, text: str) -> list[str]:
        """_prepare plus function-word repair, cached: language detection and matching share it."""
        cached = self._prepared_cache.get(text)
        if cached is None:
            if len(self._prepared_cache) >= 4096:
                self._prepared_cache.clear()
            cached = self._fix_function_words(self._prepare(text))
            self._prepared_cache[text] = cached
        return cached

    def _prepare(self, text: str) -> list[str]:
        """Fold and split; in Russian, Latin-script words are transliterated to Cyrillic."""
        tokens = words(text)
        if self.lang == "ru":
            tokens = [
                latin_to_cyrillic(word) if word.isascii() and not word[0].isdigit() else word
                for word in tokens
            ]
            tokens = [_LEAVER.sub("эмигранты", word) if "вш" in word else word for word in tokens]
        if _DIGIT.search(text) or not NUMBER_WORDS.isdisjoint(tokens):
            tokens = canonical_numbers(tokens)
        return tokens

    def _learn(
        self, text: str, pieces: _Pieces, learned: _Learned
    ) -> tuple[list[str], list[str | None]]:
        """Split a knowledge-base text into words and stems, remembering its vocabulary."""
        if splits_at_spaces(text):
            raw = " ".join(map(pieces.__getitem__, text.split(" "))).split()
        else:
            raw = self._prepare(text)
        return raw, list(map(learned.__getitem__, raw))

    def _places(self, raw: list[str], stems: Sequence[str | None]) -> frozenset[str]:
        """The names in a text, through the synonyms: "Georgian" is "Georgia" if declared so."""
        single = self._synonym_single
        return frozenset(single.get(name, name) for name in self._names.found_in(raw, stems))

    def _terms(self, raw: list[str], stems: list[str | None]) -> list[str]:
        """Apply synonyms (phrases may include function words, as in "go back"), drop the rest.

        A None stem marks a word the vocabulary does not know; it is skipped here.
        """
        function_words = self._function_words
        single = self._synonym_single
        if self._phrase_starts.isdisjoint(stems):  # the common case: no phrase to look for
            return [
                single.get(base, base)
                for word, base in zip(raw, stems, strict=True)
                if base is not None and word not in function_words
            ]
        out: list[str] = []
        i = 0
        while i < len(raw):
            current = stems[i]
            candidates = self._phrases_by_first.get(current, ()) if current is not None else ()
            for phrase, canonical in candidates:
                if tuple(stems[i : i + len(phrase)]) == phrase:
                    out.append(canonical)
                    i += len(phrase)
                    break
            else:
                if current is not None and raw[i] not in function_words:
                    out.append(single.get(current, current))
                i += 1
        return out

    def _fix_function_words(self, raw: list[str]) -> list[str]:
        """Repair typos in question and function words ("whyy", "сколко", "pochemy")."""
        repairs = self._repairs
        fixed = []
        for word in raw:
            repaired = repairs.get(word)
            if repaired is None:
                repaired = self._repair(word)
            if " " in repaired:
                fixed.extend(repaired.split(" "))
            else:
                fixed.append(repaired)
        return fixed

    def _repair(self, word: str) -> str:
        """The spelling a word of a message stands for (two words if run together); memoized."""
        repaired = word
        if (
            len(word) >= 3
            and not word[0].isdigit()
            and word not in self._function_words
            and stem(word, self.lang) not in self.vocab
        ):
            repaired = self._function_fix(word)
        if len(self._repairs) >= _WORD_MEMO:
            self._repairs.clear()
        self._repairs[word] = repaired
        return repaired

    def _function_fix(self, word: str) -> str:
        """The function word a typo meant, two words run together, or the word itself."""
        if len(word) == 3:  # too short for more than two swapped letters: "yuo", "hwo"
            letters = "".join(sorted(word))
            swapped = [
                *self._function_by_letters.get(letters, ()),
                *self._short_by_letters.get(letters, ()),
            ]
            if not swapped:  # a letter left out: "bak", "hom", "cam"
                swapped = self._short_by_deletion.get(word, [])
            return swapped[0] if len(swapped) == 1 else word
        # Two letters swapped in a short word first: "waht", and "mnay" is "many", not "may".
        swapped = process.extractOne(
            word,
            self._function_by_letters.get("".join(sorted(word)), ()),
            scorer=OSA.distance,
            processor=None,
            score_cutoff=1,
        )
        if swapped is not None:
            return str(swapped[0])
        if self.correct(word) in self._names.stems:
            return word  # "putn" is Putin misspelt, not "put": a name says more
        tries: tuple[tuple[Sequence[str], Any, float], ...] = (
            # "whyy", "сколко"
            (self._function_words_near(len(word)), fuzz.ratio, _FUNCTION_TYPO_RATIO),
            # one wrong letter in a long question word: "почиму", "сколка"
            (self._question_list if len(word) >= 6 else (), OSA.distance, 1),
        )
        for choices, scorer, cutoff in tries:
            best = process.extractOne(
                word, choices, scorer=scorer, processor=None, score_cutoff=cutoff
            )
            if best is not None:
                return str(best[0])
        if self.correct(word) is None:
            return self._split_run_together(word) or word
        return word

    def _function_words_near(self, length: int) -> list[str]:
        """The function words long enough and short enough to be a typo of `length` letters."""
        near = self._function_by_length.get(length)
        if near is None:
            near = ratio_reachable(self._function_list, length, _FUNCTION_TYPO_RATIO)
            self._function_by_length[length] = near
        return near

    def _split_run_together(self, word: str) -> str | None:
        """Split two words typed without a space: "howmany", "whyare", "скольковернулось".

        Every cut stems both halves, so the work grows with the square of the length: a
        word longer than two long words is not tried (a 4,096-letter one took 0.2 s).
        """
        if len(word) > _MAX_RUN_TOGETHER:
            return None
        for cut in range(2, len(word) - 1):
            left, right = word[:cut], word[cut:]
            # A question word on one side, or two knowledge-base words: "itself" is not
            # "it self", nor "somewhere" "some where".
            if (left in QUESTION_WORDS and self._is_word(right)) or (
                right in QUESTION_WORDS and self._is_word(left)
            ):
                return f"{left} {right}"
            if self._is_content(left) and self._is_content(right):
                return f"{left} {right}"
        return None

    def _is_word(self, word: str) -> bool:
        return word in self._function_words or self._is_content(word)

    def _is_content(self, word: str) -> bool:
        return len(word) >= 4 and stem(word, self.lang) in self.vocab

    def correct(self, word: str) -> str | None:
        """Return the stem of the knowledge-base word a typo most likely meant, or None.

        Typos are made in words as written, so the word is first compared with the
        knowledge base's words as written, then its stem with the stems, and last by root.
        """
        base = stem(word, self.lang)
        if base in self.vocab or word[0].isdigit():
            return base
        if word in self._corrections:
            return self._corrections[word]
        fixed: str | None = None
        if self.lang == "ru":
            for letter, alternative in _TRANSLIT_ALTERNATIVES:
                if letter in word:
                    other = stem(word.replace(letter, alternative), self.lang)
                    if other in self.vocab:
                        fixed = other
                        break
        if fixed is None and len(word) >= self.config.min_correction_len:
            near = _nearest(word, self._surface_choices.near(word))
            if near is not None:
                fixed = self._surface[near]
            elif self.config.sound_typos and (heard := self._by_sound.get(sound_key(word))):
                fixed = heard
            elif len(base) >= 5:  # stems are short: "дет" must not become "дает"
                near = _nearest(base, self._vocab_choices.near(base))
                fixed = near if near is not None else self._same_root(base)
        if len(self._corrections) < 100_000:
            self._corrections[word] = fixed
        return fixed

    def _same_root(self, term: str) -> str | None:
        """Find a vocabulary word sharing a long prefix: "возврат" ~ "возвращ", "заяв" ~ "заявлен".

        Snowball strips endings but not derivational suffixes; a shared root of five or more
        letters (four when one word is the other's prefix) is a safe sign of the same word.
        """
        if len(term) < 4:
            return None
        best: str | None = None
        best_shared = 0
        for word in self._vocab_by_root.get(term[:4], ()):  # a shared root starts alike
            shared = 0
            for a, b in zip(term, word, strict=False):
                if a != b:
                    break
                shared += 1
            shorter = min(len(term), len(word))
            is_prefix = shared == shorter
            # A stem much shorter than the word is no sign of the same word: "скольк" begins
            # "скольковернулось", two words typed together.
            close = max(len(term), len(word)) - shorter <= _ROOT_LENGTH_GAP
            enough = close and (
                (is_prefix and shared >= 4) or (shared >= 5 and shared >= 0.75 * shorter)
            )
            if enough and shared > best_shared:
                best, best_shared = word, shared
        return best

    def query(self, text: str) -> _Query:
        """Turn one message into weighted terms, keeping track of unknown words."""
        raw = self._prepared(text)
        readings = self._readings
        stems: list[str | None] = []
        plain: list[str] = []  # every word's own stem, for the names
        content_words: list[str] = []
        unknown: list[str] = []
        for word in raw:
            reading = readings.get(word) or self._read(word)
            function, base, fixed = reading
            plain.append(base)
            if function:
                stems.append(base)
                continue
            content_words.append(word)
            if fixed is None:
                unknown.append(base)
            stems.append(fixed)
        terms: dict[str, float] = {}
        intents = intent_tokens(raw)
        content = self._terms(raw, stems)
        if not intents and content_words and all(w in ADDRESS_WORDS for w in content_words):
            content = []  # "thank you so much": small talk, not a question about anything
        idf, max_idf = self.idf, self.max_idf
        for term in content:
            terms[term] = idf.get(term, max_idf)
        intent_weight = self.config.intent_weight
        for token in intents:
            terms[token] = idf.get(token, max_idf) * intent_weight
        for term in unknown:
            terms[f"!{term}"] = self.config.oov_weight
        numbers = frozenset(t for t in terms if t[0].isdigit())
        places = self._places(raw, plain)
        # Terms in one fixed order (sorted), not the message's: scores are float sums in
        # term order, and messages with the same terms share a cached score, which must not
        # depend on which of them came first.
        ordered = sorted(terms)
        return _Query(
            places=places,
            name_terms=places & terms.keys(),
            terms={term: terms[term] for term in ordered},
            numbers=numbers,
            unknown=tuple(unknown),
            text_key=" ".join(ordered),
            known=sum(1 for t in terms if t[0] not in "!?" and t not in self._address_stems),
        )

    def known_share(self, text: str) -> float:
        """Share of a message's words this language recognizes (for Latin script: en or ru?)."""
        raw = self._prepared(text)
        if not raw:
            return 0.0
        readings = self._readings
        hits = 0.0
        for probe in raw:
            if probe[0].isdigit():
                continue
            function, base, fixed = readings.get(probe) or self._read(probe)
            if function:
                hits += 1
            elif fixed is not None:
                # A word known as written beats one only reachable as a typo: "privet" is
                # Russian "привет", not a misspelt English "private".
                hits += 1 if fixed == base else 0.5
        return hits / len(raw)

    def _read(self, word: str) -> tuple[bool, str, str | None]:
        """How a word of a message reads: (function word?, its stem, the stem it stands for).

        The last is its own stem for a function word and None for a word the knowledge base
        does not know (see `correct`). Memoized: each distinct word is stemmed and
        typo-corrected once, not once per use (query, language detection, names).
        """
        function = word in self._function_words
        base = stem(word, self.lang)
        reading = (function, base, base if function else self.correct(word))
        if len(self._readings) >= _WORD_MEMO:
            self._readings.clear()
        self._readings[word] = reading
        return reading

    # -- scoring ------------------------------------------------------------------------

    def score(
        self,
        query: _Query,
        exclude: int | None = None,
        *,
        context: bool = False,
        sentence: bool = False,
    ) -> list[tuple[float, int, int]]:
        """Score entries: list of (score, entry index, best question id), best first.

        `context` marks a whole multi-sentence message, whose unknown words and places are
        mostly the writer's story ("my brother in Tbilisi"); its sentences are scored alone.
        """
        # All it depends on: repeated unknown words weigh once in the terms, but each counts
        # in the penalty.
        key = (query.text_key, query.places, len(query.unknown), exclude, context, sentence)
        cached = self._score_cache.get(key)
        if cached is None:
            if len(self._score_cache) >= 4096:
                self._score_cache.clear()
            scored = self._score(query, exclude, context, sentence)
            cached = self._score_cache[key] = (tuple(scored), frozenset(query.wrong_kind))
        query.wrong_kind.update(cached[1])
        return list(cached[0])

    def _score(
        self, query: _Query, exclude: int | None, context: bool, sentence: bool
    ) -> list[tuple[float, int, int]]:
        config = self.config
        total = sum(query.terms.values())
        if total <= 0 or not any(t[0] not in "!?" for t in query.terms):
            return []  # only question words or unknown words: nothing to match on
        # Rare words pick the candidate questions; very common words (in thousands of
        # questions of a large knowledge base) only add to candidates already picked, so a
        # query costs what its distinctive words cost, not what "why" costs.
        overlap: dict[int, float] = {}
        common: list[tuple[str, float]] = []
        all_postings = self.postings
        common_postings = self.common_postings
        for term, weight in query.terms.items():
            postings = all_postings.get(term, ())
            if len(postings) > common_postings:
                common.append((term, weight))
            else:
                _add_weight(overlap, postings, weight)
        if exclude is not None:  # leave-one-out: the question left out does not count
            overlap.pop(exclude, None)
        if common and not overlap:  # nothing rare to start from: take the common words in full
            for term, weight in common:
                _add_weight(overlap, all_postings[term], weight)
            if exclude is not None:
                overlap.pop(exclude, None)
        elif common:
            question_terms = self.question_terms
            for term, weight in common:  # each question still adds them in query order
                for qid in overlap:
                    if term in question_terms[qid]:
                        overlap[qid] += weight
        # Each entry's closest question (weighted Dice); on a tie the first stored one wins.
        # Lists by entry, not dicts: a list item is read without a call. A Dice is never
        # negative, so -1.0 marks an entry not reached yet; `reached` lists them in turn.
        best_dice = [-1.0] * len(self.entry_questions)
        best_qid = [0] * len(self.entry_questions)
        reached: list[int] = []
        question_weight = self.question_weight
        question_entry = self.question_entry
        for qid, shared in overlap.items():
            dice = 2 * shared / (total + question_weight[qid])
            entry = question_entry[qid]
            best = best_dice[entry]
            if dice > best or (dice == best and qid < best_qid[entry]):
                if best < 0:
                    reached.append(entry)
                best_dice[entry] = dice
                best_qid[entry] = qid
        excluded_entry = question_entry[exclude] if exclude is not None else -1
        # A rare word an entry lacks ("salary", "website") says more than a common one
        # ("people"): it weighs by its rarity, 1.0 for the rarest. Computed once per query.
        names = query.name_terms
        terms = [
            (
                term,
                weight,
                weight * config.extra_credit,
                0.0 if term[0] in "!?" else (weight / self.max_idf) ** config.unmatched_rarity,
            )
            for term, weight in query.terms.items()
        ]
        # What does not depend on the entry is worked out once.
        # Unknown and unmatched words weigh less in a long message (rambling context)
        # than in a short one, where they are usually the very thing being asked.
        scale = max(1, query.known) ** config.penalty_scale
        oov_factor = 1.0
        if query.unknown:
            penalty = (
                config.context_oov_penalty
                if context
                else config.sentence_oov_penalty
                if sentence
                else config.oov_penalty
            )
            oov_factor = penalty ** (len(query.unknown) / scale)
        coverage_share = 100 * config.coverage_weight / total
        dice_share = 100 * (1 - config.coverage_weight)
        asks_many, asks_when = "?many" in query.terms, "?when" in query.terms
        numbers, places = query.numbers, query.places
        names_apply = bool(names) and not context
        places_apply = bool(places) and not context
        entry_term_counts, entry_extra = self.entry_term_counts, self.entry_extra
        results: list[tuple[float, int, int]] = []
        for entry in reached:
            dice = best_dice[entry]
            qid = best_qid[entry]
            counts = entry_term_counts[entry]
            extra = entry_extra[entry]
            left_out = self.question_terms[exclude] if entry == excluded_entry else None
            if left_out is None:
                covered = 0.0
                unmatched = 0.0
                for term, weight, extra_weight, lacking in terms:
                    if term in counts:  # counts are never 0
                        covered += weight
                    elif term in extra:
                        covered += extra_weight
                    else:
                        unmatched += lacking
            else:
                covered, unmatched = self._coverage_without(terms, counts, extra, left_out)
            score = (coverage_share * covered + dice_share * dice) * oov_factor
            if unmatched:
                score *= config.unmatched_penalty ** (unmatched / scale)
            if self.entry_refusal[entry]:
                # A not-in-source question stands for what the article leaves open, whatever
                # the year, place or kind of answer asked ("inflation in Russia in 2023"):
                # only the words count for it.
                results.append((score, entry, qid))
                continue
            missing = numbers - self.entry_numbers[entry] if numbers else None
            if missing:
                # A year most entries share ("the 2022 emigrants") describes who is asked
                # about; a rarer number ("growth in 2024") is the very thing asked.
                background = not (missing - self.background_numbers)
                score *= config.background_number_penalty if background else config.number_penalty
            if places_apply and places - self.entry_places[entry]:
                score *= config.place_penalty  # "how many Ukrainians returned?"
            elif names_apply and self._only_names_shared(
                terms, names, counts, extra, left_out or frozenset()
            ):
                # Only the name is shared: "what's the capital of Kazakhstan?" asks about the
                # country, not about the man who lived there.
                score *= config.place_penalty
            # A stored question of the same kind ("how long did he live there?" stored with
            # "how many") says the entry answers it, whatever its text states.
            asked = self.question_terms[qid]
            if (asks_many and not self.entry_quantity[entry] and "?many" not in asked) or (
                asks_when and not self.entry_time[entry] and "?when" not in asked
            ):
                score *= config.intent_penalty
                query.wrong_kind.add(entry)
            results.append((score, entry, qid))
        # Ties go to the entry listed first, whatever order the terms came in: sorted by
        # entry, then stably by score (two C-level sorts, no key function called per row).
        results.sort(key=itemgetter(1))
        results.sort(key=itemgetter(0), reverse=True)
        results = results[:_KEEP]
        if config.centroid_weight:
            results = self._by_centroid(query, results, exclude, best_dice)
            results.sort(key=lambda r: (-r[0], r[1]))
        return self._refine(query, results, exclude)

    @staticmethod
    def _coverage_without(
        terms: list[tuple[str, float, float, float]],
        counts: dict[str, int],
        extra: frozenset[str],
        left_out: frozenset[str],
    ) -> tuple[float, float]:
        """Covered and unmatched weight of an entry one of whose questions is left out."""
        covered = 0.0
        unmatched = 0.0
        for term, weight, extra_weight, lacking in terms:
            in_questions = counts.get(term, 0)
            if term in left_out:
                in_questions -= 1
            if in_questions > 0:
                covered += weight
            elif term in extra:
                covered += extra_weight
            else:
                unmatched += lacking
        return covered, unmatched

    @staticmethod
    def _only_names_shared(
        terms: list[tuple[str, float, float, float]],
        names: frozenset[str],
        counts: dict[str, int],
        extra: frozenset[str],
        left_out: frozenset[str],
    ) -> bool:
        """Whether the entry lacks a plain topic word of the query and holds none of them.

        Only asked when the query names a place or person, so the main loop skips it.
        """
        topic_covered = topic_lacking = False
        for term, *_ in terms:
            if term[0] in "!?" or term in names:
                continue  # not a plain topic word
            in_questions = counts.get(term, 0) - (term in left_out)
            if in_questions > 0 or term in extra:
                topic_covered = True
            else:
                topic_lacking = True
        return topic_lacking and not topic_covered

    def _reachable_keys(self, entry: int, length: int) -> tuple[list[str], list[int]]:
        """An entry's keys that a key of `length` may match with ratio >= 70, and their ids.

        In question order, so extractOne takes the same first best key; the others can never
        reach the cutoff (see ratio_reachable), and are 40 % of them on the eval sets. A key
        several questions share (worded alike, 15 % of the keys) is kept once, with its first
        question: extractOne would take that one. Remembered per entry and length.
        """
        found = self._reachable.get((entry, length))
        if found is None:
            keys = self.entry_keys[entry]
            first = self.entry_questions[entry].start
            # ratio >= 70 needs 200 * min(a, b) >= 70 * (a + b): the key's length between
            # 7/13 and 13/7 of this one, found by bisection in the keys sorted by length.
            lengths, order = self._keys_by_length[entry]
            low = bisect_left(lengths, (7 * length + 12) // 13)
            high = bisect_right(lengths, 13 * length // 7)
            first_position: dict[str, int] = {}
            for i in sorted(order[low:high]):  # back in question order
                first_position.setdefault(keys[i], i)
            found = (list(first_position), [first + i for i in first_position.values()])
            if len(self._reachable) >= _WORD_MEMO:
                self._reachable.clear()
            self._reachable[(entry, length)] = found
        return found

    def _refine(
        self, query: _Query, results: list[tuple[float, int, int]], exclude: int | None
    ) -> list[tuple[float, int, int]]:
        """Add a bonus for a near-verbatim stored question among the top few entries."""
        top = results[:5]
        if not top or not query.text_key:
            return results
        refined = []
        length = len(query.text_key)
        for score, entry, qid in top:
            choices = self.entry_keys[entry]
            first = self.entry_questions[entry].start
            if exclude is not None and 0 <= exclude - first < len(choices):
                left_out = exclude - first  # leave-one-out: every other question
                choices = choices[:left_out] + choices[left_out + 1 :]
                qids = [q for q in self.entry_questions[entry] if q != exclude]
            else:
                choices, qids = self._reachable_keys(entry, length)
            best = process.extractOne(
                query.text_key,
                choices,
                scorer=fuzz.ratio,  # both keys are already sorted terms: token_sort_ratio
                processor=None,
                score_cutoff=70.0,
            )
            if best is not None:
                similarity, best_qid = best[1], qids[best[2]]
                bonus = self.config.fuzzy_bonus * (similarity - 70.0) / 30.0
                # Not capped: two entries both "perfect" must still be told apart by the bonus.
                refined.append((score + bonus, entry, best_qid))
            else:
                refined.append((score, entry, qid))
        refined.sort(key=lambda r: (-r[0], r[1]))
        return refined + results[5:]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Run a block with Python's cyclic garbage collector paused, then collect its objects once.

    An index build allocates hundreds of thousands of containers (term sets, postings) that
    all outlive it. The collector would go over the growing heap again and again while it
    runs (a fifth of the build at 100k stored questions), finding nothing; afterwards one
    pass moves what the build made to the old generation, as those repeated passes would have.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)


class Matcher:
    """The index over a knowledge base; `match()` decides answer, clarify or unknown."""

    def __init__(
        self,
        entries: Sequence[IndexEntry],
        synonyms: Mapping[str, Sequence[Sequence[str]]] | None = None,
        config: MatcherConfig | None = None,
    ) -> None:
        self.config = config or MatcherConfig()
        self.entries = tuple(entries)
        synonyms = synonyms or {}
        with _collector_paused():
            self.indexes: dict[Lang, _LangIndex] = {
                lang: _LangIndex(lang, self.entries, synonyms.get(lang, ()), self.config)
                for lang in LANGS
            }

    @classmethod
    def from_knowledge(cls, kb: object, config: MatcherConfig | None = None) -> Matcher:
        """Build the index from a loaded KnowledgeBase."""
        from bot.knowledge import KnowledgeBase

        assert isinstance(kb, KnowledgeBase)  # noqa: S101 - typed loosely to avoid a cycle
        entries = [
            IndexEntry(
                id=entry.id,
                questions={lang: entry.questions.get(lang) for lang in LANGS},
                extra_text={
                    lang: " ".join(
                        [entry.title.get(lang), entry.answer.get(lang)]
                        + ([entry.quote.speaker.get(lang)] if entry.quote else [])
                    )
                    for lang in LANGS
                },
                meta=entry.kind == "meta",
            )
            for entry in kb.entries
        ]
        entries += [
            IndexEntry(
                id=f"~not-in-source-{number}",
                questions={lang: group.get(lang) for lang in LANGS},
                not_in_source=True,
            )
            for number, group in enumerate(kb.not_in_source, start=1)
        ]
        synonyms = {"en": kb.synonyms.en, "ru": kb.synonyms.ru}
        return cls(entries, synonyms, config)

    def detect_language(self, text: str, fallback: Lang | None = None) -> Lang:
        """Cyrillic is Russian; Latin is English unless it reads as transliterated Russian."""
        script = script_of(text)
        if script == "ru":
            return "ru"
        if script is None:
            return fallback or "en"
        english = self.indexes["en"].known_share(text)
        if english >= _SURELY_ENGLISH and fallback != "ru" and not looks_transliterated(text):
            # Four words in five known in English and no sign of Latin-script Russian: skip
            # the Russian reading, the costly half (each word transliterated and
            # typo-corrected). On dev it never changed the language detected.
            return "en"
        russian = self.indexes["ru"].known_share(text)
        if russian > english:
            return "ru"
        if english == russian:
            if looks_transliterated(text):
                return "ru"
            if fallback is not None:
                return fallback
        return "en"

    def match(
        self, text: str, lang: Lang | None = None, *, exclude: tuple[Lang, int] | None = None
    ) -> MatchResult:
        """Match one message. `lang` is only a fallback when the script can't tell.

        `exclude` leaves one stored question out (for leave-one-out testing).
        """
        detected = self.detect_language(text, lang)
        if is_small_talk(text):
            return MatchResult("unknown", None, 0.0, detected, None, (), small_talk=True)
        if asks_for_advice(text) or asks_about_future(text):
            return MatchResult("unknown", None, 0.0, detected, None, ())
        if self.config.strip_framing:
            text = without_source_framing(text)
        index = self.indexes[detected]
        skip = exclude[1] if exclude is not None and exclude[0] == detected else None
        best_scores: list[tuple[float, int, int]] = []
        best_query: _Query | None = None
        parts = sentences(text)
        if len(parts) > 2 * _EDGE_SENTENCES:
            # 4,096 characters of "?!" are thousands of sentences: the question of a long
            # message is near its start or its end, and the whole text is scored anyway.
            parts = parts[:_EDGE_SENTENCES] + parts[-_EDGE_SENTENCES:]
        pieces = [text, *parts] if len(parts) > 1 else [text]
        scored_pieces: list[tuple[_Query, list[tuple[float, int, int]]]] = []
        for number, piece in enumerate(pieces):
            query = index.query(piece)
            # In a long message, unknown words are mostly context ("my brother in Tbilisi").
            scored = index.score(
                query, skip, context=len(pieces) > 1 and not number, sentence=number > 0
            )
            if number and scored:
                # A short sentence ("can you help?") must not outvote the whole message.
                weight = min(1.0, query.known / self.config.sentence_known)
                scored = [(score * weight, entry, qid) for score, entry, qid in scored]
            scored_pieces.append((query, scored))
            if scored and (not best_scores or scored[0][0] > best_scores[0][0]):
                best_scores, best_query = scored, query
            elif best_query is None:
                best_query = query
        if len(scored_pieces) > 2 and best_scores and self.config.sentence_support:
            best_scores, best_query = self._with_support(scored_pieces)
        return self._decide(index, detected, best_scores, best_query)

    def _with_support(
        self, scored_pieces: list[tuple[_Query, list[tuple[float, int, int]]]]
    ) -> tuple[list[tuple[float, int, int]], _Query]:
        """Rank the entries of a long message by their best piece plus the other pieces' support.

        "I live in Montenegro and must renew my residence permit. Is it true they refuse
        Russians? Is that why people go home?": the last sentence alone is closest to why
        people return, but residence permits run through all three.
        """
        best: dict[int, tuple[float, int, _Query]] = {}
        total: dict[int, float] = defaultdict(float)
        for query, scored in scored_pieces:
            seen: set[int] = set()
            for score, entry, qid in scored:
                if entry in seen:
                    continue
                seen.add(entry)
                total[entry] += min(score, 100.0)
                if score > best.get(entry, (-1.0, 0, query))[0]:
                    best[entry] = (score, qid, query)
        support = self.config.sentence_support
        rows = sorted(
            (
                (score + support * (total[entry] - min(score, 100.0)), entry, qid)
                for entry, (score, qid, _) in best.items()
            ),
            key=lambda row: (-row[0], row[1]),
        )
        return rows[:_KEEP], best[rows[0][1]][2]

    def _decide(
        self,
        index: _LangIndex,
        lang: Lang,
        scored: list[tuple[float, int, int]],
        query: _Query | None,
    ) -> MatchResult:
        config = self.config
        unknown_words = query.unknown if query else ()
        if query is not None and query.unknown and query.known <= config.attribute_known:
            # "Alexey's surname", "Finion's phone": one known thing plus a word the knowledge
            # base has never seen asks for an attribute the source does not give.
            scored = []
        every = scored  # refusals included, for _contained_refusal
        if query is not None:
            scored = self._telling_refusals_only(index, query, scored)
        top_scored = scored[: config.max_candidates]
        candidates = tuple(
            Candidate(
                entry_id=self.entries[entry].id,
                score=round(min(100.0, score), 1),  # shown on a 0-100 scale
                question=index.question_text[qid],
            )
            for score, entry, qid in top_scored
        )
        raw = [score for score, _, _ in top_scored]  # decisions use the uncapped scores
        # Not-in-source questions compete like entries but are never offered to the user.
        offered = tuple(
            candidate
            for candidate, (_, entry, _) in zip(candidates, top_scored, strict=True)
            if not self.entries[entry].not_in_source
        )
        if not candidates or raw[0] < config.clarify_score:
            top = candidates[0].score if candidates else 0.0
            return MatchResult("unknown", None, top, lang, None, offered, unknown_words)
        if self.entries[scored[0][1]].not_in_source:
            # "What is Alexey's surname?" is closest to a question the source leaves open.
            best = candidates[0]
            return MatchResult(
                "unknown", None, best.score, lang, best.question, offered, unknown_words
            )
        if query is not None and config.contained_refusal:
            contained = self._contained_refusal(index, query, scored[0][1], every)
            if contained is not None:
                # "How old is Evgeniy, the programmer who came back from Almaty?" asks the
                # whole of "how old is Evgeniy", whatever else it says.
                return MatchResult(
                    "unknown", None, candidates[0].score, lang, contained, offered, unknown_words
                )
        if query is not None and scored[0][1] in query.wrong_kind and config.refuse_wrong_kind:
            # "When did Alexey leave?" of an entry with no date: it cannot be answered.
            return MatchResult(
                "unknown", None, candidates[0].score, lang, None, offered, unknown_words
            )
        best = candidates[0]
        lead = raw[0] - (raw[1] if len(raw) > 1 else 0.0)
        if (raw[0] >= config.answer_score and lead >= config.margin) or (
            lead >= config.solo_margin and not unknown_words
        ):
            return MatchResult(
                "answer", best.entry_id, best.score, lang, best.question, offered, unknown_words
            )
        close = tuple(
            c
            for c, r in zip(candidates, raw, strict=True)
            if r >= config.clarify_score and c in offered
        )
        return MatchResult(
            "clarify", best.entry_id, best.score, lang, best.question, close, unknown_words
        )

    def _telling_refusals_only(
        self, index: _LangIndex, query: _Query, scored: list[tuple[float, int, int]]
    ) -> list[tuple[float, int, int]]:
        """Keep a not-in-source match only if it tells the message from the best real entry.

        It must share a term with the message that the entry's stored questions lack: the
        "surname" of "Alexey's surname". "What did Alexey tell reporters" also resembles "what
        is Alexey's surname", but in nothing the Alexey questions lack, so it is dropped;
        unless it scores `refusal_lead` above the entry.
        """
        refusal = index.entry_refusal
        real = next((row for row in scored if not refusal[row[1]]), None)
        if real is None:
            return scored
        known = index.entry_term_counts[real[1]].keys()
        asked = set(query.terms)
        # Far ahead of the best real entry, it is kept anyway: "zarplata evgeniya" is much
        # closer to "what salary was Evgeniy offered" than to anything Evgeniy's entry answers.
        clear_lead = real[0] + self.config.refusal_lead
        return [
            row
            for row in scored
            if not refusal[row[1]]
            or bool((asked & index.question_terms[row[2]]) - known)
            or row[0] >= clear_lead
        ]

    def _contained_refusal(
        self, index: _LangIndex, query: _Query, best: int, scored: list[tuple[float, int, int]]
    ) -> str | None:
        """Return a not-in-source question the message contains whole, or None.

        One of its words must be missing from the best entry's questions ("old" in "how old
        is Evgeniy"), as for any not-in-source match, and be no word a third of the entries
        use ("people"): "how many people returned, according to Finion?" holds "how many
        people returned to Moscow" whole, but asks Finion's figure.
        """
        asked = query.terms
        refusal_questions = index.refusal_questions
        # What the best entry holds is worked out only once a question is held whole: most
        # messages hold none, and each not-in-source question is first ruled out by its
        # rarest term.
        own: int | None = None
        known: set[str] | None = None
        for _, entry, _ in scored:
            for rarest, terms, qid in refusal_questions.get(entry, ()):
                if rarest not in asked or not terms <= asked.keys():
                    continue
                if own is None:
                    # The longest of the best entry's own questions that the message holds
                    # whole: a longer not-in-source question held whole is the more
                    # specific reading.
                    own = max(
                        (
                            len(index.question_terms[q])
                            for q in index.entry_questions[best]
                            if index.question_terms[q] <= asked.keys()
                        ),
                        default=0,
                    )
                if len(terms) > own:
                    return index.question_text[qid]
                if known is None:
                    known = index.entry_term_counts[best].keys() | index.entry_extra[best]
                if any(  # a not-in-source question's terms all have an IDF: it holds them
                    t[0] != "?" and t not in known and index.idf[t] >= _TELLING_IDF for t in terms
                ):
                    return index.question_text[qid]
        return None

    def search(self, text: str, lang: Lang | None = None, limit: int = 10) -> list[Candidate]:
        """Rank entries for inline mode: every plausible entry, best first."""
        detected = self.detect_language(text, lang)
        index = self.indexes[detected]
        scored = index.score(index.query(text))
        return [
            Candidate(self.entries[entry].id, round(score, 1), index.question_text[qid])
            for score, entry, qid in scored[:limit]
            if score >= self.config.clarify_score and not self.entries[entry].not_in_source
        ]

    def stored_questions(self, lang: Lang) -> list[tuple[int, str, str]]:
        """List (question id, entry id, text) of one language, for leave-one-out tests."""
        index = self.indexes[lang]
        return [
            (qid, self.entries[entry].id, index.question_text[qid])
            for qid, entry in enumerate(index.question_entry)
            if not self.entries[entry].not_in_source
        ]
