"""The whole bot through real HTTP: production build_application() against the fake Bot API.

One bot serves the module (started once, see the `bot` fixture); every test talks to it as
its own user, so no test can pick up another test's replies. Tests that need other
settings (the throttle, the privacy run) start their own bot.

Asserting that the bot did *not* answer waits for `bot.wait_handled(update)` (the bot has
finished with that update, error handler included; see conftest.RunningBot), then looks at
what was sent. No sleeps.
"""

from __future__ import annotations

import asyncio
import gc
import io
import itertools
import logging
import random
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.bot_api import (
    ApiCall,
    FakeBotAPI,
    JSONDict,
    make_user,
    parse_html,
)
from test_answers import AMBIGUOUS  # questions that should get a did-you-mean

from bot import app as bot_app
from bot.app import DEFAULT_GC_THRESHOLD, YOUNG_GC_THRESHOLD
from bot.knowledge import KnowledgeBase, Lang
from bot.knowledge.paths import default_knowledge_dir
from bot.logs import configure_logging

ADMIN_ID = 111_222_333
COMMANDS = ("start", "help", "topics", "sources", "lang")

_user_ids = itertools.count(700_000_001)
_group_ids = itertools.count(-100_700_000_001, -1)


# ------------------------------------------------------------------------------------ helpers


def new_user(lang: str | None = "en", **fields: Any) -> JSONDict:
    """A user nobody else in this module talks as, so their replies are theirs alone."""
    user = make_user(next(_user_ids), "Tester", language_code=lang)
    user.update(fields)
    return user


def new_group() -> JSONDict:
    """A group of its own (PTB's rate limiter counts messages per group)."""
    return {"id": next(_group_ids), "type": "group", "title": "Test Group"}


def reply_to(fake: FakeBotAPI, chat_id: int) -> ApiCall:
    """The next message the bot sent to chat_id; it must have been accepted by the fake."""
    call = fake.wait_for_reply(chat_id)
    assert call.ok, call.description
    return call


def ask(fake: FakeBotAPI, text: str, user: JSONDict) -> ApiCall:
    """Send a private text message and return the bot's reply."""
    fake.send_text(text, user=user)
    return reply_to(fake, user["id"])


def command(fake: FakeBotAPI, name: str, user: JSONDict, args: str | None = None) -> ApiCall:
    """Send a private command and return the bot's reply."""
    fake.send_command(name, args, user=user)
    return reply_to(fake, user["id"])


def text_of(call: ApiCall) -> str:
    """What the user sees: the text after Telegram parsed the HTML."""
    return str(call.result["text"])


def buttons_of(call: ApiCall) -> list[str]:
    """The callback data of every inline button sent with the message."""
    markup = call.params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def entity_text(call: ApiCall, kind: str) -> list[str]:
    """The texts covered by entities of one type, in UTF-16 offsets as Telegram counts."""
    raw = text_of(call).encode("utf-16-le")
    return [
        raw[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in call.result.get("entities", [])
        if e["type"] == kind
    ]


def press(
    fake: FakeBotAPI, message: ApiCall | JSONDict, data: str, user: JSONDict, *, check: bool = True
) -> ApiCall:
    """Press a button of a bot message and return the bot's answerCallbackQuery."""
    update = fake.press_button(message, data, user=user, check=check)
    query_id = update["callback_query"]["id"]
    call = fake.wait_for("answerCallbackQuery", lambda p: p.get("callback_query_id") == query_id)
    assert call.ok, call.description
    return call


def edit_of(fake: FakeBotAPI, method: str, message: ApiCall) -> ApiCall:
    """The next edit (editMessageText/editMessageReplyMarkup) of a message the bot sent."""
    chat_id, message_id = message.result["chat"]["id"], message.result["message_id"]
    call = fake.wait_for(
        method, lambda p: p.get("chat_id") == chat_id and p.get("message_id") == message_id
    )
    assert call.ok, call.description
    return call


def ui(bot: Any, name: str, lang: Lang = "en", **values: object) -> str:
    """An interface text as the knowledge base has it."""
    return kb_of(bot).ui.text(name, lang, **values)


def kb_of(bot: Any) -> KnowledgeBase:
    return bot.services.runtime.current.kb


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def bot(
    fake: FakeBotAPI,
    tmp_path_factory: pytest.TempPathFactory,
    bot_factory: Any,
    settings_factory: Callable[..., Any],
) -> Iterator[Any]:
    settings = settings_factory(
        fake, tmp_path_factory.mktemp("data"), admin_ids=frozenset({ADMIN_ID})
    )
    with bot_factory(settings, fake) as running:
        yield running


@pytest.fixture
def user() -> JSONDict:
    return new_user()


# ------------------------------------------------------------------------------------ startup


def test_startup_registers_commands_in_both_languages(bot: Any, fake: FakeBotAPI) -> None:
    for lang, code in (("en", ""), ("ru", "ru")):
        commands = fake.commands(language_code=code)
        assert commands is not None, f"setMyCommands was not called for {lang}"
        assert [c["command"] for c in commands] == list(COMMANDS)
        assert [c["description"] for c in commands] == [
            ui(bot, f"cmd_{name}", lang) for name in COMMANDS
        ]


def test_startup_installs_reload_and_stop_signal_handlers(bot: Any) -> None:
    assert set(bot.loop.signal_handlers) == {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}


def test_polling_asks_only_for_the_update_types_handled(bot: Any, fake: FakeBotAPI) -> None:
    fake.wait_for_poller()
    assert set(fake.allowed_updates or []) == {
        "message",
        "edited_message",
        "callback_query",
        "inline_query",
    }


# ------------------------------------------------------------------------------------ commands


@pytest.mark.parametrize(
    ("code", "lang"),
    [("en", "en"), ("ru", "ru"), ("ru-RU", "ru"), ("uk", "ru"), ("de", "en"), (None, "en")],
)
def test_start_greets_in_the_users_language_with_topics(
    bot: Any, fake: FakeBotAPI, code: str | None, lang: Lang
) -> None:
    user = new_user(code)
    reply = command(fake, "start", user)
    assert text_of(reply) == ui(bot, "start_greeting", lang)
    topics = kb_of(bot).topics
    assert buttons_of(reply) == [f"t:{t.id}|{lang}" for t in topics]
    labels = [b["text"] for row in reply.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == [t.title.get(lang) for t in topics]


def test_start_with_a_deep_link_opens_that_entry(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    reply = command(fake, "start", user, args="evgeniy")
    entry = kb_of(bot).entry("evgeniy")
    assert entry is not None
    assert text_of(reply).startswith(entry.title.en)
    assert "f:+:evgeniy|en" in buttons_of(reply)


def test_start_with_an_unknown_payload_falls_back_to_the_greeting(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    reply = command(fake, "start", user, args="bogus")
    assert text_of(reply) == ui(bot, "start_greeting")


def test_help(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    assert text_of(command(fake, "help", user)) == ui(bot, "help")


def test_topics_then_topic_then_entry_then_back(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    kb = kb_of(bot)
    topics = command(fake, "topics", user)
    assert text_of(topics) == ui(bot, "topics_title")
    assert "t:people|en" in buttons_of(topics)

    press(fake, topics, "t:people|en", user)
    listing = edit_of(fake, "editMessageText", topics)
    people = kb.topic("people")
    assert people is not None
    assert text_of(listing) == ui(bot, "topic_questions", topic=people.title.en)
    entries = [f"a:{e.id}|en" for e in kb.entries_in("people")]
    assert buttons_of(listing) == [*entries, "top|en"]

    press(fake, listing, "a:alexey|en", user)
    answer = reply_to(fake, user["id"])
    alexey = kb.entry("alexey")
    assert alexey is not None
    assert text_of(answer).startswith(alexey.title.en)

    press(fake, listing, "top|en", user)
    back = edit_of(fake, "editMessageText", topics)
    assert text_of(back) == ui(bot, "topics_title")
    assert buttons_of(back) == buttons_of(topics)


def test_sources_names_the_source(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    reply = command(fake, "sources", user)
    text = text_of(reply)
    assert text.startswith(ui(bot, "sources_intro"))
    for loaded in kb_of(bot).sources.values():
        assert loaded.meta.title.en in text
    assert buttons_of(reply)[0].startswith("t:")


def test_lang_choice_wins_over_the_question_language(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    prompt = command(fake, "lang", user)
    assert text_of(prompt) == ui(bot, "lang_prompt")
    assert buttons_of(prompt) == ["l:en|en", "l:ru|en"]

    press(fake, prompt, "l:ru|en", user)
    assert text_of(edit_of(fake, "editMessageText", prompt)) == ui(bot, "lang_set", "ru")

    answer = ask(fake, "What did Alexey say?", user)
    alexey = kb_of(bot).entry("alexey")
    assert alexey is not None
    assert text_of(answer).startswith(alexey.title.ru)
    assert all(data.endswith("|ru") for data in buttons_of(answer))
    # Interface texts follow the chat's choice too.
    assert text_of(command(fake, "help", user)) == ui(bot, "help", "ru")


def test_unknown_command(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    assert text_of(command(fake, "nonsense", user)) == ui(bot, "unknown_command")


# ------------------------------------------------------------------------------------ questions


def test_quote_answer_has_blockquote_and_attribution(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    kb = kb_of(bot)
    alexey = kb.entry("alexey")
    source = kb.source_of(alexey) if alexey else None
    assert alexey is not None
    assert alexey.quote is not None
    assert source is not None
    reply = ask(fake, "what did Alexey say", user)
    assert "<blockquote>" in reply.params["text"]
    (quoted,) = entity_text(reply, "blockquote")
    assert quoted.startswith(alexey.quote.text)
    assert alexey.quote.speaker.en in quoted
    paragraphs = sorted({e.paragraph for e in alexey.evidence})
    attribution = ui(
        bot,
        "source_line",
        source=source.meta.title.en,
        paragraph=", ".join(map(str, paragraphs)),
    )
    assert attribution in text_of(reply)
    assert "f:+:alexey|en" in buttons_of(reply)


def test_russian_question_gets_russian_answer_with_marked_translation(
    bot: Any, fake: FakeBotAPI
) -> None:
    user = new_user("en")  # the script of the question decides, not the client language
    kb = kb_of(bot)
    alexey = kb.entry("alexey")
    assert alexey is not None
    assert alexey.quote is not None
    reply = ask(fake, "Что сказал Алексей?", user)
    assert text_of(reply).startswith(alexey.title.ru)
    (quoted,) = entity_text(reply, "blockquote")
    assert quoted.startswith(alexey.quote.translation_ru)
    assert ui(bot, "translated_quote_note", "ru") in quoted
    assert alexey.quote.text not in text_of(reply)


def test_did_you_mean_buttons_give_the_chosen_answer(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    answers = bot.services.answers
    question = next(
        (q for q in AMBIGUOUS if answers.ask(q, hint="en", record=False).kind == "clarify"),
        None,
    )
    assert question is not None, "none of the candidates is ambiguous any more; add one"
    reply = ask(fake, question, user)
    assert text_of(reply).startswith(ui(bot, "clarify"))
    choices = buttons_of(reply)
    assert len(choices) >= 2
    assert all(re.fullmatch(r"a:[a-z0-9-]+\|en", c) for c in choices)

    chosen = choices[1]
    entry = kb_of(bot).entry(chosen.removeprefix("a:").removesuffix("|en"))
    assert entry is not None
    press(fake, reply, chosen, user)
    answer = reply_to(fake, user["id"])
    assert text_of(answer).startswith(entry.title.en)
    assert f"f:+:{entry.id}|en" in buttons_of(answer)


def test_out_of_scope_question_gets_the_unknown_text(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    reply = ask(fake, "what's the weather in Paris?", user)
    assert text_of(reply) == ui(bot, "unknown")
    assert buttons_of(reply) == ["top|en"]  # no feedback: it is not an entry's answer
    assert "entities" not in reply.result


def test_edited_question_is_answered_again(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    """People edit to fix a typo; the edited text gets its own answer."""
    sent = fake.send_text("what's the weather in Paris?", user=user)
    assert text_of(reply_to(fake, user["id"])) == ui(bot, "unknown")
    fake.edit_text(sent, "What did Alexey say?")
    alexey = kb_of(bot).entry("alexey")
    assert alexey is not None
    assert text_of(reply_to(fake, user["id"])).startswith(alexey.title.en)


# ------------------------------------------------------------------------------------ feedback


def _feedback(bot: Any, entry_id: str) -> tuple[int, int]:
    return bot.services.storage.stats().feedback.get(entry_id, (0, 0))


def test_feedback_counts_once_and_removes_the_feedback_row(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    answer = ask(fake, "Who is Evgeniy?", user)
    assert "f:+:evgeniy|en" in buttons_of(answer)
    before = _feedback(bot, "evgeniy")

    thanks = press(fake, answer, "f:+:evgeniy|en", user)
    assert thanks.params.get("text") == ui(bot, "feedback_thanks")
    edited = edit_of(fake, "editMessageReplyMarkup", answer)
    kept = [b for b in buttons_of(answer) if not b.startswith("f:")]
    assert kept, "evgeniy has related questions; they must stay"
    assert buttons_of(edited) == kept
    assert _feedback(bot, "evgeniy") == (before[0] + 1, before[1])

    # A second tap that raced the keyboard update: thanked, not counted, nothing edited.
    update = fake.press_button(answer, "f:-:evgeniy|en", user=user, check=False)
    bot.wait_handled(update)
    (again,) = [
        c
        for c in fake.requests("answerCallbackQuery")
        if c.params["callback_query_id"] == update["callback_query"]["id"]
    ]
    assert again.params.get("text") == ui(bot, "feedback_thanks")
    assert _feedback(bot, "evgeniy") == (before[0] + 1, before[1])
    message_id = answer.result["message_id"]
    edits = [
        c for c in fake.requests("editMessageReplyMarkup") if c.params["message_id"] == message_id
    ]
    assert len(edits) == 1


def test_forged_feedback_does_not_use_up_the_real_vote(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    answer = ask(fake, "Who is Evgeniy?", user)
    before = _feedback(bot, "evgeniy")
    forged = press(fake, answer, "f:+:nope|en", user, check=False)
    assert forged.params.get("text") == ui(bot, "expired_button")
    press(fake, answer, "f:+:evgeniy|en", user)
    assert _feedback(bot, "evgeniy") == (before[0] + 1, before[1])


@pytest.mark.parametrize(
    ("data", "lang"),
    [
        ("a:does-not-exist|en", "en"),
        ("garbage", "en"),
        ("f:+:nope|ru", "ru"),
        ("t:nope|en", "en"),
        ("l:de|en", "en"),
        ("x" * 64, "en"),
        ("ж" * 32, "en"),  # 64 bytes of UTF-8
    ],
    ids=[
        "missing-entry",
        "garbage",
        "forged-feedback",
        "missing-topic",
        "unknown-lang",
        "64-bytes-ascii",
        "64-bytes-cyrillic",
    ],
)
def test_stale_or_forged_buttons_expire_and_the_bot_keeps_working(
    bot: Any, fake: FakeBotAPI, user: JSONDict, data: str, lang: Lang
) -> None:
    topics = command(fake, "topics", user)
    answer = press(fake, topics, data, user, check=False)
    assert answer.params.get("text") == ui(bot, "expired_button", lang)
    assert answer.params.get("show_alert") is True
    assert text_of(ask(fake, "Who is Evgeniy?", user)).startswith("Evgeniy")


# ------------------------------------------------------------------------------------ inline


def _inline(fake: FakeBotAPI, query: str, user: JSONDict) -> list[JSONDict]:
    update = fake.inline_query(query, user=user)
    query_id = update["inline_query"]["id"]
    call = fake.wait_for("answerInlineQuery", lambda p: p.get("inline_query_id") == query_id)
    assert call.ok, call.description  # the fake parsed every message text as Telegram HTML
    return list(call.params["results"])


def test_inline_question_offers_valid_attributed_articles(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    results = _inline(fake, "why are people returning", user)
    assert 1 <= len(results) <= 10
    kb = kb_of(bot)
    assert results[0]["id"] == "return-reasons"
    for result in results:
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML"
        text, _ = parse_html(content["message_text"])
        entry = kb.entry(result["id"])
        source = kb.source_of(entry) if entry else None
        assert source is not None
        assert source.meta.title.en in text
        assert f"start={result['id']}" in result["reply_markup"]["inline_keyboard"][0][0]["url"]


def test_empty_inline_query_offers_the_topics(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    results = _inline(fake, "", user)
    assert [r["id"] for r in results] == [f"t-{t.id}" for t in kb_of(bot).topics]


def test_inline_question_without_answer_says_so(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    (result,) = _inline(fake, "what's the weather in Paris?", user)
    assert result["title"] == ui(bot, "inline_empty")
    assert parse_html(result["input_message_content"]["message_text"])[0] == ui(bot, "unknown")


# ------------------------------------------------------------------------------------ groups


def test_group_message_not_addressed_to_the_bot_is_ignored(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    group = new_group()
    bot.wait_handled(fake.send_in_group("why are people returning?", user=user, chat=group))
    bot.wait_handled(fake.send_sticker(user=user, chat=group, chat_type="group"))
    assert fake.sent_messages(group["id"]) == []


def test_group_mention_and_reply_to_the_bot_are_answered(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    group = new_group()
    asked = fake.send_in_group(
        "why are people returning?", user=user, chat=group, mention_bot=True
    )
    answer = reply_to(fake, group["id"])
    entry = kb_of(bot).entry("return-reasons")
    assert entry is not None
    assert text_of(answer).startswith(entry.title.en)
    assert answer.params["reply_parameters"]["message_id"] == asked["message"]["message_id"]

    fake.send_in_group("What did Alexey say?", user=user, chat=group, reply_to_message=answer)
    alexey = kb_of(bot).entry("alexey")
    assert alexey is not None
    assert text_of(reply_to(fake, group["id"])).startswith(alexey.title.en)


def test_bare_mention_in_a_group_gets_the_greeting_not_a_gap(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    group = new_group()
    gaps_before = len(bot.services.storage.gaps())
    fake.send_in_group("", user=user, chat=group, mention_bot=True)
    reply = reply_to(fake, group["id"])
    assert text_of(reply) == ui(bot, "start_greeting")
    assert len(bot.services.storage.gaps()) == gaps_before


@pytest.mark.parametrize("mention", [False, True], ids=["plain", "with-bot-name"])
def test_command_in_a_group_works(
    bot: Any, fake: FakeBotAPI, user: JSONDict, mention: bool
) -> None:
    group = new_group()
    fake.send_command("help", user=user, chat=group, chat_type="group", mention_bot=mention)
    assert text_of(reply_to(fake, group["id"])) == ui(bot, "help")


# ------------------------------------------------------------------------------------ hostile


HOSTILE = {
    "4096-chars": "why " * 1024,
    "emoji-only": "🇷🇺🏠✈️😀",
    "control-and-zero-width": "\x01\x02 why\u200b are\u200d people\ufeff returning\x7f? \u202e",
    "bold-tag": "<b>bold</b> why are people returning",
    "ampersand": "Tom & Jerry &amp co &#0; &",
    "closing-blockquote": "</blockquote> how many returned",
    "script": "<script>alert(1)</script> how many returned",
}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_text_gets_valid_html_without_the_users_text(
    bot: Any, fake: FakeBotAPI, user: JSONDict, text: str
) -> None:
    reply = ask(fake, text, user)  # ok means the fake parsed it as Telegram HTML
    assert text.strip() not in reply.params["text"]
    assert text.strip() not in text_of(reply)


NON_TEXT: dict[str, Callable[[FakeBotAPI, JSONDict], object]] = {
    "sticker": lambda fake, user: fake.send_sticker(user=user),
    "photo": lambda fake, user: fake.send_photo(user=user, caption="why are people returning?"),
    "voice": lambda fake, user: fake.send_voice(user=user),
    "location": lambda fake, user: fake.send_location(user=user),
    "contact": lambda fake, user: fake.send_contact(user=user),
}


@pytest.mark.parametrize("send", list(NON_TEXT.values()), ids=list(NON_TEXT))
def test_non_text_asks_for_text(
    bot: Any, fake: FakeBotAPI, send: Callable[[FakeBotAPI, JSONDict], object]
) -> None:
    user = new_user("ru")
    send(fake, user)
    assert text_of(reply_to(fake, user["id"])) == ui(bot, "not_text", "ru")


# ------------------------------------------------------------------------------------ API errors


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (400, "Bad Request: can't parse entities: Unsupported start tag"),
        (403, "Forbidden: bot was blocked by the user"),
        (429, None),
        (500, None),
        (502, None),
    ],
    ids=["400-bad-markup", "403-blocked", "429-flood", "500", "502"],
)
def test_bot_survives_send_errors(
    bot: Any,
    fake: FakeBotAPI,
    user: JSONDict,
    code: int,
    description: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PTB's RetryAfter warns about its int retry_after (an error under filterwarnings)
    # unless the timedelta behaviour is opted into, as a future PTB will do anyway.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    evgeniy = kb_of(bot).entry("evgeniy")
    assert evgeniy is not None
    fake.fail_next("sendMessage", code, description, retry_after=1 if code == 429 else None)
    fake.send_text("Who is Evgeniy?", user=user)
    failed = fake.wait_for_reply(user["id"])
    assert failed.status == code

    if code == 429 or code >= 500:
        # PTB's rate limiter waits retry_after, send_text waits a moment after a 5xx, and
        # both send the same message again.
        retried = reply_to(fake, user["id"])
        assert retried.params["text"] == failed.params["text"]
    elif code != 403:  # the error handler apologizes; a blocked user can't be told anything
        assert text_of(reply_to(fake, user["id"])) == ui(bot, "error")

    assert text_of(ask(fake, "What did Alexey say?", user)).startswith("Alexey")


def test_a_bot_api_failing_for_a_while_loses_no_answer(
    bot: Any, fake: FakeBotAPI, user: JSONDict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_app, "SEND_RETRY_DELAYS", (0.05, 0.05, 0.05, 0.05))
    fake.fail_next("sendMessage", 502, times=2)
    fake.fail_next("sendMessage", 503)
    fake.send_text("Who is Evgeniy?", user=user)
    statuses = [fake.wait_for_reply(user["id"]).status for _ in range(3)]
    assert statuses == [502, 502, 503]
    assert text_of(reply_to(fake, user["id"])).startswith("Evgeniy")


def test_a_reply_that_never_gets_through_ends_in_the_apology(
    bot: Any, fake: FakeBotAPI, user: JSONDict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_app, "SEND_RETRY_DELAYS", (0.05, 0.05, 0.05, 0.05))
    attempts = len(bot_app.SEND_RETRY_DELAYS) + 1
    fake.fail_next("sendMessage", 500, times=attempts)
    fake.send_text("Who is Evgeniy?", user=user)
    assert [fake.wait_for_reply(user["id"]).status for _ in range(attempts)] == [500] * attempts
    assert text_of(reply_to(fake, user["id"])) == ui(bot, "error")


def test_bot_survives_a_failed_long_poll(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    fake.fail_next("getUpdates", 502)
    fake.wait_for("getUpdates", lambda p: True)
    assert text_of(ask(fake, "Who is Evgeniy?", user)).startswith("Evgeniy")


# ------------------------------------------------------------------------------------ admin


ADMIN = make_user(ADMIN_ID, "Ada", username="ada_admin", language_code="en")


@pytest.mark.parametrize("name", ["reload", "gaps", "stats", "kb"])
def test_admin_commands_look_unknown_to_others(
    bot: Any, fake: FakeBotAPI, user: JSONDict, name: str
) -> None:
    unknown = text_of(command(fake, "nonsense", user))
    assert text_of(command(fake, name, user)) == unknown


@pytest.mark.parametrize("name", ["reload", "gaps", "stats", "kb"])
def test_admin_commands_in_a_group_say_nothing_even_to_an_admin(
    bot: Any, fake: FakeBotAPI, name: str
) -> None:
    group = new_group()
    bot.wait_handled(fake.send_command(name, user=ADMIN, chat=group, chat_type="group"))
    assert fake.sent_messages(group["id"]) == []


@pytest.mark.parametrize("name", ["reload", "gaps", "stats", "kb"])
def test_forwarded_admin_command_is_not_an_admin_command(
    bot: Any, fake: FakeBotAPI, user: JSONDict, name: str
) -> None:
    origin = {"type": "user", "date": int(time.time()), "sender_user": ADMIN}
    entities = [{"type": "bot_command", "offset": 0, "length": len(name) + 1}]
    fake.send_text(f"/{name}", user=user, entities=entities, forward_origin=origin)
    assert text_of(reply_to(fake, user["id"])) == ui(bot, "unknown_command")
    # Forwarded by the admin themselves: still not an order from the admin.
    admin_chat = ADMIN_ID
    fake.send_text(f"/{name}", user=ADMIN, entities=entities, forward_origin=origin)
    assert text_of(reply_to(fake, admin_chat)) == ui(bot, "unknown_command")


def test_admin_kb_shows_version_and_counts(bot: Any, fake: FakeBotAPI) -> None:
    kb = kb_of(bot)
    text = text_of(command(fake, "kb", ADMIN))
    assert str(kb.version) in text
    assert f"{kb.stats.entries}" in text
    assert f"{kb.stats.questions_en} EN, {kb.stats.questions_ru} RU" in text


def test_admin_stats_shows_counts(bot: Any, fake: FakeBotAPI, user: JSONDict) -> None:
    ask(fake, "Who is Evgeniy?", user)
    stats = bot.services.storage.stats(days=7)
    text = text_of(command(fake, "stats", ADMIN))
    assert ui(bot, "stats_title", days=7) in text
    total = max(stats.questions, 1)
    assert (
        ui(
            bot,
            "stats_counts",
            questions=stats.questions,
            answered=stats.answered,
            answered_share=round(100 * stats.answered / total),
            clarify=stats.clarify,
            clarify_share=round(100 * stats.clarify / total),
            unknown=stats.unknown,
            unknown_share=round(100 * stats.unknown / total),
        )
        in text
    )
    assert "evgeniy" in text


def test_admin_gaps_lists_an_unanswered_question(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    question = "how to cook borscht with beetroot"
    assert text_of(ask(fake, question, user)) == ui(bot, "unknown")
    text = text_of(command(fake, "gaps", ADMIN, args="50"))
    assert text.startswith(ui(bot, "gaps_title"))
    assert question in text


def test_admin_reload_reports_the_version(bot: Any, fake: FakeBotAPI) -> None:
    text = text_of(command(fake, "reload", ADMIN))
    kb = kb_of(bot)
    assert text == ui(bot, "reload_ok", version=str(kb.version), entries=kb.stats.entries)
    assert text_of(command(fake, "kb", ADMIN)).startswith(f"Knowledge base {kb.version}")


def test_the_collector_is_tuned_while_the_bot_runs_and_restored_after(
    fake_api: FakeBotAPI,
    tmp_path: Path,
    start_bot: Callable[..., Any],
    settings_factory: Callable[..., Any],
) -> None:
    settings = settings_factory(fake_api, tmp_path, admin_ids=frozenset({ADMIN_ID}))
    running = start_bot(settings, fake_api)
    assert gc.get_freeze_count() > 0  # post_init froze the knowledge base, PTB, modules
    assert gc.get_threshold()[0] == YOUNG_GC_THRESHOLD
    old = running.services.runtime.current
    text = text_of(command(fake_api, "reload", ADMIN))
    kb = kb_of(running)
    assert text == ui(running, "reload_ok", version=str(kb.version), entries=kb.stats.entries)
    assert running.services.runtime.current is not old
    assert gc.get_freeze_count() > 0  # frozen again, the new snapshot included
    running.stop()
    assert gc.get_freeze_count() == 0  # a stopped bot's objects may be collected again
    assert gc.get_threshold() == DEFAULT_GC_THRESHOLD


# ------------------------------------------------------------------------------------ throttle


def test_per_user_throttle_warns_once_then_drops(
    fake_api: FakeBotAPI,
    tmp_path: Path,
    start_bot: Callable[..., Any],
    settings_factory: Callable[..., Any],
) -> None:
    throttled = start_bot(settings_factory(fake_api, tmp_path, user_throttle=3), fake_api)
    user = new_user()
    updates = [fake_api.send_text("Who is Evgeniy?", user=user) for _ in range(5)]
    for update in updates:
        throttled.wait_handled(update)
    texts = [text_of(call) for call in fake_api.sent_messages(user["id"])]
    assert len(texts) == 4, "three answers and one warning; the fifth message gets nothing"
    assert texts.count(ui(throttled, "slow_down")) == 1
    assert all(t.startswith("Evgeniy") for t in texts if t != ui(throttled, "slow_down"))


# ------------------------------------------------------------------------------------ privacy


PRIVATE_ID = 987_654_321
PRIVATE_GROUP_ID = -1_009_876_501_234
PRIVATE_USER = make_user(PRIVATE_ID, "Zebulon", username="zq_private_tester", language_code="en")
PRIVATE_TOKEN = "5550123:" + "Qx7_kP2-mZ" * 4
ANSWERED = "Why did Alexey come back from Georgia, quokka?"
UNANSWERED = "Do quokkas need visas in Tbilisi"


@pytest.fixture
def production_log(restore_logging: None) -> io.StringIO:
    """Logging exactly as main() sets it up at DEBUG, writing into a buffer we can read."""
    configure_logging("DEBUG", [PRIVATE_TOKEN])
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    return buffer


def _database_bytes(data_dir: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in sorted(data_dir.iterdir())
        if path.name.startswith("returnbot")
    )


def _identity_patterns() -> dict[str, list[bytes]]:
    def ints(value: int) -> list[bytes]:
        forms = [str(value).encode()]
        for size in (4, 6, 8):
            try:
                forms += [value.to_bytes(size, order, signed=True) for order in ("big", "little")]
            except OverflowError:
                continue
        return forms

    return {
        "user id": ints(PRIVATE_ID),
        "group id": ints(PRIVATE_GROUP_ID),
        "username": [PRIVATE_USER["username"].encode()],
        "first name": [PRIVATE_USER["first_name"].encode()],
    }


def test_logs_and_storage_never_hold_identities_or_the_token(
    production_log: io.StringIO,
    tmp_path: Path,
    start_bot: Callable[..., Any],
    settings_factory: Callable[..., Any],
) -> None:
    data_dir = tmp_path / "data"
    with FakeBotAPI(token=PRIVATE_TOKEN) as fake:
        private = start_bot(settings_factory(fake, data_dir), fake)
        user, group = PRIVATE_USER, {"id": PRIVATE_GROUP_ID, "type": "group", "title": "Priv"}
        assert private.services.answers.ask(ANSWERED, record=False).kind == "answer"
        assert private.services.answers.ask(UNANSWERED, record=False).kind == "unknown"

        command(fake, "start", user)
        answer = ask(fake, ANSWERED, user)
        ask(fake, UNANSWERED, user)
        press(fake, answer, "f:+:alexey|en", user)
        press(fake, answer, "garbage", user, check=False)
        fake.inline_query(ANSWERED, user=user)
        fake.wait_for("answerInlineQuery")
        fake.send_in_group(ANSWERED, user=user, chat=group, mention_bot=True)
        reply_to(fake, PRIVATE_GROUP_ID)
        fake.send_sticker(user=user)
        reply_to(fake, PRIVATE_ID)
        fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
        fake.send_text(ANSWERED, user=user)
        assert fake.wait_for_reply(PRIVATE_ID).status == 400
        reply_to(fake, PRIVATE_ID)  # the apology, after the error was logged with its traceback
        fake.fail_next("sendMessage", 403)
        fake.send_text(UNANSWERED, user=user)
        assert fake.wait_for_reply(PRIVATE_ID).status == 403
        assert text_of(ask(fake, ANSWERED, user)).startswith("Alexey")

        running_db = _database_bytes(data_dir)
        private.stop()
        stopped_db = _database_bytes(data_dir)
    assert fake.server_errors == []

    logs = production_log.getvalue()
    assert "knowledge base loaded" in logs  # the capture really saw the run
    assert "error while handling an update" in logs
    assert "Traceback" in logs
    secret = PRIVATE_TOKEN.split(":", 1)[1]
    assert PRIVATE_TOKEN not in logs
    assert secret not in logs
    for what, forms in _identity_patterns().items():
        assert forms[0].decode() not in logs, f"the {what} was logged"
    for text in (ANSWERED, UNANSWERED, "quokka"):
        assert text not in logs, "a question was logged"

    for db in (running_db, stopped_db):
        assert db, "no database was written"
        for what, forms in _identity_patterns().items():
            for form in forms:
                assert form not in db, f"the {what} is in the database as {form!r}"
        assert ANSWERED.encode() not in db, "an answered question was stored"
    assert UNANSWERED.encode() in stopped_db  # the gap itself is kept, anonymously


# ------------------------------------------------------------------------- admin, own bot


@pytest.fixture
def admin_bot(
    fake_api: FakeBotAPI,
    tmp_path: Path,
    start_bot: Callable[..., Any],
    settings_factory: Callable[..., Any],
) -> Any:
    """A bot of its own for admin tests that change what it stores or serves."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), knowledge)
    settings = settings_factory(
        fake_api, tmp_path / "data", admin_ids=frozenset({ADMIN_ID}), knowledge_dir=knowledge
    )
    return start_bot(settings, fake_api)


def test_admin_gaps_longer_than_a_message_is_split_into_valid_messages(admin_bot: Any) -> None:
    fake = admin_bot.fake
    storage = admin_bot.services.storage
    rng = random.Random(4242)  # noqa: S311 - test data, not secrets
    letters = "abcdefghijklmnopqrstuvwxyz"
    asked = []
    for _ in range(60):  # unrelated, long, markup-laden: far more than one message holds
        words = ["".join(rng.choices(letters, k=7)) + rng.choice("<&>") for _ in range(50)]
        asked.append(" ".join(words))
        storage.record_question(
            lang="en", outcome="unknown", entry_id=None, score=0, text=asked[-1]
        )
    admin_bot.wait_handled(fake.send_command("gaps", "50", user=ADMIN))
    sent = fake.requests("sendMessage")
    assert all(call.ok for call in sent), [c.description for c in sent if not c.ok]
    shown = "\n".join(text_of(call) for call in sent)
    assert shown.startswith(ui(admin_bot, "gaps_title"))
    assert sum(text in shown for text in asked) == 50  # all that was asked for, none cut


def test_admin_reload_of_a_broken_knowledge_base_keeps_the_old_one(admin_bot: Any) -> None:
    fake = admin_bot.fake
    kb = kb_of(admin_bot)
    entries = admin_bot.settings.knowledge_dir / "entries" / "people.yaml"
    entries.write_text(entries.read_text().replace("topic: people", "topic: <nope> & co"))
    text = text_of(command(fake, "reload", ADMIN))
    assert text.startswith(ui(admin_bot, "reload_failed"))
    assert "people.yaml" in text
    assert kb_of(admin_bot) is kb
    assert text_of(ask(fake, "What did Alexey say?", new_user())).startswith("Alexey")


# ------------------------------------------------------------------------- stop, own bot


def test_a_stop_signal_raises_system_exit_once_even_if_ready_is_announced_after_it(
    fake_api: FakeBotAPI,
    tmp_path: Path,
    settings_factory: Callable[..., Any],
    start_bot: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM while the bot serves ends run_polling at once, with one SystemExit.

    The ready announcement polls PTB's flags every 0.05 s, so its next look can come right
    after the signal, in the same round of the loop, and still see the bot serving. It once
    raised a second SystemExit then, in the middle of run_polling's shutdown, which escaped
    it: no post_stop, no post_shutdown, storage never closed, the statistics still queued
    lost (a test_run_process test found that, flakily). Here that order is made, not awaited.
    """
    running = start_bot(settings_factory(fake_api, tmp_path), fake_api)
    raised: list[str] = []
    monkeypatch.setattr(bot_app, "_raise_system_exit", lambda: raised.append("SystemExit"))
    request_stop, args = running.loop.signal_handlers[signal.SIGTERM]

    async def stop_then_look() -> None:
        request_stop(*args)  # serving: this SystemExit starts run_polling's shutdown
        await bot_app._announce_ready(running.app)  # its look, the bot still serving
        await asyncio.sleep(0)  # what it scheduled with call_soon runs now

    running.call(stop_then_look())
    assert raised == ["SystemExit"]
