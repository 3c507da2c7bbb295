"""Normalization and transliteration: the rules both the index and every question obey."""

from functools import cache
from pathlib import Path

import pytest

from bot import text as text_module
from bot.evaluation import load_cases
from bot.text import (
    asks_about_future,
    asks_for_advice,
    canonical_numbers,
    expand_year,
    fold,
    intent_tokens,
    is_small_talk,
    latin_to_cyrillic,
    script_of,
    sentences,
    splits_at_spaces,
    states_quantity,
    states_time,
    without_source_framing,
    words,
)


@cache
def eval_messages() -> tuple[str, ...]:
    """Every dev and test message: real input for the checks that a shortcut changes nothing."""
    eval_dir = Path(__file__).parent / "eval"
    return tuple(
        case.question for name in ("dev", "test") for case in load_cases(eval_dir / f"{name}.yaml")
    )


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Hello, World!", "hello, world"),
        ("Ёлка ЁЖ", "елка еж"),
        ("zero\u200bwidth\u200djoin\ufeff", "zerowidthjoin"),
        ("tab\tnew\nline\r", "tab new line"),
        ("bell\x07 and nul\x00", "bell and nul"),
        ("emoji 😀🇷🇺 between", "emoji between"),
        ("ＦＵＬＬ　ｗｉｄｔｈ", "full width"),
        ("<b>bold</b> & co", "b bold b co"),
        ("  many   spaces  ", "many spaces"),
        ("Straße", "strasse"),
    ],
    ids=[
        "punct",
        "yo",
        "zero-width",
        "whitespace",
        "control",
        "emoji",
        "nfkc",
        "markup",
        "spaces",
        "casefold",
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_words_keep_numbers_and_drop_possessive() -> None:
    assert words("Russia's 3.6% growth, 300,000 reservists; 40-45 percent") == [
        "russia",
        "3.6",
        "percent",
        "growth",
        "300.000",
        "reservists",
        "40",
        "45",
        "percent",
    ]


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("skolko", "сколко"),
        ("rossiyan", "россиян"),
        ("rossijan", "россиян"),
        ("pochemu", "почему"),
        ("vernulis", "вернулис"),
        ("mobilizatsiya", "мобилизация"),
        ("vozvrashchayutsya", "возвращаются"),
        ("moy", "мой"),
        ("kakoj", "какой"),
        ("zhizn'", "жизнь"),
        ("khorosho", "хорошо"),
    ],
)
def test_latin_to_cyrillic(latin: str, cyrillic: str) -> None:
    assert latin_to_cyrillic(latin) == cyrillic


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Сколько вернулось?", "ru"),
        ("how many", "latin"),
        ("2022?", None),
        ("🙂", None),
        ("Finion что это", "ru"),
    ],
)
def test_script_of(text: str, script: str | None) -> None:
    assert script_of(text) == script


def test_intents_how_many_only_after_how() -> None:
    assert intent_tokens(["how", "many", "left"]) == ["?many"]
    assert intent_tokens(["why", "so", "many", "left"]) == ["?why"]
    assert intent_tokens(["сколько", "почему"]) == ["?many", "?why"]
    assert intent_tokens(["hw", "many", "returned"]) == ["?many"]  # "how", typed on a phone


def test_only_questions_for_a_figure_ask_how_many() -> None:
    # "Много ли стран осталось?" (are there many) is answered by "few remain", no figure.
    assert intent_tokens(words("много ли стран осталось")) == []
    assert intent_tokens(words("сколько стран осталось")) == ["?many"]
    # "Сколько времени" is how long, like "how long", not how many.
    assert intent_tokens(words("сколько времени он прожил")) == ["?how"]
    assert intent_tokens(words("how long did he live there")) == ["?how"]


def test_digit_four_reads_as_ch_inside_latin_words() -> None:
    assert words("po4emu 4to") == ["pochemu", "chto"]
    assert words("4G in 4 days") == ["4", "in", "4", "days"]


def test_percent_sign_is_a_word() -> None:
    assert words("what % came back? 40%") == ["what", "percent", "came", "back", "40", "percent"]


def test_uppercase_it_is_the_sector_unless_caps_lock() -> None:
    assert words("IT jobs") == ["itsector", "jobs"]
    assert words("is it true") == ["is", "it", "true"]
    assert words("WHY IS IT SO") == ["why", "is", "it", "so"]


def test_chat_u_is_kept_for_you() -> None:
    assert words("what can u do") == ["what", "can", "u", "do"]
    assert words("a b c") == []


def test_thousands_in_transliteration() -> None:
    assert canonical_numbers(words("mobilizaciya 300 tysyach")) == ["mobilizaciya", "300000"]
    assert words("the 300k call-up") == ["the", "300000", "call", "up"]
    assert words("300к резервистов") == ["300000", "резервистов"]


@pytest.mark.parametrize(
    ("text", "small_talk"),
    [
        ("спасибо большое!", True),
        ("thanks so much", True),
        ("good morning, bot", True),
        ("спасибо, а сколько вернулось?", False),
        ("hey there, good morning!", True),
        ("thanks, that was really helpful", True),
        ("hi, why do people return?", False),
        ("what is good", False),
        ("are you a bot", False),
        ("how are you?", True),
        ("спасибо, очень помог", True),
        ("privet kak ty", True),
        ("как дела?", True),
        ("приветики! как твой день?", True),
        ("good morning bot, hope you're well :)", True),
        ("how are people doing after returning?", False),
        ("hi bot", True),
        ("Приветик, как настроение?", True),
        ("как настроение у релокантов?", False),
    ],
)
def test_small_talk(text: str, small_talk: bool) -> None:
    assert is_small_talk(text) is small_talk


def test_who_after_those_describes_rather_than_asks() -> None:
    assert intent_tokens(words("what did Putin say about those who return")) == ["?what"]
    assert intent_tokens(words("что сказал президент про тех, кто возвращается")) == ["?what"]
    assert intent_tokens(words("who is Kartamyshev")) == ["?who"]


def test_when_asks_for_a_date_only_as_a_question_word() -> None:
    assert intent_tokens(words("when was the article published")) == ["?when"]
    assert intent_tokens(words("and when did it happen?")) == ["?when"]
    assert intent_tokens(words("is it hard when you live abroad")) == []
    assert intent_tokens(words("what happened when the call-up was announced")) == ["?what"]


def test_intents_ignore_tags_and_keep_contractions() -> None:
    assert intent_tokens(words("are people coming back or what")) == []
    assert intent_tokens(words("where'd you get this from")) == ["?where"]


def test_short_years_expand() -> None:
    assert expand_year("22") == "2022"
    assert expand_year("300") == "300"
    assert expand_year("5") == "5"


def test_sentences_find_buried_question() -> None:
    parts = sentences("Hi there. I live in Tbilisi.\nHow many came back? Thanks")
    assert "How many came back?" in parts
    assert len(parts) == 4


def test_quantity_and_time_detectors() -> None:
    assert states_quantity("an estimated 40 to 45 percent")
    assert states_quantity("половина уехавших")
    assert not states_quantity("he returned when the money ran out")
    assert states_time("in September 2022")
    assert states_time("в июне")
    assert not states_time("a 50-year-old former consultant")


@pytest.mark.parametrize(
    ("text", "quantity", "time"),
    [
        ("on behalf of the family", True, False),  # word beginnings match inside words too
        ("В ИЮНЕ ВЕРНУЛИСЬ СОТНИ", True, True),
        ("since 1999", True, True),
        ("version 2019a", True, False),  # a year stands alone
        ("٣ of them", True, False),  # any decimal digit is an amount
        ("he returned home", False, False),
    ],
)
def test_quantity_and_time_find_substrings(text: str, quantity: bool, time: bool) -> None:
    assert states_quantity(text) is quantity
    assert states_time(text) is time


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("300,000 reservists", ["300000", "reservists"]),
        ("300 000 резервистов", ["300000", "резервистов"]),
        ("300 тысяч резервистов", ["300000", "резервистов"]),
        ("3,6% роста", ["3.6", "percent", "роста"]),
        ("в 22-м году", ["2022", "году"]),
        ("40-45 percent", ["40", "45", "percent"]),
    ],
)
def test_numbers_are_written_one_way(text: str, tokens: list[str]) -> None:
    assert canonical_numbers(words(text)) == tokens


@pytest.mark.parametrize(
    "text",
    [
        "Why are Russians who left coming back?",
        "Почему  уехавшие\u00a0возвращаются — и сколько их?",
        "don't what's O’Brien's «ёлка» call-up",
        "zero\u200bwidth tab\tnew\nline bell\x07 unit\x1fsep",
        "ＦＵＬＬ ｗｉｄｔｈ ﬁne Straße e\u0301 \u0301x 😀🇷🇺",
        "a u I hw wut pochemu vozvrashchayutsya",
        " ",
        "",
    ],
)
def test_words_of_a_splitting_text_are_its_pieces_words(text: str) -> None:
    assert splits_at_spaces(text)
    assert words(text) == [word for piece in text.split(" ") for word in words(piece)]


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("300 k", ["300"]),
        ("WHY IS IT SO", ["why", "is", "itsector", "so"]),  # shouted: "IT" is "it"
        ("<a href='x'>link</a>", ["href", "link"]),
    ],
)
def test_words_look_beyond_spaces_only_where_texts_do_not_split(
    text: str, pieces: list[str]
) -> None:
    assert not splits_at_spaces(text)
    assert [word for piece in text.split(" ") for word in words(piece)] == pieces
    assert words(text) != pieces


def test_pasted_markup_and_lone_letters_are_not_words() -> None:
    assert words("<b>bold</b> why </blockquote> a <a href='x'>link</a> 5") == [
        "bold",
        "why",
        "link",
        "5",
    ]


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("Should I go back to Russia?", True),
        ("is it worth returning?", True),
        ("Стоит ли мне возвращаться?", True),
        ("посоветуйте, что делать", True),
        ("why should anyone care", False),
        ("why do people return?", False),
        ("кто стоит во главе Finion?", False),
        ("what should I ask you?", False),
        ("what should I do now, go back?", True),
        ("нам с женой лучше вернуться или остаться?", True),
        ("стоит ли возвращаться в Россию?", True),
        ("will I get drafted if I go back?", True),
        ("меня призовут, если я вернусь?", True),
        ("why do people go back or stay abroad?", False),
        ("do we go back or stay?", True),
        ("Would you go back if you were me?", True),
        ("will many people return?", False),
        ("We have two kids here. Would it be smart for us to go back?", True),
        ("Как думаешь, мне, программисту, имеет смысл ехать обратно?", True),
        ("would it be better for the economy if they return", False),
    ],
)
def test_requests_for_advice(text: str, advice: bool) -> None:
    assert asks_for_advice(text) is advice


@pytest.mark.parametrize(
    ("text", "future"),
    [
        ("will there be a draft this fall?", True),
        ("Объявят ли мобилизацию в сентябре?", True),
        ("будут ли ещё возвращаться?", True),
        ("what will happen to returnees?", True),
        ("when will the war end", True),
        ("what happened after the mobilization?", False),
        ("will you answer in Russian?", False),  # asks the bot, not the future
        ("Что будет, если ты не знаешь ответа?", False),  # a condition, about the bot
        ("why will people return?", False),  # non-native "why do people return"
        ("сколько вернулось?", False),
    ],
)
def test_questions_about_the_future(text: str, future: bool) -> None:
    assert asks_about_future(text) is future


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what does the article say about Finion?", "what about Finion?"),
        ("по вашим данным сколько вернулось", "сколько вернулось"),
        ("what does your source say", "what does your source say"),  # nothing else asked
        ("why do people return", "why do people return"),
    ],
)
def test_source_framing_is_dropped_only_around_a_question(text: str, expected: str) -> None:
    assert words(without_source_framing(text)) == words(expected)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("forty five percent", ["45", "percent"]),
        ("three hundred thousand reservists", ["300000", "reservists"]),
        ("сорок пять процентов", ["45", "процентов"]),
        ("триста тысяч", ["300000"]),
        ("fifty percent came back", ["50", "percent", "came", "back"]),
        # A unit alone is mostly not a number.
        ("the ones who left", ["the", "ones", "who", "left"]),
        ("one relocation firm", ["one", "relocation", "firm"]),
    ],
)
def test_numbers_written_as_words(text: str, tokens: list[str]) -> None:
    assert canonical_numbers(words(text)) == tokens


def test_numbers_in_words_are_read_across_spaces() -> None:
    # The index reads space-separated pieces on their own only when nothing joins them.
    assert not splits_at_spaces("сорок пять процентов вернулись")
    assert not splits_at_spaces("Three hundred thousand reservists")
    assert splits_at_spaces("стоит ли возвращаться на место")  # "сто" only inside words


def test_the_framing_shortcut_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """without_source_framing skips its regex when no framing word occurs; check it against
    the regex alone on every eval message plus odd casings of the framing words."""
    messages = list(eval_messages())
    messages += [
        "ACCORDING TO THE ARTICLE why?",
        "According to the ſtory, why do they return?",
        "ПО ДАННЫМ СТАТЬИ сколько вернулось?",
        "что пишут в Статье про мобилизацию",
    ]
    with_shortcut = [without_source_framing(m) for m in messages]
    monkeypatch.setattr(text_module, "_FRAMING_WORDS", ("",))  # "" is in every text
    by_regex_alone = [without_source_framing(m) for m in messages]
    assert sum(stripped != m for stripped, m in zip(by_regex_alone, messages, strict=True)) > 50
    assert with_shortcut == by_regex_alone


def test_the_one_sentence_shortcut_changes_no_result() -> None:
    """sentences() skips its regex for a text with no inner sentence mark; check it against
    the regex alone on every eval message and on random strings of marks and spaces."""
    import random

    def by_regex_alone(message: str) -> list[str]:
        parts = [p.strip() for p in text_module._SENTENCE_END.split(message) if p and p.strip()]
        return parts or [message]

    messages = list(eval_messages())
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    messages += [
        "".join(rng.choice("ab .!?…\n\t") for _ in range(rng.randint(0, 8))) for _ in range(20_000)
    ]
    assert [sentences(m) for m in messages] == [by_regex_alone(m) for m in messages]


def test_the_future_shortcut_changes_no_result() -> None:
    """asks_about_future skips its regex when none of its words occurs; compare it with the
    regex alone on every eval message (it fails if one of the words is left out)."""
    messages = list(eval_messages())
    messages += ["Is there going to be a draft?", "In the future?", "Объявят ли?", "что будет?"]
    by_regex = [bool(text_module._FUTURE.search(fold(m))) for m in messages]
    assert sum(by_regex) > 10
    assert [asks_about_future(m) for m in messages] == by_regex
