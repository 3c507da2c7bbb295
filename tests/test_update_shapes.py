"""Updates a real Bot API sends that the everyday helpers don't: forum topics, inline-mode
echoes, stale button presses, unreadable updates, next-page inline queries.

Like test_bot, one bot serves the module and every test talks as its own user, through real
HTTP to the fake Bot API.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.bot_api import QUERY_INVALID, FakeBotAPI, JSONDict
from test_bot import buttons_of, command, edit_of, kb_of, new_user, reply_to, text_of, ui

_forum_ids = itertools.count(-100_800_000_001, -1)


@pytest.fixture(scope="module")
def bot(
    fake: FakeBotAPI,
    tmp_path_factory: pytest.TempPathFactory,
    bot_factory: Any,
    settings_factory: Callable[..., Any],
) -> Iterator[Any]:
    with bot_factory(settings_factory(fake, tmp_path_factory.mktemp("data")), fake) as running:
        yield running


@pytest.fixture
def user() -> JSONDict:
    return new_user()


def new_forum() -> JSONDict:
    return {"id": next(_forum_ids), "type": "supergroup", "title": "Forum", "is_forum": True}


# ------------------------------------------------------------------------------ unreadable


def test_an_update_the_library_cannot_read_is_skipped_and_its_content_never_logged(
    bot: Any, fake: FakeBotAPI, user: JSONDict, caplog: pytest.LogCaptureFixture
) -> None:
    """One malformed update must not stall polling (PTB refetched its batch forever)."""
    private = "private words 7391"
    bad = fake.send_raw_update({"message": {"message_id": 1, "text": private}})  # no chat/date
    fake.send_text("Who is Evgeniy?", user=user)
    assert text_of(reply_to(fake, user["id"])).startswith("Evgeniy")
    fake.wait_for("getUpdates", lambda p: int(p.get("offset") or 0) > bad["update_id"])
    assert private not in caplog.text
    assert str(user["id"]) not in caplog.text
    assert any(
        r.levelno == logging.WARNING and str(bad["update_id"]) in r.getMessage()
        for r in caplog.records
    )


# ------------------------------------------------------------------------------ forum topics


def test_replies_in_a_forum_topic_stay_in_that_topic(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    forum = new_forum()
    fake.send_command("help", user=user, chat=forum, chat_type="supergroup", message_thread_id=7)
    assert reply_to(fake, forum["id"]).params.get("message_thread_id") == 7

    fake.send_in_group(
        "Who is Evgeniy?",
        user=user,
        chat=forum,
        chat_type="supergroup",
        mention_bot=True,
        message_thread_id=7,
    )
    answer = reply_to(fake, forum["id"])
    assert text_of(answer).startswith("Evgeniy")
    assert answer.params.get("message_thread_id") == 7

    # A button under a message in the topic answers in the topic too.
    fake.send_command("topics", user=user, chat=forum, chat_type="supergroup", message_thread_id=7)
    topics = reply_to(fake, forum["id"])
    fake.press_button(topics, "t:people|en", user=user)
    entries = edit_of(fake, "editMessageText", topics)
    fake.press_button(entries.result, "a:evgeniy|en", user=user)
    opened = reply_to(fake, forum["id"])
    assert text_of(opened).startswith("Evgeniy")
    assert opened.params.get("message_thread_id") == 7


def test_the_apology_goes_to_the_topic_of_the_question(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    forum = new_forum()
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    fake.send_command("help", user=user, chat=forum, chat_type="supergroup", message_thread_id=9)
    assert fake.wait_for_reply(forum["id"]).status == 400
    apology = reply_to(fake, forum["id"])
    assert text_of(apology) == ui(bot, "error")
    assert apology.params.get("message_thread_id") == 9


# ------------------------------------------------------------------------------ buttons


def test_a_button_pressed_too_long_ago_to_acknowledge_still_answers(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    """After downtime Telegram delivers presses whose query has expired: do the job anyway."""
    topics = command(fake, "topics", user)
    fake.fail_next("answerCallbackQuery", 400, f"Bad Request: {QUERY_INVALID}")
    fake.press_button(topics, "t:people|en", user=user)
    entries = edit_of(fake, "editMessageText", topics)
    assert "a:evgeniy|en" in buttons_of(entries)

    fake.fail_next("answerCallbackQuery", 400, f"Bad Request: {QUERY_INVALID}")
    fake.press_button(entries.result, "a:evgeniy|en", user=user)
    assert text_of(reply_to(fake, user["id"])).startswith("Evgeniy")


# ------------------------------------------------------------------------------ inline mode


def test_a_message_sent_through_the_bots_own_inline_mode_is_not_answered_again(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    """Choosing an inline result in the bot's own chat posts the answer there: it is done."""
    entry = kb_of(bot).entry("evgeniy")
    assert entry is not None
    posted = fake.send_text(entry.answer.en, user=user, extra={"via_bot": fake.bot_user})
    bot.wait_handled(posted)
    assert fake.sent_messages(user["id"]) == []
    # Through another bot it is the user's own message: answered as usual.
    other = {"id": 999, "is_bot": True, "first_name": "Other", "username": "other_bot"}
    fake.send_text("Who is Evgeniy?", user=user, extra={"via_bot": other})
    assert text_of(reply_to(fake, user["id"])).startswith("Evgeniy")


def test_an_inline_request_for_a_next_page_gets_no_repeats(
    bot: Any, fake: FakeBotAPI, user: JSONDict
) -> None:
    """Every result goes in the first page; a client asking for more must not get them twice."""
    update = fake.inline_query("who is evgeniy " * 16, user=user, offset="10")
    query_id = update["inline_query"]["id"]
    call = fake.wait_for("answerInlineQuery", lambda p: p.get("inline_query_id") == query_id)
    assert call.ok, call.description
    assert call.params["results"] == []
