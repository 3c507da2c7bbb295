"""PTB's HTTPXRequest, with the work that is the same for every reply done once.

Every Bot API call is sent as an `application/x-www-form-urlencoded` body, and httpx builds
it with `urllib.parse.urlencode`, which percent-encodes in a Python loop, byte by byte. A
reply's text and keyboard are a few kilobytes (Cyrillic is two bytes a letter, each
`%D0%BF`) and they repeat: entry answers are static. Encoding them took more CPU per reply
than everything else the reply path does besides matching, so the encoded form of each long
value is kept. The bytes sent are exactly those httpx would send (tests/test_request.py).

httpcore's connection pool (1.0.x), each time it assigns a request, builds a list of all its
connections once per idle connection (a check whose answer is the pool's length): with
PTB's pool of 32 that is about a thousand calls per request, a tenth of the bot's CPU under
load. `_LeanPool` is that pool with the same decisions taken in one pass. The same pass asks
each idle connection whether the server has closed it, and anyio looks the socket up anew
for every such question, building a dict of all a stream's attributes to read one:
`_SocketKeepingStream` keeps the socket it found.

Likewise, PTB hands httpx each method's URL as a string ("…/bot<token>/sendMessage"), which
httpx parses and validates again for every request; the parsed `httpx.URL` (immutable) is
kept per string.
"""

from __future__ import annotations

import select
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream
from telegram.request import HTTPXRequest

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_CACHED_MIN_LENGTH = 64  # shorter values (chat ids, parse modes) are cheap and too varied
_CACHE_MAX = 2048
_URLS_MAX = 256  # one per Bot API method used, in practice
_quoted: dict[str, str] = {}
_urls: dict[str, httpx.URL] = {}


def _quote_value(value: str) -> str:
    """quote_plus(value), remembered for long values (bounded: cleared when full)."""
    if len(value) < _CACHED_MIN_LENGTH:
        return quote_plus(value)
    quoted = _quoted.get(value)
    if quoted is None:
        if len(_quoted) >= _CACHE_MAX:
            _quoted.clear()
        quoted = _quoted[value] = quote_plus(value)
    return quoted


def form_body(data: Mapping[str, str]) -> bytes:
    """The body httpx sends for `data=` of plain strings (urlencode with doseq=True)."""
    return "&".join(
        [f"{quote_plus(key)}={_quote_value(value)}" for key, value in data.items()]
    ).encode("utf-8")


def parsed_url(url: str) -> httpx.URL:
    """httpx.URL(url), remembered (bounded: cleared when full)."""
    parsed = _urls.get(url)
    if parsed is None:
        if len(_urls) >= _URLS_MAX:
            _urls.clear()
        parsed = _urls[url] = httpx.URL(url)
    return parsed


class _LeanPool(httpcore.AsyncConnectionPool):
    """httpcore's AsyncConnectionPool, assigning requests in time linear in its size.

    The body is httpcore 1.0's `_assign_requests_to_connections` (BSD-3-Clause, Encode OSS
    Ltd.) with one change: `len([c.is_idle() for c in connections])`, which httpcore builds
    for every idle connection, is the number of connections, taken once per connection.
    tests/test_request.py checks both give the same pool and the same assignments.
    """

    def _assign_requests_to_connections(self) -> list[Any]:
        closing_connections = []
        connections = self._connections
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired() or (
                connection.is_idle() and len(connections) > self._max_keepalive_connections
            ):
                connections.remove(connection)
                closing_connections.append(connection)

        queued_requests = [request for request in self._requests if request.is_queued()]
        for pool_request in queued_requests:
            origin = pool_request.request.url.origin
            available_connections = [
                connection
                for connection in connections
                if connection.can_handle_request(origin) and connection.is_available()
            ]
            idle_connections = [connection for connection in connections if connection.is_idle()]
            if available_connections:
                pool_request.assign_to_connection(available_connections[0])
            elif len(connections) < self._max_connections:
                connection = self.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)
            elif idle_connections:
                connection = idle_connections[0]
                connections.remove(connection)
                closing_connections.append(connection)
                connection = self.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)

        return closing_connections


def _is_readable(sock: Any) -> bool:
    """As httpcore's is_socket_readable (its poll branch): a closed socket counts as readable."""
    fd = sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _SocketKeepingStream(AsyncNetworkStream):
    """A network stream that looks its socket up once, for httpcore's "is_readable" checks.

    Everything else goes to the stream it wraps; a stream's socket never changes (TLS makes a
    new stream, wrapped again here).
    """

    def __init__(self, stream: AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: Any = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's interface
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's interface
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> AsyncNetworkStream:
        return _SocketKeepingStream(await self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._stream.get_extra_info(info)
        if self._socket is None:
            self._socket = self._stream.get_extra_info("socket")
            if self._socket is None:  # not a plain socket stream: ask it every time
                return self._stream.get_extra_info(info)
        return _is_readable(self._socket)


class _SocketKeepingBackend(AsyncNetworkBackend):
    """The pool's network backend, its TCP streams wrapped in `_SocketKeepingStream`."""

    def __init__(self, backend: AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> AsyncNetworkStream:
        return _SocketKeepingStream(await self._backend.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> AsyncNetworkStream:
        return await self._backend.connect_unix_socket(*args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def lean_pool(client: httpx.AsyncClient) -> bool:
    """Make `client`'s plain httpcore 1.0 pool lean (see the module docstring); say if done.

    httpx keeps the pool in private attributes: anything else than what httpx 0.28 and
    httpcore 1.0 build is left as it is.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool or not httpcore.__version__.startswith(
        "1.0."
    ):
        return False
    pool.__class__ = _LeanPool
    pool._network_backend = _SocketKeepingBackend(pool._network_backend)
    return True


class _FormCachingClient(httpx.AsyncClient):
    """An AsyncClient that encodes plain-string forms with `form_body`, parses URLs once."""

    def build_request(  # type: ignore[override]
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        headers: Any = None,
        **kwargs: Any,
    ) -> httpx.Request:
        """Encode `data` here when httpx would url-encode it; anything else is left to httpx."""
        if isinstance(url, str):
            url = parsed_url(url)
        if (
            content is None
            and not files
            and kwargs.get("json") is None
            and isinstance(data, Mapping)
            and data
            and (headers is None or isinstance(headers, Mapping))
            and all(type(k) is str and type(v) is str for k, v in data.items())
        ):
            content = form_body(data)
            data = None
            headers = {**(headers or {}), "Content-Type": FORM_CONTENT_TYPE}
        return super().build_request(
            method, url, content=content, data=data, files=files, headers=headers, **kwargs
        )


class FormCachingRequest(HTTPXRequest):
    """HTTPXRequest whose client encodes repeated long form values and parses URLs once."""

    __slots__ = ()

    def _build_client(self) -> httpx.AsyncClient:
        client = _FormCachingClient(**self._client_kwargs)
        lean_pool(client)
        return client
