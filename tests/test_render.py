"""bot.render: every message is valid Telegram HTML (checked with the fake's port of tdlib's
parser), escapes whatever it shows, and stays within 4096 UTF-16 code units per message."""

from __future__ import annotations

import pytest
from fakes.bot_api import EntityParseError, JSONDict, parse_html, strip_formatted, utf16_len

from bot.answers import Button, QuoteBlock, Reply, entry_reply
from bot.knowledge import LANGS, Lang
from bot.knowledge.paths import default_knowledge_dir
from bot.render import TELEGRAM_LIMIT, buttons_of, html_blocks, to_html, to_plain
from bot.runtime import build_snapshot

NASTY = [
    "<b>bold</b>",
    "</blockquote>",
    "<script>alert('x')</script>",
    "Tom & Jerry &amp; &#65; &lt;",
    "quote \" and apostrophe '",
    "a < b > c",
    "<a href='https://evil.example'>click</a>",
    "<tg-spoiler>x</tg-spoiler>",
]


def parsed(message: str) -> tuple[str, list[JSONDict]]:
    """What Telegram would show: text and entities (raises like Telegram on bad HTML)."""
    return strip_formatted(*parse_html(message))


def kinds(entities: list[JSONDict]) -> list[str]:
    return [e["type"] for e in entities]


def covered(text: str, entity: JSONDict) -> str:
    raw = text.encode("utf-16-le")
    start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
    return raw[start:end].decode("utf-16-le")


# ---------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("nasty", NASTY, ids=range(len(NASTY)))
def test_every_shown_string_is_escaped(nasty: str) -> None:
    reply = Reply(
        "answer",
        "en",
        f"text {nasty}\n\nsecond {nasty}",
        quote=QuoteBlock(f"quote {nasty}", f"by {nasty}", f"note {nasty}"),
        attribution=(f"source {nasty}", f"claim {nasty}"),
        heading=f"heading {nasty}",
    )
    (message,) = to_html(reply)
    text, entities = parsed(message)
    for shown in ("text", "second", "quote", "by", "note", "source", "claim", "heading"):
        assert f"{shown} {nasty}" in text
    # Only the markup the renderer adds: a bold heading, the quote with its italic author,
    # and the italic attribution. Nothing from the strings became a link, spoiler or tag.
    assert sorted(kinds(entities)) == ["blockquote", "bold", "italic", "italic"]


def test_plain_interface_text_is_escaped_too() -> None:
    (message,) = to_html(Reply("info", "en", "Use /topics & <ask>"))
    assert parsed(message) == ("Use /topics & <ask>", [])


# ---------------------------------------------------------------------------- the knowledge base


@pytest.fixture(scope="module")
def snapshot():  # type: ignore[no-untyped-def]
    return build_snapshot(default_knowledge_dir())


@pytest.mark.parametrize("lang", LANGS)
def test_every_entry_renders_as_one_valid_message(snapshot, lang: Lang) -> None:  # type: ignore[no-untyped-def]
    kb = snapshot.kb
    for entry in kb.entries:
        messages = to_html(entry_reply(kb, entry, lang))
        assert len(messages) == 1, entry.id
        text, entities = parsed(messages[0])
        assert text.startswith(entry.title.get(lang)), entry.id
        assert entities[0]["type"] == "bold"
        if entry.quote is not None:
            (quote,) = [e for e in entities if e["type"] == "blockquote"]
            expected = entry.quote.text if lang == "en" else entry.quote.translation_ru
            assert covered(text, quote).startswith(expected)


def test_quote_shows_author_and_translation_note_inside_the_blockquote() -> None:
    reply = Reply("answer", "ru", "Ответ.", quote=QuoteBlock("Цитата", "— Алексей", "(перевод)"))
    (message,) = to_html(reply)
    assert message.endswith("<blockquote>Цитата\n<i>— Алексей</i> (перевод)</blockquote>")
    text, entities = parsed(message)
    (quote,) = [e for e in entities if e["type"] == "blockquote"]
    assert covered(text, quote) == "Цитата\n— Алексей (перевод)"


# ---------------------------------------------------------------------------- splitting


def _long_reply(paragraphs: list[str], **extra: object) -> Reply:
    return Reply("answer", "en", "\n\n".join(paragraphs), **extra)  # type: ignore[arg-type]


def _check_messages(messages: list[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Each message fits and parses on its own; returns the texts Telegram would show."""
    texts = []
    for message in messages:
        assert utf16_len(message) <= limit
        try:
            text, _ = parsed(message)
        except EntityParseError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"invalid HTML in a chunk: {exc}: {message[:200]!r}…{message[-200:]!r}")
        assert text
        texts.append(text)
    return texts


def test_short_reply_is_one_message() -> None:
    assert len(to_html(_long_reply(["one", "two"]))) == 1


def test_long_reply_splits_at_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {i}: " + " ".join(["word"] * 150) for i in range(12)]  # ~9 000
    messages = to_html(_long_reply(paragraphs))
    assert len(messages) >= 3
    texts = _check_messages(messages)
    shown = [p for text in texts for p in text.split("\n\n")]
    assert shown == paragraphs


def test_long_reply_keeps_heading_quote_and_attribution_whole() -> None:
    paragraphs = ["word " * 300 for _ in range(10)]
    reply = _long_reply(
        paragraphs,
        heading="Heading",
        quote=QuoteBlock("A quote", "— someone"),
        attribution=("Source: the article, paragraph 2.",),
    )
    messages = to_html(reply)
    assert len(messages) > 1
    _check_messages(messages)
    assert messages[0].startswith("<b>Heading</b>")
    assert messages[-1].endswith("<i>Source: the article, paragraph 2.</i>")
    assert sum(m.count("<blockquote>") for m in messages) == 1


def test_one_huge_paragraph_is_cut_between_words() -> None:
    words = [f"w{i}" for i in range(3000)]  # ~15 000 characters, no paragraph break
    messages = to_html(_long_reply([" ".join(words)]))
    texts = _check_messages(messages)
    assert " ".join(texts).split() == words


def test_line_breaks_survive_a_cut() -> None:
    lines = [f"line {i} " + "x" * 40 for i in range(200)]  # one paragraph of many lines
    messages = to_html(_long_reply(["\n".join(lines)]))
    texts = _check_messages(messages)
    assert [line for text in texts for line in text.split("\n")] == lines


def test_escaped_characters_are_never_cut_inside_an_entity() -> None:
    blob = "&<>" * 3000  # one "word" of 9 000 characters, 27 000 once escaped
    messages = to_html(_long_reply([blob]))
    texts = _check_messages(messages)
    assert "".join(texts) == blob


def test_long_quote_is_split_into_valid_blockquotes() -> None:
    quote = " ".join(f"said{i}" for i in range(1500))  # ~11 000 characters
    reply = _long_reply(["Intro."], quote=QuoteBlock(quote, "— the speaker", "(note)"))
    messages = to_html(reply)
    texts = _check_messages(messages)
    assert " ".join(texts).split()[1:1501] == quote.split()
    assert "— the speaker (note)" in texts[-1]
    for message in messages[1:]:
        assert message.startswith("<blockquote>")
        assert message.endswith("</blockquote>")


def test_limit_counts_utf16_code_units_for_emoji() -> None:
    # 3 000 emoji are 3 000 code points but 6 000 UTF-16 code units: more than one message.
    paragraphs = ["😀" * 1000, "😀" * 1000, "😀" * 1000]
    messages = to_html(_long_reply(paragraphs))
    assert len(messages) == 2
    assert "".join(_check_messages(messages)).replace("\n", "") == "😀" * 3000


def test_one_giant_emoji_word_is_cut_by_utf16_length() -> None:
    messages = to_html(_long_reply(["😀" * 5000]))
    assert "".join(_check_messages(messages)) == "😀" * 5000


@pytest.mark.parametrize("limit", [50, 100, 333])
def test_small_limits_hold_too(limit: int) -> None:
    reply = _long_reply(
        ["Tom & Jerry " * 20, "😀 " * 60, "x" * 400],
        heading="Heading & more",
        attribution=("Source & co.",),
    )
    _check_messages(to_html(reply, limit=limit), limit=limit)


def test_empty_reply_still_sends_something() -> None:
    assert to_html(Reply("info", "en", "")) == ["…"]


def test_html_blocks_are_balanced_paragraphs() -> None:
    reply = _long_reply(["a", "  ", "b"], heading="H", attribution=("s",))
    assert html_blocks(reply) == ["<b>H</b>", "a", "b", "<i>s</i>"]


# ---------------------------------------------------------------------------- plain text


def test_plain_text_numbers_buttons_and_keeps_text_verbatim() -> None:
    reply = Reply(
        "answer",
        "en",
        "Answer with <tags> & stuff.",
        quote=QuoteBlock("line one\nline two", "— Alexey", "(original)"),
        attribution=("Source: x.",),
        heading="Title",
        buttons=((Button("First", "a:x"),), (Button("Second", "a:y"), Button("Third", "t:z"))),
    )
    assert to_plain(reply) == "\n".join(
        [
            "TITLE",
            "",
            "Answer with <tags> & stuff.",
            "",
            "  > line one",
            "  > line two",
            "  — Alexey (original)",
            "",
            "Source: x.",
            "",
            "  [1] First",
            "  [2] Second",
            "  [3] Third",
        ]
    )
    assert [b.label for b in buttons_of(reply)] == ["First", "Second", "Third"]
    assert "[1]" not in to_plain(reply, numbered=False)
