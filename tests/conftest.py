"""Shared fixtures: a fake Bot API on 127.0.0.1, settings for tests, and a running bot.

The running bot is the production `build_application()` pointed at the fake and driven the
way `Application.run_polling` drives it (initialize, post_init, start polling, start; then
the reverse), on an event loop in a worker thread. Tests stay synchronous: they queue
updates with `fake.send_text(...)` and block on `fake.wait_for(...)`, while the bot answers
on its own loop. Only public PTB API is used.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakes.bot_api import FakeBotAPI
from pydantic import SecretStr
from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.app import ALLOWED_UPDATES, BotData, Services, build_application
from bot.knowledge.paths import default_knowledge_dir
from bot.settings import Settings
from bot.systemd import SystemdNotifier

T = TypeVar("T")

# Shaped like a real token, so Settings accepts it and the log redaction has to work for it.
TOKEN = "123456:" + "A" * 35
STARTUP_TIMEOUT = 15.0  # a safety net against hangs, never a timing assertion
WAIT_TIMEOUT = 10.0
# A handler group after every production one: PTB runs groups in order for each update, so a
# handler here sees the update only once the bot's own handling (and error handler) is done.
_HANDLED_GROUP = 1_000


def _checked_fake() -> Iterator[FakeBotAPI]:
    """A started fake Bot API that accepts TOKEN; fails the test if the fake itself broke."""
    with FakeBotAPI(token=TOKEN) as fake:
        yield fake
    assert fake.server_errors == []


@pytest.fixture
def fake_api() -> Iterator[FakeBotAPI]:
    """One fake for one test."""
    yield from _checked_fake()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotAPI]:
    """One fake for a whole test module, whose tests share one running bot on it."""
    yield from _checked_fake()


def make_settings(fake: FakeBotAPI, data_dir: Path | None, **overrides: Any) -> Settings:
    """Settings for a bot talking to `fake`: the shipped knowledge, no watcher, no limits.

    Built directly (not with load_settings) so the environment of the test run can't leak in.
    """
    values: dict[str, Any] = {
        "token": SecretStr(fake.token),
        "bot_api_url": fake.base_url,
        "knowledge_dir": default_knowledge_dir(),
        "data_dir": data_dir,
        "admin_ids": frozenset(),
        "watch_knowledge": False,
        "rate_limit": 0,
        "user_throttle": 0,
    }
    values.update(overrides)
    return Settings(**values)


# Loggers configure_logging sets levels on; restored after tests that call it.
_CONFIGURED_LOGGERS = ("httpx", "httpcore", "telegram", "apscheduler", "asyncio")


@pytest.fixture
def restore_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Let a test call configure_logging: afterwards, root and capped loggers are as before.

    configure_logging replaces every root handler. The ones pytest installs for each test
    phase (caplog's kind) come back with the next phase by themselves; all others are put
    back, and the handler configure_logging made is closed.
    """
    per_phase = type(caplog.handler)
    root = logging.getLogger()
    handlers = [h for h in root.handlers if not isinstance(h, per_phase)]
    level = root.level
    levels = {name: logging.getLogger(name).level for name in _CONFIGURED_LOGGERS}
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if not isinstance(h, per_phase)]:
            root.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)


@pytest.fixture(scope="session")
def settings_factory() -> Callable[..., Settings]:
    """`settings_factory(fake, data_dir, **overrides)`: see make_settings."""
    return make_settings


class SignalRecordingLoop(asyncio.SelectorEventLoop):
    """An event loop for a worker thread that records signal handlers instead of installing them.

    Only the main thread can receive signals, so `loop.add_signal_handler` would refuse to
    work here. The bot's post_init still registers its handlers, and tests can see them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signal_handlers: dict[int, tuple[Callable[..., object], tuple[Any, ...]]] = {}

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        self.signal_handlers[sig] = (callback, args)

    def remove_signal_handler(self, sig: int) -> bool:
        return self.signal_handlers.pop(sig, None) is not None


class RunningBot:
    """The production application, running against a fake Bot API in a worker thread.

    One addition, for tests only: an observer in a handler group after the production ones
    records which updates the bot has finished with, so a test can wait for "handled" and
    then assert that the bot did *not* reply, without sleeping.
    """

    def __init__(self, settings: Settings, fake: FakeBotAPI) -> None:
        self.settings = settings
        self.fake = fake
        self.app: Application = build_application(settings, notifier=SystemdNotifier(None))  # type: ignore[type-arg]
        self.app.add_handler(TypeHandler(Update, self._record_handled), group=_HANDLED_GROUP)
        self._handled: set[int] = set()
        self._handled_cond = threading.Condition()
        self.loop = SignalRecordingLoop()
        self._thread = threading.Thread(target=self._run, name="returnbot-under-test")
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def data(self) -> BotData:
        """The typed bot_data of the running application."""
        data = self.app.bot_data
        assert isinstance(data, BotData)
        return data

    @property
    def services(self) -> Services:
        """Runtime, answers, storage and settings of the running application."""
        return self.data.require()

    def start(self) -> RunningBot:
        """Start the bot and return once it polls; raise whatever stopped it from starting."""
        self._thread.start()
        if not self._started.wait(STARTUP_TIMEOUT):
            raise TimeoutError("the bot did not start")
        if self._error is not None:
            self._thread.join(STARTUP_TIMEOUT)
            error, self._error = self._error, None  # reported here, not again by stop()
            raise RuntimeError("the bot failed to start") from error
        return self

    def stop(self) -> None:
        """Stop and shut down like run_polling does, then close the loop; re-raise failures."""
        if self._thread.is_alive() and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTUP_TIMEOUT)
        if self._thread.is_alive():
            raise TimeoutError("the bot did not stop")
        if self._error is not None:
            raise RuntimeError("the bot failed while running or stopping") from self._error

    def wait_handled(self, update: dict[str, Any], timeout: float = WAIT_TIMEOUT) -> None:
        """Block until the bot has finished with an update queued by the fake (any outcome)."""
        update_id = update["update_id"]
        with self._handled_cond:
            if not self._handled_cond.wait_for(lambda: update_id in self._handled, timeout):
                raise TimeoutError(f"update {update_id} was not handled within {timeout}s")

    async def _record_handled(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        with self._handled_cond:
            self._handled.add(update.update_id)
            self._handled_cond.notify_all()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the bot's loop (e.g. to touch PTB objects) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(STARTUP_TIMEOUT)

    def __enter__(self) -> RunningBot:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # handed to the test thread by start()/stop()
            self._error = exc
        finally:
            self._started.set()
            self._close_loop()

    def _close_loop(self) -> None:
        """Close the loop as asyncio.run does: cancel leftovers, finish generators, executor."""
        loop = self.loop
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        except BaseException as exc:
            self._error = self._error or exc
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    async def _main(self) -> None:
        app = self.app
        self._stop = asyncio.Event()
        await app.initialize()
        try:
            if app.post_init:
                await app.post_init(app)
            assert app.updater is not None
            await app.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, poll_interval=0, timeout=1
            )
            await app.start()
            self._started.set()
            await self._stop.wait()
            await app.updater.stop()
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
        finally:
            for sig in list(self.loop.signal_handlers):
                self.loop.remove_signal_handler(sig)
            await app.shutdown()
            if app.post_shutdown:
                await app.post_shutdown(app)


@pytest.fixture(scope="session")
def bot_factory() -> type[RunningBot]:
    """The RunningBot class, for module-scoped bots: `with bot_factory(settings, fake) as bot`."""
    return RunningBot


@pytest.fixture
def start_bot() -> Iterator[Callable[..., RunningBot]]:
    """`start_bot(settings, fake)`: a started RunningBot, stopped when the test ends."""
    bots: list[RunningBot] = []

    def start(settings: Settings, fake: FakeBotAPI) -> RunningBot:
        bot = RunningBot(settings, fake)
        bots.append(bot)
        return bot.start()

    yield start
    for bot in reversed(bots):
        bot.stop()


@pytest.fixture
def bot(fake_api: FakeBotAPI, tmp_path: Path, start_bot: Callable[..., RunningBot]) -> RunningBot:
    """A fresh bot with default test settings and storage in tmp_path."""
    return start_bot(make_settings(fake_api, tmp_path), fake_api)
