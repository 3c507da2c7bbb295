"""The matcher on the shipped knowledge base: routing, languages, typos, refusals."""

import dataclasses
import gc

import pytest

from bot.knowledge import default_knowledge_dir, load_knowledge
from bot.matcher import IndexEntry, Matcher, MatcherConfig, sound_key


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_knowledge(load_knowledge(default_knowledge_dir()))


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("Why are Russians coming back home?", "return-reasons"),
        ("how many people have returned?", "how-many-returned"),
        ("finion?", "finion-estimate"),
        ("мобилизация", "mobilization"),
        ("Сколько россиян вернулось?", "how-many-returned"),
        ("skolko rossiyan vernulos", "how-many-returned"),
        ("pochemu rossiyane vozvrashchayutsya", "return-reasons"),
        ("mobilzation", "mobilization"),
        ("massovyj ishod iz rossii", "exodus-2022"),  # "sh" here is с+х, not ш
        ("rost ekonomiki rossii v 2023", "economic-effect"),  # е for э
        ("what did Putin say about people returning?", "putin-good-trend"),
        ("what did putin say?", "putin-good-trend"),
        ("who is Kartamyshev", "kartamyshev"),
        ("Alexey", "alexey"),
        ("waht can you answer", "about-bot"),
        ("yo what can u do", "about-bot"),
        ("howmany russians returned", "how-many-returned"),
        ("скольковернулось", "how-many-returned"),
        ("почиму уехавшие возвращаются", "return-reasons"),
        ("мобилизация 300 тысч резервистов", "mobilization"),
        ("are you a bot?", "about-bot"),
        ("are yuo a bot or a real persn", "about-bot"),  # three letters swapped: "you"
        ("how do i ues this bot", "about-bot"),
        ("whats this thing for", "about-bot"),
        ("когда вышла статья?", "about-source"),
        ("Что президент сказал про тех, кто возвращается?", "putin-good-trend"),
        ("what was russia's growth in 2023", "economic-effect"),
        (
            "Hi! I left Moscow in 2022 and live in Tbilisi now. My question: why are people "
            "going back?",
            "return-reasons",
        ),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else value,
)
def test_routes_to_entry(matcher: Matcher, question: str, entry: str) -> None:
    result = matcher.match(question)
    assert result.outcome == "answer", result
    assert result.entry_id == entry
    assert result.question is not None  # moderators see which stored question matched


@pytest.mark.parametrize(
    "question",
    [
        "how many Ukrainians returned?",
        "Russia's GDP growth in 2024",
        "what is Alexey's surname?",
        "Finion's phone number",
        "what's the weather in Moscow",
        "tell me a joke",
        "how much is a Schengen visa",
        "hi",
        "good morning",
        "thanks, that was really helpful",
        "what does the IMF say about returnees' effect on growth?",
        "😀😀😀",
        "",
        "какая погода в Москве",
        "should I go back to Russia?",
        "is it worth returning now?",
        "стоит ли мне возвращаться в Россию?",
        "посоветуйте, возвращаться или нет",
    ],
)
def test_refuses_what_the_source_does_not_say(matcher: Matcher, question: str) -> None:
    result = matcher.match(question)
    assert result.outcome == "unknown", result
    assert result.entry_id is None


@pytest.mark.parametrize(
    ("question", "fallback", "lang"),
    [
        ("why do people return", None, "en"),
        ("почему люди возвращаются", None, "ru"),
        ("pochemu lyudi vozvrashchayutsya", None, "ru"),
        ("skolko vernulos", "en", "ru"),
        ("2022?", "ru", "ru"),
        ("2022?", None, "en"),
    ],
)
def test_language_detection(matcher: Matcher, question: str, fallback: str, lang: str) -> None:
    assert matcher.match(question, fallback).lang == lang  # type: ignore[arg-type]


def test_result_carries_runners_up(matcher: Matcher) -> None:
    result = matcher.match("how many returned according to the relocation firm")
    ids = [c.entry_id for c in result.candidates]
    assert len(ids) == len(set(ids)) <= 3
    assert result.candidates[0].score >= result.candidates[-1].score


def test_hostile_input_is_harmless(matcher: Matcher) -> None:
    for text in ["a" * 4096, "\x00\x01\x02", "<b>" * 500, "🙂" * 2000, "‮RTL override", "0" * 500]:
        result = matcher.match(text)
        assert result.outcome in {"answer", "clarify", "unknown"}


def test_leave_one_out_excludes_the_question(matcher: Matcher) -> None:
    qid, entry_id, text = matcher.stored_questions("en")[0]
    with_it = matcher.match(text, "en")
    without = matcher.match(text, "en", exclude=("en", qid))
    assert with_it.entry_id == entry_id
    assert without.question != text or without.entry_id != entry_id


def test_numbers_not_in_an_entry_count_against_it() -> None:
    entries = [
        IndexEntry("growth-2023", {"en": ["economic growth in 2023"]}, {"en": "growth 2023"}),
        IndexEntry("other", {"en": ["something else entirely"]}),
    ]
    matcher = Matcher(entries)
    assert matcher.match("economic growth in 2023").entry_id == "growth-2023"
    assert matcher.match("economic growth in 2024").outcome != "answer"


def test_a_year_most_entries_share_counts_less_than_a_rare_one() -> None:
    entries = [
        IndexEntry(f"left-{n}", {"en": [f"topic{n} of the 2022 exodus"]}) for n in range(3)
    ] + [
        IndexEntry("returns", {"en": ["why do emigrants return", "reasons emigrants return"]}),
        IndexEntry("growth", {"en": ["economic growth in 2023"]}, {"en": "growth 2023"}),
    ]
    matcher = Matcher(entries)
    assert matcher.indexes["en"].background_numbers == frozenset({"2022"})
    strict = Matcher(entries, config=MatcherConfig(background_number_penalty=0.35))
    question = "why do the 2022 emigrants return"
    assert matcher.match(question).score > strict.match(question).score
    assert matcher.match("economic growth in 2024").outcome != "answer"


def test_a_long_message_is_ranked_by_what_runs_through_its_sentences() -> None:
    kb = load_knowledge(default_knowledge_dir())
    story = (
        "Hi, I've been living abroad with my wife since spring 2022. Last week the migration "
        "office told us our permit won't be extended. A friend said this is one of the main "
        "reasons Russians end up going back. Does your info say anything about residency "
        "permits being rejected?"
    )
    best_piece_only = Matcher.from_knowledge(
        kb, MatcherConfig(sentence_support=0.0, strip_framing=False)
    )
    assert best_piece_only.match(story).entry_id == "return-reasons"
    assert Matcher.from_knowledge(kb).match(story).entry_id == "residence-permits"


def test_places_not_in_an_entry_count_against_it() -> None:
    entries = [
        IndexEntry(
            "georgia-returns",
            {"en": ["why did people return from georgia", "returns from georgia"]},
        ),
        IndexEntry("other", {"en": ["something else entirely"]}),
    ]
    matcher = Matcher(entries)
    assert matcher.match("why did people return from georgia").entry_id == "georgia-returns"
    # Both last words are unknown; only Israel, a place, makes it a different question.
    assert matcher.match("why did people return from israel").outcome == "unknown"
    assert matcher.match("why did people return from georgia lately").outcome == "answer"
    # A place in the story of a long message is context, not the question.
    story = "My sister lives in Israel since 2022. Why did people return from Georgia?"
    assert matcher.match(story).entry_id == "georgia-returns"


def test_a_shared_place_alone_does_not_make_a_match() -> None:
    entries = [
        IndexEntry("kz", {"en": ["why did the programmer leave kazakhstan", "kazakhstan"]}),
        IndexEntry("other", {"en": ["something else entirely", "capital flight", "markets"]}),
    ]
    matcher = Matcher(entries)
    # "capital" is a known word, but not the kz entry's: only the country is shared.
    assert matcher.match("capital of kazakhstan").outcome == "unknown"
    assert matcher.match("kazakhstan?").entry_id == "kz"
    assert matcher.match("programmer in kazakhstan").entry_id == "kz"
    without = Matcher(entries, config=MatcherConfig(place_penalty=1.0))
    assert without.match("capital of kazakhstan").entry_id == "kz"


def test_places_on_the_shipped_knowledge_base(matcher: Matcher) -> None:
    assert matcher.match("how many Germans returned home?").outcome == "unknown"
    assert matcher.match("сколько релокантов вернулось из Израиля").outcome == "unknown"
    assert matcher.match("Alexey in Georgia").entry_id == "alexey"
    # Places go through the synonyms: the nationality is the country the entry names.
    assert matcher.match("georgian returnee").entry_id == "alexey"
    assert matcher.match("what did Zelensky say about returnees?").outcome == "unknown"
    assert matcher.match("что сказал Зеленский о вернувшихся?").outcome == "unknown"
    assert matcher.match("what did Putin say about returnees?").entry_id == "putin-good-trend"
    assert matcher.match("How old is Vladimir Putin?").outcome == "unknown"
    assert matcher.match("what's the capital of Kazakhstan?").outcome == "unknown"
    assert matcher.match("какая столица Казахстана").outcome == "unknown"


def test_not_in_source_questions_refuse_but_are_never_offered() -> None:
    entries = [
        IndexEntry(
            "alexey",
            {"en": ["who is alexey", "what did alexey say", "alexey from georgia"]},
            {"en": "Alexey, a political consultant, said the business did not work out."},
        ),
        IndexEntry("other", {"en": ["something else entirely"]}),
        IndexEntry("~nis", {"en": ["what is alexey's surname"]}, not_in_source=True),
    ]
    matcher = Matcher(entries)
    refused = matcher.match("alexey's surname?")
    assert refused.outcome == "unknown"
    assert refused.question == "what is alexey's surname"  # moderators see why
    assert all(not c.entry_id.startswith("~") for c in refused.candidates)
    # Sharing only what the Alexey entry also has is no reason to refuse.
    assert matcher.match("who is alexey").entry_id == "alexey"
    assert matcher.match("what is alexey").entry_id == "alexey"
    assert all(c.entry_id != "~nis" for c in matcher.search("alexey surname"))
    assert all(entry != "~nis" for _, entry, _ in matcher.stored_questions("en"))
    plain = Matcher(entries[:2])
    assert (
        plain.match("alexey's surname?").outcome != "unknown"
        or not plain.match("alexey's surname?").candidates
    )


def test_a_more_specific_not_in_source_question_held_whole_refuses() -> None:
    entries = [
        IndexEntry(
            "evgeniy",
            {"en": ["what job offer did evgeniy get", "who got a salary they could not dream of"]},
            {"en": "Evgeniy got an offer with a salary he could not dream of."},
        ),
        IndexEntry("other", {"en": ["something else entirely"]}),
        IndexEntry("~nis", {"en": ["what salary was evgeniy offered"]}, not_in_source=True),
    ]
    matcher = Matcher(entries)
    # Every word is the entry's, but no question of the entry asks all of them together.
    refused = matcher.match("so what salary was evgeniy offered exactly?")
    assert refused.outcome == "unknown"
    assert refused.question == "what salary was evgeniy offered"
    assert matcher.match("what job offer did evgeniy get?").entry_id == "evgeniy"
    assert matcher.match("evgeniy's job offer and salary").entry_id == "evgeniy"


def test_not_in_source_questions_ignore_years_and_places() -> None:
    entries = [
        IndexEntry(
            "growth",
            {"en": ["economic growth in 2023", "gdp growth 2023"]},
            {"en": "growth was 3.6% in 2023"},
        ),
        IndexEntry("other", {"en": ["something else entirely"]}),
        IndexEntry("~nis", {"en": ["inflation in russia"]}, not_in_source=True),
    ]
    matcher = Matcher(entries)
    assert matcher.match("inflation in russia in 2023").outcome == "unknown"
    assert matcher.match("inflation in russia in 2023").question == "inflation in russia"
    assert matcher.match("economic growth in 2023").entry_id == "growth"


def test_a_message_holding_a_whole_not_in_source_question_is_refused() -> None:
    entries = [
        IndexEntry(
            "evgeniy",
            {"en": ["who is evgeniy", "the programmer from almaty", "why did evgeniy return"]},
        ),
        IndexEntry("other", {"en": ["something else entirely"]}),
        IndexEntry("~nis", {"en": ["how old is evgeniy"]}, not_in_source=True),
    ]
    question = "how old is evgeniy, the programmer from almaty?"
    assert (
        Matcher(entries, config=MatcherConfig(contained_refusal=False, centroid_weight=0.0))
        .match(question)
        .entry_id
        == "evgeniy"
    )  # the control; the pooled-questions factor alone would refuse it too
    refused = Matcher(entries).match(question)
    assert refused.outcome == "unknown"
    assert refused.question == "how old is evgeniy"
    assert Matcher(entries).match("the programmer from almaty").entry_id == "evgeniy"


def test_not_in_source_on_the_shipped_knowledge_base(matcher: Matcher) -> None:
    assert matcher.match("Alexey's surname?").outcome == "unknown"
    assert matcher.match("finion website").outcome == "unknown"
    assert matcher.match("сколько лет Евгению?").outcome == "unknown"
    assert matcher.match("Who is Evgeniy?").entry_id == "evgeniy"
    assert matcher.match("tell me about Alexey").entry_id == "alexey"


def test_synonyms_from_the_knowledge_base_are_used() -> None:
    entries = [
        IndexEntry("returns", {"en": ["why do emigrants return", "reasons to return"]}),
        IndexEntry("leaving", {"en": ["why did emigrants leave", "reasons to leave"]}),
    ]
    plain = Matcher(entries)
    with_synonyms = Matcher(entries, {"en": [["return", "come back", "go home"]]})
    assert with_synonyms.match("why do emigrants go home").entry_id == "returns"
    assert plain.match("why do emigrants go home").entry_id != "returns" or (
        plain.match("why do emigrants go home").outcome != "answer"
    )


@pytest.mark.parametrize(
    ("question", "lang"),
    [("privet", "ru"), ("familija alekseya", "ru"), ("evgeniy", "en"), ("Finion's boss", "en")],
)
def test_ties_between_languages(matcher: Matcher, question: str, lang: str) -> None:
    # Words known as written beat typo corrections; translit letter groups break a tie.
    assert matcher.match(question).lang == lang


def test_russian_participles_of_leaving_name_the_emigrants(matcher: Matcher) -> None:
    # "Уехавших" stems like "уехать", but says who returns, not that they left.
    result = matcher.match("Что заставляет уехавших россиян возвращаться на родину?")
    assert result.outcome != "unknown"
    assert result.entry_id == "return-reasons"
    assert matcher.match("почему россияне уехали из страны?").entry_id == "why-people-left"


def test_an_entry_whose_questions_as_a_whole_share_the_words_keeps_its_score() -> None:
    entries = [
        IndexEntry("leaving", {"en": ["why emigrants leave", "the flight", "fleeing"]}),
        IndexEntry(
            "returning",
            {"en": ["why emigrants return", "emigrants coming home", "why come back"]},
        ),
    ]
    question = "why emigrants"
    alone = {
        c.entry_id: c.score
        for c in Matcher(entries, config=MatcherConfig(centroid_weight=0.0)).search(question)
    }
    pooled = {c.entry_id: c.score for c in Matcher(entries).search(question)}
    assert pooled["returning"] == alone["returning"]  # its questions use "why" and "emigrants"
    assert pooled["leaving"] < alone["leaving"] - 2  # one question of three does


def test_a_common_word_does_not_make_a_held_not_in_source_question_telling() -> None:
    entries = [
        IndexEntry("firm", {"en": ["how many returned according to the moscow firm finion"]}),
        IndexEntry("trend", {"en": ["are people coming home"]}),
        IndexEntry("left", {"en": ["how many people left"]}),
        IndexEntry("~nis", {"en": ["how many people returned to moscow"]}, not_in_source=True),
    ]
    matcher = Matcher(entries, {"en": [["returned", "came back"]]})
    answered = matcher.match("how many people came back, according to the moscow firm finion?")
    assert answered.outcome == "answer"  # "people" is in half the entries: it tells nothing
    assert answered.entry_id == "firm"
    assert matcher.match("how many people came back to moscow").outcome == "unknown"


def test_only_words_of_plausible_length_are_split_in_two() -> None:
    long_word = "supercalifragilisticexpialidocious"  # 34 letters
    matcher = Matcher([IndexEntry("left", {"en": ["why did people leave", f"why {long_word}"]})])
    index = matcher.indexes["en"]
    assert index._split_run_together("whypeople") == "why people"
    # A long run of letters is not two words typed together: no split is tried at all.
    assert index._split_run_together(f"why{long_word}") is None
    assert index._split_run_together("a" * 4096) is None


def test_a_three_letter_word_missing_one_letter_is_read_as_the_only_word_it_fits() -> None:
    entries = [
        IndexEntry("home", {"en": ["how many came home"]}),
        IndexEntry("bank", {"en": ["which bank blocks cards", "what do banks do"]}),
        IndexEntry("back", {"en": ["who went back"]}),
    ]
    index = Matcher(entries).indexes["en"]
    assert index._repair("cam") == "came"  # only "came" loses one letter to "cam"
    assert index._repair("hom") == "hom"  # "home" or the function word "whom"
    assert index._repair("bak") == "bak"  # "back" or "bank": no guess


def test_russian_still_tells_the_trend_from_the_reasons() -> None:
    entries = [
        IndexEntry("left", {"ru": ["почему уезжают", "уезжают из-за войны", "уезжают?"]}),
        IndexEntry("trend", {"ru": ["люди всё ещё уезжают из россии?", "отток продолжается?"]}),
    ]
    matcher = Matcher(entries, {"ru": [["еще", "еше"]]})  # "eshe" reads as "еше"
    assert matcher.match("ещё уезжают?").entry_id == "trend"
    assert matcher.match("eshe uezzhayut?").entry_id == "trend"


def test_sound_key_hears_what_russian_spelling_by_ear_gets_wrong() -> None:
    assert sound_key("вапросы") == sound_key("вопросы")
    assert sound_key("атвечаеш") == sound_key("отвечаешь")
    assert sound_key("расиян") == sound_key("россиян")
    assert sound_key("возвращаеться") == sound_key("возвращается")
    assert sound_key("вернулись") != sound_key("вернулось")  # and -ись is not -ось


def test_a_russian_word_misspelt_by_ear_is_read_as_the_word_it_sounds_like() -> None:
    entries = [
        IndexEntry("bot", {"ru": ["на какие вопросы ты отвечаешь"]}),
        IndexEntry("count", {"ru": ["сколько россиян вернулось"]}),
    ]
    matcher = Matcher(entries)
    # Two letters off each ("а" for "о", "ш" for "шь"): beyond one typo's reach.
    assert matcher.match("какие вапросы атвечаеш").entry_id == "bot"
    assert matcher.match("сколько расиян вернулось").entry_id == "count"
    deaf = Matcher(entries, config=MatcherConfig(sound_typos=False))
    assert deaf.match("какие вапросы атвечаеш").outcome == "unknown"


def test_a_sound_two_different_words_share_corrects_nothing() -> None:
    # "литта" is two letters off both "лета" and "лито", and sounds like each ("лита").
    alone = Matcher([IndexEntry("a", {"ru": ["лета"]})]).indexes["ru"]
    assert alone.correct("литта") == alone.correct("лета")
    both = Matcher([IndexEntry("a", {"ru": ["лета"]}), IndexEntry("b", {"ru": ["лито"]})])
    assert both.indexes["ru"].correct("литта") is None


def test_russian_two_word_synonyms_match_in_either_order() -> None:
    entries = [
        IndexEntry("back", {"ru": ["почему возвращаются"]}),
        IndexEntry("go", {"ru": ["куда едут"]}),
    ]
    synonyms = {"ru": [["возвращаются", "едут назад"]]}
    assert Matcher(entries, synonyms).match("почему назад едут").entry_id == "back"
    fixed = Matcher(entries, synonyms, MatcherConfig(reversed_phrases=False))
    assert fixed.match("почему назад едут").entry_id != "back"


@pytest.mark.parametrize("enabled", [True, False], ids=["collector on", "collector off"])
def test_the_build_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    """The build pauses the cyclic collector (see _collector_paused), also when it fails."""
    entries = [IndexEntry(id="a", questions={"en": ["why do people return?"]})]
    was_enabled = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        Matcher(entries)
        assert gc.isenabled() is enabled
        with pytest.raises(AttributeError):
            Matcher([None])  # type: ignore[list-item]
        assert gc.isenabled() is enabled
    finally:
        if was_enabled:
            gc.enable()


def test_a_function_word_with_two_letters_swapped_is_read_before_a_nearer_looking_one() -> None:
    index = Matcher([IndexEntry("a", {"en": ["how many came back"]})]).indexes["en"]
    assert index._repair("mnay") == "many"  # its letters, swapped; not "may", one letter out


def test_a_short_word_missing_a_letter_is_not_hidden_by_a_substitution() -> None:
    # "tred" is "trend" less a letter, and "tree" with one letter changed: only the first is
    # a typo a four-letter word is allowed, whichever comes first in the list.
    index = Matcher([IndexEntry("a", {"en": ["a tree", "the trend"]})]).indexes["en"]
    assert index.correct("tred") == index.correct("trend")


def test_a_misspelt_name_is_not_read_as_a_function_word() -> None:
    entries = [
        IndexEntry("putin", {"en": ["what did Putin say"]}),
        IndexEntry("x", {"en": ["put"]}),
    ]
    index = Matcher(entries).indexes["en"]
    assert index._repair("putn") == "putn"  # left for the name's typo correction, not "put"
    assert Matcher(entries).match("what did putn say").entry_id == "putin"


def test_a_not_in_source_question_far_ahead_refuses_even_sharing_only_known_words() -> None:
    # The Evgeniy entry knows "salary" (he was offered a better one), so "Evgeniy's salary"
    # shares nothing with the not-in-source question that the entry lacks; but it reads as
    # that question far more than as anything the entry was asked. (Holding a not-in-source
    # question whole, which refuses too, is turned off to see this rule alone.)
    entries = [
        IndexEntry(
            "evgeniy",
            {"en": ["who is evgeniy", "evgeniy higher salary offer"]},
        ),
        IndexEntry("~nis", {"en": ["evgeniy salary"]}, not_in_source=True),
    ]
    alone = MatcherConfig(contained_refusal=False)
    assert Matcher(entries, config=alone).match("salary of evgeniy").outcome == "unknown"
    never = dataclasses.replace(alone, refusal_lead=1000.0)
    assert Matcher(entries, config=never).match("salary of evgeniy").entry_id == "evgeniy"
    assert Matcher(entries, config=alone).match("who is evgeniy").entry_id == "evgeniy"
