"""The fake Bot API against real python-telegram-bot: what PTB sends, what Telegram answers."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fakes.bot_api import (
    BOT_USERNAME,
    DEFAULT_GROUP_ID,
    DEFAULT_TOKEN,
    DEFAULT_USER,
    EntityParseError,
    FakeBotAPI,
    UploadedFile,
    make_user,
    parse_html,
    strip_formatted,
)
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    filters,
)

TESS = DEFAULT_USER["id"]


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as api:
        yield api
    assert api.server_errors == []


def _bot(fake: FakeBotAPI, token: str = DEFAULT_TOKEN) -> Bot:
    return Bot(token, base_url=fake.base_url)


def _raw_post(
    fake: FakeBotAPI, method: str, body: bytes, content_type: str, timeout: float = 10.0
) -> tuple[int, dict[str, Any]]:
    """One request without PTB, to pin down the wire format the fake accepts."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        conn.request(
            "POST", f"/bot{fake.token}/{method}", body=body, headers={"Content-Type": content_type}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


# ------------------------------------------------------------------------------- HTML parser


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        (
            "<b>bold</b> <i>it<u>al</u></i>",
            "bold ital",
            [("bold", 0, 4), ("italic", 5, 4), ("underline", 7, 2)],
        ),
        (
            "<strong>a</strong><em>b</em><ins>c</ins>",
            "abc",
            [("bold", 0, 1), ("italic", 1, 1), ("underline", 2, 1)],
        ),
        (
            "<s>a</s><strike>b</strike><del>c</del>",
            "abc",
            [("strikethrough", i, 1) for i in range(3)],
        ),
        ("&lt;b&gt; &amp; &quot;q&quot; &#65;&#x42;", '<b> & "q" AB', []),
        ("😀<b>x</b>", "😀x", [("bold", 2, 1)]),  # offsets are UTF-16 code units
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", [("pre", 0, 5)]),
        ("<code>c</code>", "c", [("code", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("<blockquote>q</blockquote>", "q", [("blockquote", 0, 1)]),
        (
            '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
            "st",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", [("custom_emoji", 0, 2)]),
        ('<a href="https://example.com">site</a>', "site", [("text_link", 0, 4)]),
        ("  <b>padded</b>\n", "padded", [("bold", 0, 6)]),
    ],
)
def test_parse_html_matches_telegram(
    markup: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    parsed_text, parsed = strip_formatted(*parse_html(markup))  # sendMessage trims after parsing
    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_parse_html_keeps_link_and_language_details() -> None:
    _, entities = parse_html(
        '<a href="https://example.com">a</a><pre><code class="language-py">b</code></pre>'
    )
    assert entities[0]["url"] == "https://example.com/"
    assert entities[1]["language"] == "py"


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("Hello <foo>", 'Unsupported start tag "foo" at byte offset 6'),
        ("Привет <foo>", 'Unsupported start tag "foo" at byte offset 13'),  # bytes, not chars
        ("<b>x<i>y</b></i>", 'Unmatched end tag at byte offset 8, expected "</i>", found "</b>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("Tom & Jerry", 'Unescaped "&" at byte offset 4'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_parse_html_errors_use_telegram_wording(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(markup)
    assert str(caught.value).startswith(error)


def test_bare_ampersand_is_accepted_when_not_strict() -> None:
    assert parse_html("Tom & Jerry", strict_ampersand=False) == ("Tom & Jerry", [])


# ------------------------------------------------------------------------------- Bot methods


def test_get_me_returns_the_test_bot(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            me = await bot.get_me()
            assert (me.id, me.username, me.first_name) == (123456, BOT_USERNAME, "ReturnBot")
            assert me.is_bot
            assert me.supports_inline_queries
            assert me.can_join_groups
            assert me.can_read_all_group_messages is False

    asyncio.run(scenario())
    assert [call.method for call in fake.requests()] == ["getMe", "getMe"]


def test_send_message_html_becomes_text_and_entities(fake: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more")]])

    async def scenario() -> None:
        async with _bot(fake) as bot:
            first = await bot.send_message(
                TESS,
                "<b>Hi</b> &amp; <a href='https://example.com/x'>there</a>",
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
            second = await bot.send_message(TESS, "again")
        assert first.text == "Hi & there"
        assert [(e.type, e.offset, e.length) for e in first.entities] == [
            ("bold", 0, 2),
            ("text_link", 5, 5),
        ]
        assert first.reply_markup == keyboard
        assert first.from_user is not None
        assert first.from_user.username == BOT_USERNAME
        assert first.chat.id == TESS
        assert first.chat.type == "private"
        assert (first.message_id, second.message_id) == (1, 2)

    asyncio.run(scenario())
    method, params = fake.sent_messages(TESS)[0]
    assert method == "sendMessage"
    # PTB form-encodes everything; non-strings arrive as JSON and the fake decodes them.
    assert params["chat_id"] == TESS
    assert params["parse_mode"] == "HTML"
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "More", "callback_data": "more"}]]
    }
    assert params["text"].startswith("<b>Hi</b>")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<foo>hi</foo>", 'Can\'t parse entities: unsupported start tag "foo" at byte offset 0'),
        ("x" * 4097, "Message is too long"),
        ("<b> </b>  ", "Message text is empty"),
    ],
)
def test_send_message_rejects_what_telegram_rejects(
    fake: FakeBotAPI, text: str, message: str
) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            with pytest.raises(BadRequest) as caught:
                await bot.send_message(TESS, text, parse_mode=ParseMode.HTML)
            # PTB strips "Bad Request: " and capitalize()s, which lowercases the rest.
            assert caught.value.message == message

    asyncio.run(scenario())
    assert fake.requests("sendMessage")[0].description.startswith("Bad Request: ")


def test_length_limit_counts_text_after_entity_parsing(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            message = await bot.send_message(
                TESS, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML
            )
            assert len(message.text) == 4096

    asyncio.run(scenario())


def test_inline_keyboard_limits(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            fits = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ж" * 32)]])
            await bot.send_message(TESS, "64 bytes is fine", reply_markup=fits)
            too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="ж" * 33)]])
            with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
                await bot.send_message(TESS, "66 bytes", reply_markup=too_long)
            many = [[InlineKeyboardButton(str(i), callback_data=str(i))] for i in range(101)]
            with pytest.raises(BadRequest):
                await bot.send_message(
                    TESS, "101 buttons", reply_markup=InlineKeyboardMarkup(many)
                )

    asyncio.run(scenario())


def test_injected_failures_become_ptb_exceptions(
    fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RetryAfter.retry_after warns (an error here) unless PTB_TIMEDELTA opts in to timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", 429, retry_after=7)
    fake.fail_next("sendMessage", 403)
    fake.fail_next("sendmessage", 502, times=2)
    fake.fail_next("sendMessage", 500)

    async def scenario() -> None:
        async with _bot(fake) as bot:
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(TESS, "1")
            assert flood.value.retry_after == dtm.timedelta(seconds=7)
            with pytest.raises(Forbidden, match="bot was blocked by the user"):
                await bot.send_message(TESS, "2")
            for _ in range(2):
                with pytest.raises(NetworkError, match="Bad Gateway"):
                    await bot.send_message(TESS, "3")
            with pytest.raises(NetworkError):
                await bot.send_message(TESS, "4")
            assert (await bot.send_message(TESS, "5")).text == "5"

    asyncio.run(scenario())
    assert [call.status for call in fake.requests("sendMessage")] == [429, 403, 502, 502, 500, 200]
    assert fake.requests("sendMessage")[0].response["parameters"] == {"retry_after": 7}
    with pytest.raises(ValueError, match="does not implement"):
        fake.fail_next("sendMesage", 400)


def test_wrong_token_and_unknown_method(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidToken):
            async with _bot(fake, "999:WRONG"):  # initialize() calls getMe
                pass
        async with _bot(fake) as bot:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("noSuchMethod")

    asyncio.run(scenario())
    assert fake.requests("getMe")[0].response == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    assert fake.requests("noSuchMethod")[0].response == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


def test_edits_follow_telegram_rules(fake: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])

    async def scenario() -> None:
        async with _bot(fake) as bot:
            sent = await bot.send_message(
                TESS, "<b>v1</b>", parse_mode="HTML", reply_markup=keyboard
            )
            with pytest.raises(BadRequest, match="Message is not modified"):
                await bot.edit_message_text(
                    "<b>v1</b>", TESS, sent.message_id, parse_mode="HTML", reply_markup=keyboard
                )
            edited = await bot.edit_message_text("v2", TESS, sent.message_id)
            assert edited.text == "v2"
            assert edited.edit_date is not None
            assert edited.reply_markup is None  # editing without markup drops the keyboard
            again = await bot.edit_message_reply_markup(
                TESS, sent.message_id, reply_markup=keyboard
            )
            assert again.reply_markup == keyboard
            with pytest.raises(BadRequest, match="Message to edit not found"):
                await bot.edit_message_text("x", TESS, 999)

    asyncio.run(scenario())
    stored = fake.message(TESS, 1)
    assert stored is not None
    assert stored["text"] == "v2"


def test_long_poll_waits_for_an_update_and_offset_confirms(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=5))
            await fake.wait_for_poller_async()
            queued = fake.send_text("late")
            updates = await poll
            assert [u.update_id for u in updates] == [queued["update_id"]]
            assert updates[0].message is not None
            assert updates[0].message.text == "late"
            # Unconfirmed updates come back; an offset past them drops them for good.
            assert len(await bot.get_updates(timeout=0)) == 1
            assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
            assert fake.pending_updates() == []

    asyncio.run(scenario())


def test_limit_and_allowed_updates(fake: FakeBotAPI) -> None:
    ids = [fake.send_text(str(i))["update_id"] for i in range(3)]
    fake.inline_query("visa")

    async def scenario() -> None:
        async with _bot(fake) as bot:
            first = await bot.get_updates(limit=2, timeout=0, allowed_updates=["message"])
            assert [u.update_id for u in first] == ids[:2]
            rest = await bot.get_updates(offset=ids[1] + 1, timeout=0)
            assert [u.update_id for u in rest] == ids[2:]  # the inline query was filtered out

    asyncio.run(scenario())
    assert fake.allowed_updates == ["message"]


def test_stop_releases_long_polls_promptly() -> None:
    outcome: list[object] = []
    api = FakeBotAPI().start()

    def poll() -> None:
        try:
            body = urlencode({"timeout": 60}).encode()
            outcome.append(_raw_post(api, "getUpdates", body, "application/x-www-form-urlencoded"))
        except OSError as exc:  # the socket may be cut before the answer lands
            outcome.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    api.wait_for_poller()
    api.stop()
    poller.join(timeout=10)
    assert not poller.is_alive()
    assert outcome
    assert isinstance(outcome[0], OSError) or outcome[0] == (200, {"ok": True, "result": []})
    api.stop()  # idempotent


def test_chat_action_close_and_log_out(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            assert await bot.send_chat_action(TESS, "typing")
            with pytest.raises(BadRequest, match="Wrong parameter action"):
                await bot.send_chat_action(TESS, "dancing")
            assert await bot.log_out()
            assert await bot.close()

    asyncio.run(scenario())
    assert [call.method for call in fake.requests()][-2:] == ["logOut", "close"]


def test_webhook_blocks_polling_until_deleted(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            await bot.set_webhook("https://example.com/hook")
            assert (await bot.get_webhook_info()).url == "https://example.com/hook"
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            await bot.delete_webhook()
            assert await bot.get_updates(timeout=0) == ()

    asyncio.run(scenario())


def test_commands_are_kept_per_scope_and_language(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            await bot.set_my_commands([BotCommand("start", "Start")])
            await bot.set_my_commands(
                [BotCommand("start", "Начать"), BotCommand("help", "Помощь")],
                scope=BotCommandScopeAllPrivateChats(),
                language_code="ru",
            )
            ru = await bot.get_my_commands(
                scope=BotCommandScopeAllPrivateChats(), language_code="ru"
            )
            assert [c.command for c in ru] == ["start", "help"]
            assert [c.description for c in await bot.get_my_commands()] == ["Start"]
            await bot.delete_my_commands()
            assert await bot.get_my_commands() == ()
            with pytest.raises(BadRequest):
                await bot.set_my_commands([BotCommand("Bad-Command", "x")])

    asyncio.run(scenario())
    assert fake.commands({"type": "all_private_chats"}, "ru") == [
        {"command": "start", "description": "Начать"},
        {"command": "help", "description": "Помощь"},
    ]
    assert fake.commands() is None
    scope = fake.requests("setMyCommands")[1].params["scope"]
    assert scope == {"type": "all_private_chats"}  # JSON inside a form field, decoded


def test_inline_answers_are_validated_with_defaults_parse_mode(fake: FakeBotAPI) -> None:
    def article(i: int, text: str) -> InlineQueryResultArticle:
        return InlineQueryResultArticle(str(i), f"t{i}", InputTextMessageContent(text))

    async def scenario() -> None:
        defaults = Defaults(parse_mode=ParseMode.HTML)
        async with ExtBot(DEFAULT_TOKEN, base_url=fake.base_url, defaults=defaults) as bot:
            query_id = fake.inline_query("visa")["inline_query"]["id"]
            with pytest.raises(BadRequest, match=r"(?i)results_too_much"):
                await bot.answer_inline_query(query_id, [article(i, "x") for i in range(51)])
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.answer_inline_query(query_id, [article(1, "<b>unclosed")])
            assert await bot.answer_inline_query(query_id, [article(1, "<b>fine</b>")])
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await bot.answer_inline_query(query_id, [article(1, "twice")])

    asyncio.run(scenario())
    sent = fake.requests("answerInlineQuery")[1].params["results"][0]
    assert sent["input_message_content"]["parse_mode"] == "HTML"


def test_wire_formats_json_body_and_string_fields(fake: FakeBotAPI) -> None:
    body = json.dumps(
        {
            "chat_id": TESS,
            "text": "json",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]},
        }
    ).encode()
    status, payload = _raw_post(fake, "sendMessage", body, "application/json")
    assert status == 200
    assert payload["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "a"
    # A text that happens to be valid JSON must stay a string.
    form = urlencode({"chat_id": TESS, "text": "42"}).encode()
    status, payload = _raw_post(fake, "sendMessage", form, "application/x-www-form-urlencoded")
    assert status == 200
    assert payload["result"]["text"] == "42"
    assert fake.requests("sendMessage")[1].params == {"chat_id": TESS, "text": "42"}


def test_multipart_uploads_are_parsed(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            message = await bot.send_document(
                TESS, b"hello", filename="notes.txt", caption="<i>notes</i>", parse_mode="HTML"
            )
            assert message.document is not None
            assert message.document.file_name == "notes.txt"
            assert message.caption == "notes"
            assert message.caption_entities[0].type == "italic"

    asyncio.run(scenario())
    upload = fake.requests("sendDocument")[0].params["document"]
    assert isinstance(upload, UploadedFile)
    assert upload.data == b"hello"


def test_blocked_user_gets_forbidden(fake: FakeBotAPI) -> None:
    update = fake.block_bot()

    async def scenario() -> None:
        async with _bot(fake) as bot:
            parsed = Update.de_json(update, bot)
            assert parsed.my_chat_member is not None
            assert parsed.my_chat_member.new_chat_member.status == "kicked"
            with pytest.raises(Forbidden):
                await bot.send_message(TESS, "hello?")
            fake.unblock_bot()
            await bot.send_message(TESS, "welcome back")

    asyncio.run(scenario())


# ------------------------------------------------------------------------------- update helpers


def test_update_helpers_produce_updates_ptb_understands(fake: FakeBotAPI) -> None:
    bot = _bot(fake)
    text = fake.send_text("hi", language_code="ru")
    command = fake.send_command("/start", args="deep-link")
    group = fake.send_in_group("what about visas?", chat_type="supergroup", mention_bot=True)
    other = fake.send_text("hey", user=make_user(7, "Bob"))
    parsed = {
        "text": Update.de_json(text, bot),
        "command": Update.de_json(command, bot),
        "group": Update.de_json(group, bot),
        "sticker": Update.de_json(fake.send_sticker(), bot),
        "photo": Update.de_json(fake.send_photo(caption="look"), bot),
        "voice": Update.de_json(fake.send_voice(), bot),
        "location": Update.de_json(fake.send_location(), bot),
        "contact": Update.de_json(fake.send_contact(), bot),
        "edit": Update.de_json(fake.edit_text(text, "hi!"), bot),
        "inline": Update.de_json(fake.inline_query("visa"), bot),
        "reply": Update.de_json(fake.send_text("re", reply_to_message=text), bot),
        "other": Update.de_json(other, bot),
        "forward": Update.de_json(
            fake.send_text(
                "fwd",
                forward_origin={"type": "user", "date": 0, "sender_user": make_user(9, "Fwd")},
            ),
            bot,
        ),
    }
    ids = [update.update_id for update in parsed.values()]
    assert len(set(ids)) == len(ids)
    message = parsed["text"].message
    assert message is not None
    assert message.chat.id == TESS == message.from_user.id
    assert message.from_user.language_code == "ru"
    assert filters.COMMAND.check_update(parsed["command"])
    assert parsed["command"].message.text == "/start deep-link"
    group_message = parsed["group"].message
    assert group_message.chat.type == "supergroup"
    assert group_message.entities[0].type == "mention"
    assert group_message.parse_entity(group_message.entities[0]) == f"@{BOT_USERNAME}"
    assert parsed["sticker"].message.sticker.emoji == "👍"
    assert parsed["photo"].message.photo[-1].width == 1280
    assert parsed["voice"].message.voice.mime_type == "audio/ogg"
    assert parsed["location"].message.location is not None
    assert parsed["contact"].message.contact.phone_number.startswith("+")
    assert parsed["edit"].edited_message.text == "hi!"
    assert parsed["inline"].inline_query.query == "visa"
    assert parsed["reply"].message.reply_to_message.message_id == message.message_id
    assert parsed["other"].message.from_user.username is None
    assert parsed["other"].message.chat.id == 7
    assert parsed["forward"].message.forward_origin.sender_user.first_name == "Fwd"


def test_press_button_requires_an_existing_button(fake: FakeBotAPI) -> None:
    plain = fake.send_text("no keyboard here")
    with pytest.raises(ValueError, match="no button"):
        fake.press_button(plain, "anything")
    update = fake.press_button(plain, "anything", check=False)
    assert update["callback_query"]["data"] == "anything"


# ------------------------------------------------------------------------------- waiting


def test_wait_for_hands_out_each_call_once_and_times_out_clearly(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        async with _bot(fake) as bot:
            await bot.send_message(TESS, "one")
            await bot.send_message(TESS, "two")
        with pytest.raises(RuntimeError, match="wait_for_async"):
            fake.wait_for("sendMessage")  # would freeze the loop the bot runs on

    asyncio.run(scenario())
    assert fake.wait_for("sendMessage").params["text"] == "one"
    assert fake.wait_for_reply(TESS).params["text"] == "two"
    with pytest.raises(TimeoutError, match="no new sendMessage request"):
        fake.wait_for("sendMessage", timeout=0.01)
    fake.clear()
    assert fake.requests() == []


def test_concurrent_clients_get_consistent_ids(fake: FakeBotAPI) -> None:
    def queue_many() -> None:
        for i in range(25):
            fake.send_text(str(i))

    threads = [threading.Thread(target=queue_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    update_ids = [u["update_id"] for u in fake.pending_updates()]
    assert len(set(update_ids)) == 200

    async def scenario() -> None:
        async with _bot(fake) as bot:
            chats = [1001, 1002, 1003]
            sent = await asyncio.gather(
                *(bot.send_message(chats[i % 3], f"m{i}") for i in range(30))
            )
        for chat in chats:
            ids = sorted(m.message_id for m in sent if m.chat.id == chat)
            assert ids == list(range(1, 11))

    asyncio.run(scenario())


# ------------------------------------------------------------------------------- Application


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    assert update.effective_message.text is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    await update.effective_message.reply_text(
        f"<b>echo</b>: {html.escape(update.effective_message.text)}",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
    )


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"welcome, args={context.args}")


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("ok")
    await query.edit_message_text(f"pressed {query.data}")


def test_application_polls_replies_and_handles_buttons(fake: FakeBotAPI) -> None:
    async def scenario() -> None:
        app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
        app.add_handler(CommandHandler("start", _start))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
        app.add_handler(CallbackQueryHandler(_pressed))
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                fake.send_text("hi & bye")
                reply = await fake.wait_for_reply_async()
                assert reply.ok
                assert reply.result["text"] == "echo: hi & bye"
                assert reply.result["entities"] == [{"type": "bold", "offset": 0, "length": 4}]

                fake.send_command("start", args="ru")
                welcome = await fake.wait_for_reply_async()
                assert welcome.result["text"] == "welcome, args=['ru']"

                fake.send_in_group("hello group", mention_bot=True)
                in_group = await fake.wait_for_reply_async(DEFAULT_GROUP_ID)
                assert in_group.result["chat"]["type"] == "group"

                fake.press_button(reply, "again")
                answer = await fake.wait_for_async("answerCallbackQuery")
                assert answer.ok
                assert answer.params["text"] == "ok"
                edit = await fake.wait_for_async("editMessageText")
                assert edit.ok
                assert edit.result["text"] == "pressed again"
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(scenario())
    methods = [call.method for call in fake.requests()]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert fake.pending_updates() == []  # PTB confirmed everything on shutdown


# ------------------------------------------------------------------------------- odd updates


def test_raw_updates_lone_surrogates_and_forum_topics_reach_a_client(fake: FakeBotAPI) -> None:
    """Shapes the bot tests rely on: delivered as given, and threads honoured like Telegram."""
    raw = fake.send_raw_update({"message": {"message_id": 1, "text": "no chat, no date"}})
    lone = fake.send_text("\ud800 lone surrogate")
    forum = {"id": -100_555, "type": "supergroup", "title": "Forum"}
    topic = fake.send_in_group(
        "in a topic", chat=forum, chat_type="supergroup", message_thread_id=5
    )
    assert topic["message"]["chat"]["is_forum"] is True

    status, body = _raw_post(fake, "getUpdates", b"{}", "application/json")
    assert status == 200
    assert [u["update_id"] for u in body["result"]] == [
        raw["update_id"],
        lone["update_id"],
        topic["update_id"],
    ]
    assert body["result"][0]["message"] == {"message_id": 1, "text": "no chat, no date"}
    assert body["result"][1]["message"]["text"] == "\ud800 lone surrogate"
    assert body["result"][2]["message"]["message_thread_id"] == 5
    assert body["result"][2]["message"]["is_topic_message"] is True

    def send(chat_id: int) -> tuple[int, dict[str, Any]]:
        payload = {"chat_id": chat_id, "text": "hi", "message_thread_id": 5}
        return _raw_post(fake, "sendMessage", json.dumps(payload).encode(), "application/json")

    status, body = send(forum["id"])
    assert status == 200
    assert body["result"]["message_thread_id"] == 5
    assert body["result"]["is_topic_message"] is True
    status, body = send(-100_556)  # a supergroup without topics
    assert (status, body["description"]) == (400, "Bad Request: message thread not found")
