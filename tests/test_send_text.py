"""ReturnBot.send_text: the production send path, against the fake Bot API.

send_text is sendMessage without parsing Telegram's answer into a Message. It must send
exactly what send_message sends (Defaults included), raise the same errors, and still go
through the rate limiter, which retries after a 429.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.bot_api import DEFAULT_USER, FakeBotAPI
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import Application

from bot import app as bot_app
from bot.app import CONCURRENT_UPDATES, ReturnBot, build_application
from bot.systemd import SystemdNotifier

TESS = DEFAULT_USER["id"]
MARKUP = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Один", callback_data="a:one|ru")],
        [InlineKeyboardButton("👍", callback_data="f:+:one|en")],
    ]
)
TEXT = "<b>Заголовок</b>\n\nText &amp; <i>more</i>"


@pytest.fixture
def app(fake_api: FakeBotAPI, settings_factory: Callable[..., Any]) -> Iterator[Application]:  # type: ignore[type-arg]
    """The production application (not started): its bot talks to the fake."""
    application = build_application(
        settings_factory(fake_api, None), notifier=SystemdNotifier(None)
    )
    yield application
    application.bot_data.require().storage.close()


def run_with_bot(app: Application, scenario: Callable[[ReturnBot], Any]) -> Any:  # type: ignore[type-arg]
    async def main() -> Any:
        bot = app.bot
        assert isinstance(bot, ReturnBot)
        async with bot:
            return await scenario(bot)

    return asyncio.run(main())


def test_the_production_application_sends_with_a_return_bot(app: Application) -> None:  # type: ignore[type-arg]
    assert isinstance(app.bot, ReturnBot)
    assert app.concurrent_updates == CONCURRENT_UPDATES
    assert app.bot.rate_limiter is not None
    assert app.bot.defaults is not None
    assert app.bot.defaults.parse_mode == "HTML"


def test_send_text_sends_exactly_what_send_message_sends(
    app: Application,  # type: ignore[type-arg]
    fake_api: FakeBotAPI,
) -> None:
    quote = ReplyParameters(12345, allow_sending_without_reply=True)

    async def scenario(bot: ReturnBot) -> tuple[Any, Any]:
        sent = await bot.send_message(TESS, TEXT, reply_markup=MARKUP, reply_parameters=quote)
        quick = await bot.send_text(
            TESS, TEXT, keyboard_json=json.dumps(MARKUP.to_dict()), reply_parameters=quote
        )
        return sent, quick

    sent, quick = run_with_bot(app, scenario)
    assert isinstance(sent, Message)
    assert quick is None
    first, second = fake_api.requests("sendMessage")
    assert first.ok
    assert second.ok
    # Defaults (parse_mode, link preview) applied the same way; keyboard and quote the same.
    assert first.params == second.params
    assert first.params["parse_mode"] == "HTML"
    assert first.params["link_preview_options"] == {"is_disabled": True}
    assert second.params["reply_markup"] == MARKUP.to_dict()
    for key in ("text", "entities", "reply_markup"):
        assert first.result[key] == second.result[key]


def test_send_text_never_parses_the_answer_into_a_message(
    app: Application,  # type: ignore[type-arg]
    fake_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_parsing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Message.de_json was called")

    monkeypatch.setattr(Message, "de_json", no_parsing)

    async def scenario(bot: ReturnBot) -> None:
        await bot.send_text(TESS, TEXT, keyboard_json=json.dumps(MARKUP.to_dict()))
        with pytest.raises(AssertionError, match="de_json"):  # the patch does bite
            await bot.send_message(TESS, TEXT)

    run_with_bot(app, scenario)
    assert [call.status for call in fake_api.requests("sendMessage")] == [200, 200]


@pytest.mark.parametrize(
    ("code", "description", "error"),
    [
        (400, "Bad Request: can't parse entities: Unsupported start tag", BadRequest),
        (403, "Forbidden: bot was blocked by the user", Forbidden),
        (500, None, NetworkError),
        (502, None, NetworkError),
    ],
    ids=["400", "403", "500", "502"],
)
def test_send_text_raises_what_send_message_raises(
    app: Application,  # type: ignore[type-arg]
    fake_api: FakeBotAPI,
    code: int,
    description: str | None,
    error: type[TelegramError],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After a 5xx send_text tries again (SEND_RETRY_DELAYS) and raises once all tries failed.
    monkeypatch.setattr(bot_app, "SEND_RETRY_DELAYS", (0.01, 0.01))
    tries = 3 if code >= 500 else 1
    fake_api.fail_next("sendMessage", code, description, times=1 + tries)

    async def scenario(bot: ReturnBot) -> tuple[TelegramError, TelegramError]:
        with pytest.raises(error) as by_send_message:
            await bot.send_message(TESS, TEXT)
        with pytest.raises(error) as by_send_text:
            await bot.send_text(TESS, TEXT)
        return by_send_message.value, by_send_text.value

    expected, got = run_with_bot(app, scenario)
    assert type(got) is type(expected)
    assert str(got) == str(expected)
    assert [call.status for call in fake_api.requests("sendMessage")] == [code] * (1 + tries)


def test_send_text_is_retried_by_the_rate_limiter_after_a_429(
    app: Application,  # type: ignore[type-arg]
    fake_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PTB's RetryAfter warns about its int retry_after (an error under filterwarnings)
    # unless the timedelta behaviour is opted into.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake_api.fail_next("sendMessage", 429, retry_after=1)

    run_with_bot(app, lambda bot: bot.send_text(TESS, TEXT))
    first, second = fake_api.requests("sendMessage")
    assert (first.status, second.status) == (429, 200)  # AIORateLimiter waited and resent
    assert first.params == second.params
