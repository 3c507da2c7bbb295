"""bot.request: requests built with cached encodings and URLs must be exactly httpx's own."""

from __future__ import annotations

import asyncio
import json
import random
import select
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpcore
import httpx
import pytest
from conftest import WAIT_TIMEOUT
from fakes.bot_api import FakeBotAPI

from bot import request as form_request
from bot.app import build_application
from bot.request import (
    FORM_CONTENT_TYPE,
    FormCachingRequest,
    _FormCachingClient,
    _LeanPool,
    _SocketKeepingBackend,
    _SocketKeepingStream,
    form_body,
    lean_pool,
)
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


class _StubConnection:
    """What the pool's assignment asks of a connection, as fixed answers."""

    def __init__(self, ident: int, rng: random.Random, origin: str) -> None:
        self.ident = ident
        self.closed = rng.random() < 0.1
        self.expired = rng.random() < 0.1
        self.idle = rng.random() < 0.5
        self.available = self.idle or rng.random() < 0.2
        self.origin = origin if rng.random() < 0.8 else "other"

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: str) -> bool:
        return origin == self.origin


class _StubRequest:
    def __init__(self, queued: bool, origin: str) -> None:
        self.queued = queued
        self.request = SimpleNamespace(url=SimpleNamespace(origin=origin))
        self.connection: _StubConnection | None = None

    def is_queued(self) -> bool:
        return self.queued

    def assign_to_connection(self, connection: _StubConnection) -> None:
        self.connection = connection


def _stub_pool(seed: int) -> SimpleNamespace:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    origin = "api"
    size = rng.randint(0, 40)
    created = iter(range(1000, 2000))
    fresh = random.Random(0)  # noqa: S311 - test data, not secrets
    return SimpleNamespace(
        _connections=[_StubConnection(i, rng, origin) for i in range(size)],
        _requests=[_StubRequest(rng.random() < 0.7, origin) for _ in range(rng.randint(0, 8))],
        _max_connections=rng.choice([1, 8, 32, 40]),
        _max_keepalive_connections=rng.choice([0, 4, 32, 40]),
        create_connection=lambda o: _StubConnection(next(created), fresh, o),
    )


def _outcome(pool: SimpleNamespace, closing: list[_StubConnection]) -> tuple[Any, ...]:
    return (
        [c.ident for c in pool._connections],
        [c.ident for c in closing],
        [r.connection.ident if r.connection else None for r in pool._requests],
    )


@pytest.mark.parametrize("seed", range(300))
def test_the_lean_pool_assigns_as_httpcore_does(seed: int) -> None:
    """Same connections kept and closed, same request on the same connection, in order."""
    theirs, ours = _stub_pool(seed), _stub_pool(seed)
    expected = httpcore.AsyncConnectionPool._assign_requests_to_connections(theirs)  # type: ignore[arg-type]
    got = _LeanPool._assign_requests_to_connections(ours)  # type: ignore[arg-type]
    assert _outcome(ours, got) == _outcome(theirs, expected)


def test_returnbot_requests_go_through_the_lean_pool() -> None:
    client = FormCachingRequest(connection_pool_size=4)._build_client()
    assert type(client._transport._pool) is _LeanPool  # type: ignore[attr-defined]
    proxy = httpx.AsyncHTTPTransport(proxy="http://127.0.0.1:9")
    assert lean_pool(httpx.AsyncClient(transport=proxy)) is False  # a proxy's pool: left alone
    assert type(proxy._pool) is httpcore.AsyncHTTPProxy


def test_a_kept_socket_reads_as_httpcore_reads_it() -> None:
    """Idle, data waiting, closed by the server: the wrapper says what the stream says."""
    from httpcore._backends.anyio import AnyIOBackend

    def until_readable(stream: Any) -> None:
        """Block until the kernel has the bytes or the FIN (a loopback hop, not a sleep)."""
        ready, _, _ = select.select([stream.get_extra_info("socket")], [], [], WAIT_TIMEOUT)
        assert ready, "nothing arrived on the loopback connection"

    async def scenario() -> list[tuple[bool, bool]]:
        accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

        async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accepted.put(writer)

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        backend = _SocketKeepingBackend(AnyIOBackend())
        kept = await backend.connect_tcp("127.0.0.1", port)
        assert isinstance(kept, _SocketKeepingStream)
        plain = kept._stream
        peer = await accepted.get()
        seen = [(kept.get_extra_info("is_readable"), plain.get_extra_info("is_readable"))]
        peer.write(b"x")
        await peer.drain()
        until_readable(plain)
        seen.append((kept.get_extra_info("is_readable"), plain.get_extra_info("is_readable")))
        assert await kept.read(1) == b"x"
        peer.close()
        await peer.wait_closed()  # the transport closes its socket on the loop's next turn
        until_readable(plain)
        seen.append((kept.get_extra_info("is_readable"), plain.get_extra_info("is_readable")))
        assert kept.get_extra_info("server_addr") == plain.get_extra_info("server_addr")
        await kept.aclose()
        server.close()
        await server.wait_closed()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [(False, False), (True, True), (True, True)]


def test_returnbot_pool_keeps_sockets() -> None:
    client = FormCachingRequest(connection_pool_size=4)._build_client()
    assert isinstance(client._transport._pool._network_backend, _SocketKeepingBackend)  # type: ignore[attr-defined]


def test_a_tls_stream_is_kept_too() -> None:
    """start_tls makes a new stream (TLS over the same socket): it is wrapped again."""

    class Plain:
        async def start_tls(self, *args: Any, **kwargs: Any) -> str:
            return "tls stream"

    async def upgrade() -> Any:
        return await _SocketKeepingStream(Plain()).start_tls(None)  # type: ignore[arg-type]

    upgraded = asyncio.run(upgrade())
    assert isinstance(upgraded, _SocketKeepingStream)
    assert upgraded._stream == "tls stream"
