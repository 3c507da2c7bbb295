"""bot.request: requests built with cached encodings and URLs must be exactly httpx's own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fakes.bot_api import FakeBotAPI

from bot import request as form_request
from bot.app import build_application
from bot.request import FORM_CONTENT_TYPE, FormCachingRequest, _FormCachingClient, form_body
from bot.systemd import SystemdNotifier

LONG_HTML = (
    "<b>Почему уезжавшие возвращаются?</b>\n\n"
    "Tom &amp; Jerry said: «да» — 100% + 1 = ok? 🇷🇺 tab\there\r\nend ~_.-!*'()/:;,@$"
) * 4
KEYBOARD = json.dumps(
    {"inline_keyboard": [[{"text": "👍 Да", "callback_data": "f:+:why-return|ru"}]]}
)
SAMPLES: list[dict[str, str]] = [
    {"chat_id": "10000123", "text": "Thanks, noted."},
    {
        "chat_id": "-100123",
        "text": LONG_HTML,
        "parse_mode": "HTML",
        "link_preview_options": '{"is_disabled": true}',
        "reply_markup": KEYBOARD,
    },
    {"chat_id": "1", "text": "a b+c&d=e%f", "reply_parameters": '{"message_id": 5}'},
    {"text": "x" * 63, "caption": "é" * 64, "empty": ""},
]


def _httpx_request(data: Any, **kwargs: Any) -> httpx.Request:
    return httpx.AsyncClient().build_request("POST", "http://api.test/bot1/m", data=data, **kwargs)


@pytest.mark.parametrize("data", SAMPLES)
def test_form_body_is_what_httpx_sends(data: dict[str, str]) -> None:
    expected = _httpx_request(data).read()
    assert form_body(data) == expected
    assert form_body(data) == expected  # the second time from the cache


@pytest.fixture
def empty_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh caches, so that no earlier test can have filled (and so cleared) them."""
    monkeypatch.setattr(form_request, "_quoted", {})
    monkeypatch.setattr(form_request, "_urls", {})


@pytest.mark.usefixtures("empty_caches")
@pytest.mark.parametrize("data", SAMPLES)
def test_the_client_sends_the_same_request_as_httpx(data: dict[str, str]) -> None:
    headers = {"User-Agent": "python-telegram-bot"}
    ours = _FormCachingClient().build_request(
        "POST", "http://api.test/bot1/m", data=data, headers=headers, timeout=3.0
    )
    theirs = _httpx_request(data, headers=headers, timeout=3.0)
    assert ours.read() == theirs.read()
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
    assert ours.headers["content-type"] == FORM_CONTENT_TYPE
    assert ours.extensions == theirs.extensions
    assert ours.url == theirs.url
    assert form_request._urls["http://api.test/bot1/m"] == ours.url  # parsed once, then reused
    for value in data.values():  # the body was built here, not by httpx
        assert (value in form_request._quoted) == (len(value) >= form_request._CACHED_MIN_LENGTH)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": {"chat_id": 5, "flag": True}},  # not all strings: httpx's own rules
        {"data": {}},
        {"data": {"a": "b"}, "files": {"f": ("f.txt", b"content")}},
        {"content": b"raw"},
        {"json": {"a": "b"}},
    ],
)
def test_anything_else_is_left_to_httpx(kwargs: dict[str, Any]) -> None:
    url = "http://api.test/bot1/m"
    ours = _FormCachingClient().build_request("POST", url, **kwargs)
    theirs = httpx.AsyncClient().build_request("POST", url, **kwargs)
    if "files" in kwargs:  # a random multipart boundary: compare the kind only
        assert ours.headers["content-type"].split(";")[0] == "multipart/form-data"
        return
    assert ours.read() == theirs.read()
    assert dict(ours.headers) == dict(theirs.headers)


@pytest.mark.usefixtures("empty_caches")
def test_the_caches_are_bounded() -> None:
    for number in range(form_request._CACHE_MAX + 10):
        form_body({"text": f"{number:08d} " + "ж" * 64})
    assert 0 < len(form_request._quoted) <= form_request._CACHE_MAX
    for number in range(form_request._URLS_MAX + 10):
        form_request.parsed_url(f"http://api.test/bot1/method{number}")
    assert 0 < len(form_request._urls) <= form_request._URLS_MAX


def test_the_production_bot_sends_through_it(
    fake_api: FakeBotAPI, settings_factory: Callable[..., Any]
) -> None:
    application = build_application(
        settings_factory(fake_api, None), notifier=SystemdNotifier(None)
    )
    try:
        assert isinstance(application.bot.request, FormCachingRequest)

        async def send() -> None:
            async with application.bot:
                await application.bot.send_message(fake_api.default_user["id"], LONG_HTML)

        asyncio.run(send())
    finally:
        application.bot_data.require().storage.close()
    (sent,) = fake_api.requests("sendMessage")
    assert sent.ok
    assert sent.params["text"] == LONG_HTML
