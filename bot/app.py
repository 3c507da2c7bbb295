"""The composition root: builds the python-telegram-bot Application and wires its lifecycle.

`build_application(settings, ...)` is the one place that knows about every piece: the
live knowledge base, storage, the systemd notifier, handlers and hooks. Tests point the
very same function at a fake Bot API through `settings.bot_api_url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, ReplyParameters, Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import JSONDict, ODVInput, TimePeriod
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    ExtBot,
)
from telegram.request import HTTPXRequest

from bot.answers import Answers
from bot.knowledge import LANGS
from bot.request import FormCachingRequest
from bot.runtime import Fingerprint, KnowledgeRuntime, ReloadResult
from bot.settings import Settings
from bot.storage import BackgroundStorage, Storage
from bot.systemd import SystemdNotifier
from bot.throttle import Throttle

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
]
WATCH_INTERVAL = 2.0  # seconds between checks of the knowledge folder
# httpcore's pool slows down as it grows (many idle connections are scanned per request);
# 32 updates at a time and 32 connections are plenty for Telegram's 30 messages a second.
CONCURRENT_UPDATES = 32
CONNECTION_POOL_SIZE = 32
_MAX_REMEMBERED_VOTES = 50_000
# Waits before sending a reply again after a 5xx or a connection failure: a Bot API that
# hiccups for a few seconds loses no answer, and a stop (TimeoutStopSec=15) is not held up.
SEND_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
# New container objects between two passes of the cyclic collector over its youngest
# generation (CPython's default is 700); see collect_young_less_often.
YOUNG_GC_THRESHOLD = 5000
DEFAULT_GC_THRESHOLD = gc.get_threshold()


class ReturnBot(ExtBot[int]):
    """PTB's ExtBot plus `send_text`: sendMessage without turning the answer into a Message.

    `send_message` parses every answer Telegram sends back (the whole message, its entities
    and its keyboard) into a `Message`: about 0.1 ms per reply, and no handler of this bot
    reads it. `send_text` goes through the same `Bot._post` as `send_message`, so Defaults,
    the rate limiter (and its retries after a 429) and the errors raised (Forbidden,
    BadRequest, RetryAfter, NetworkError...) are all unchanged; it just returns nothing.
    The keyboard comes as its JSON text, which PTB passes on as it is, so a keyboard shown a
    thousand times is serialized once (see handlers.replies.rendered).

    Callback data is sent as given: build this bot without arbitrary_callback_data.
    """

    __slots__ = ("_send_text_defaults",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._send_text_defaults = self._defaults_for_send_text()

    def _defaults_for_send_text(self) -> dict[str, object]:
        """What send_message takes from Defaults; the link preview options as JSON text."""
        defaults = self.defaults
        if defaults is None:
            return {}
        preview = defaults.link_preview_options
        fixed: dict[str, object] = {
            "parse_mode": defaults.parse_mode,
            "disable_notification": defaults.disable_notification,
            "protect_content": defaults.protect_content,
            "link_preview_options": None if preview is None else json.dumps(preview.to_dict()),
        }
        return {key: value for key, value in fixed.items() if value is not None}

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard_json: str | None = None,
        reply_parameters: ReplyParameters | None = None,
        message_thread_id: int | None = None,
    ) -> None:
        """Send a text message with the bot's Defaults; raise what send_message would.

        A failure that cannot have delivered the message (5xx, connection refused) is
        retried after each of SEND_RETRY_DELAYS; a flood wait is the rate limiter's job.
        """
        data: dict[str, object] = {"chat_id": chat_id, "text": text, **self._send_text_defaults}
        if message_thread_id is not None:
            data["message_thread_id"] = message_thread_id
        if keyboard_json is not None:
            data["reply_markup"] = keyboard_json
        if reply_parameters is not None:
            data["reply_parameters"] = reply_parameters
        for delay in (*SEND_RETRY_DELAYS, None):
            try:
                await self._post("sendMessage", data)
                return
            except (BadRequest, TimedOut):
                # Refused for good, or maybe delivered after all: a retry could only repeat.
                raise
            except NetworkError as exc:  # 5xx, connection refused or reset: nothing was sent
                if delay is None:
                    raise
                logger.warning(
                    "sending a reply failed (%s); retrying in %.2f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: TimePeriod | None = None,  # noqa: ASYNC109 - PTB's signature
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        """PTB's get_updates, except that an update it cannot read does not stall polling.

        PTB parses a batch in one go: a single update it cannot read (an emulator's odd
        shape, a Bot API newer than PTB) fails the whole batch, the updater never moves its
        offset past it and fetches the same batch again at once, forever, logging every
        update of the batch (user ids, names, texts) at CRITICAL each time. Here each update
        is read on its own; one that fails is logged by id only and stands as an empty
        Update, so the offset moves past it and the rest of the batch is served.
        """
        if isinstance(read_timeout, DefaultValue):
            base_timeout = self._request[0].read_timeout or 0  # PTB's own rule, as in super()
        else:
            base_timeout = read_timeout or 0
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout or 0
        data: JSONDict = {
            "timeout": timeout,
            "offset": offset,
            "limit": limit,
            "allowed_updates": allowed_updates,
        }
        result = await self._post(
            "getUpdates",
            data,
            read_timeout=base_timeout + seconds,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
            api_kwargs=api_kwargs,
        )
        updates = []
        for raw in result if isinstance(result, list) else ():
            update = _read_update(raw, self)
            if update is not None:
                self.insert_callback_data(update)
                updates.append(update)
        return tuple(updates)


def _read_update(raw: object, bot: ReturnBot) -> Update | None:
    """One update from getUpdates; unreadable becomes an empty Update, never an exception."""
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    try:
        update = Update.de_json(raw, bot)  # type: ignore[arg-type]
    except Exception as exc:  # any shape PTB chokes on; its content must not reach the log
        update = None
        logger.warning("skipped update %s: unreadable (%s)", update_id, type(exc).__name__)
    if update is not None:
        return update
    if isinstance(update_id, int) and not isinstance(update_id, bool):
        # Confirmed like any other update; no handler has anything to do with it.
        return Update(update_id)
    return None


@dataclass(frozen=True)
class Services:
    """The long-lived pieces every handler uses."""

    settings: Settings
    runtime: KnowledgeRuntime
    answers: Answers
    storage: BackgroundStorage


@dataclass
class BotData:
    """Shared state of the running bot, typed (PTB's `bot_data`); nothing here is persisted."""

    services: Services | None = None
    notifier: SystemdNotifier = field(default_factory=lambda: SystemdNotifier(None))
    throttle: Throttle = field(default_factory=lambda: Throttle(0))
    chat_langs: dict[int, str] = field(default_factory=dict)  # /lang choices, memory only
    voted: dict[tuple[int, int], None] = field(default_factory=dict)  # one vote per message
    last_reload: str = "never"
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop_requested: bool = False  # SIGTERM/SIGINT seen; see install_signal_handlers
    stop_deferred: bool = False  # ...while the updater started: _announce_ready carries it out

    def require(self) -> Services:
        """Return the services; they are always set by build_application."""
        if self.services is None:
            raise RuntimeError("the application was not built by build_application")
        return self.services

    def remember_vote(self, chat_id: int, message_id: int) -> bool:
        """Record a vote on one answer message; False if it already had one."""
        key = (chat_id, message_id)
        if key in self.voted:
            return False
        self.voted[key] = None
        if len(self.voted) > _MAX_REMEMBERED_VOTES:
            self.voted.pop(next(iter(self.voted)))
        return True


Context = ContextTypes.DEFAULT_TYPE


def bot_data(context: Context) -> BotData:
    """Return the typed shared state from a handler's context."""
    data = context.bot_data
    if not isinstance(data, BotData):  # pragma: no cover - wiring error
        raise TypeError("bot_data is not BotData; was the app built by build_application?")
    return data


def build_application(
    settings: Settings,
    *,
    runtime: KnowledgeRuntime | None = None,
    storage: Storage | None = None,
    notifier: SystemdNotifier | None = None,
) -> Application:  # type: ignore[type-arg]
    """Build the bot: PTB Application with defaults, rate limiter, handlers and hooks."""
    from handlers import register_handlers

    if settings.token is None:
        raise ValueError("build_application needs a token; without one, use the local chat")
    runtime = runtime or KnowledgeRuntime.load(settings.knowledge_dir)
    if storage is None:
        storage = Storage.open(
            settings.data_dir,
            retention_days=settings.gaps_retention_days,
            max_rows=settings.gaps_max_rows,
        )
    context_types = ContextTypes(bot_data=BotData)
    # The bot is built here rather than by ApplicationBuilder only to be a ReturnBot; the
    # requests are what the builder makes by default, with CONNECTION_POOL_SIZE connections,
    # except that repeated reply texts are percent-encoded and URLs parsed once (bot.request).
    bot = ReturnBot(
        settings.token.get_secret_value(),
        base_url=settings.bot_api_url,
        defaults=Defaults(
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        rate_limiter=AIORateLimiter(
            # 0 switches the overall limit off; the per-group limit always stays.
            overall_max_rate=settings.rate_limit,
            overall_time_period=1,
            max_retries=2,
        ),
        request=FormCachingRequest(connection_pool_size=CONNECTION_POOL_SIZE),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
    )
    builder = (
        ApplicationBuilder()
        .bot(bot)
        .context_types(context_types)
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    application = builder.build()
    data: BotData = application.bot_data
    writer = BackgroundStorage(storage)  # disk waits must never stall the event loop
    data.services = Services(settings, runtime, Answers(runtime, writer), writer)
    data.notifier = notifier or SystemdNotifier.from_environ()
    data.throttle = Throttle(settings.user_throttle)
    register_handlers(application)
    return application


def freeze_long_lived_objects() -> None:
    """Collect garbage once, then keep what is alive now out of later full collections.

    Why: what start-up builds (imported modules, PTB, the knowledge base and its index) lives
    as long as the bot, yet every full pass of the cyclic collector walks all of it: tens of
    milliseconds each, paid while serving. The first such pass after start-up is certain
    (start-up leaves the collector in debt), so it is paid here, before serving, and
    `gc.freeze` spares the later ones. Called again after a reload swaps the knowledge base,
    with `gc.unfreeze` first so a replaced one can still be collected (one full pass on the
    event loop per reload: tens of milliseconds).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def collect_young_less_often() -> None:
    """Let the collector's youngest generation grow to YOUNG_GC_THRESHOLD objects, not 700.

    Why: under load most young objects are the coroutines of the updates in flight (some
    3,000 with 32 at a time), and every pass over the young generation walks all of them
    again although they are not garbage: about 60 passes per 1,000 replies, ~0.7 ms each.
    Passes a seventh as often walk them a seventh as often; the garbage they find is the
    same, found a little later (bench_e2e measured ~38 instead of ~60 ms of collector CPU per
    1,000 replies; 20,000 was no better). post_shutdown restores the default.
    """
    gc.set_threshold(YOUNG_GC_THRESHOLD, *DEFAULT_GC_THRESHOLD[1:])


def status_line(data: BotData) -> str:
    """The one-line status systemd shows: what serves, and when it last reloaded."""
    kb = data.require().runtime.current.kb
    return (
        f"{kb.stats.entries} entries, knowledge {kb.version.content_hash}, "
        f"last reload: {data.last_reload}"
    )


def _serving(application: Application) -> bool:  # type: ignore[type-arg]
    """Whether updates flow: the application and its updater (polling or webhook) both run."""
    updater = application.updater
    return application.running and updater is not None and updater.running


def _spawn(application: Application, coro: Coroutine[Any, Any, None], name: str) -> None:  # type: ignore[type-arg]
    """Run a background task that post_stop cancels; it leaves the list once it is done.

    A task that dies of an unexpected exception is logged at once: otherwise the error would
    surface only when the task is garbage collected, if ever.
    """
    data: BotData = application.bot_data
    task = asyncio.get_running_loop().create_task(coro, name=name)
    data.tasks.append(task)

    def finished(done: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            data.tasks.remove(done)
        if not done.cancelled() and done.exception() is not None:
            logger.error("background task %s failed", name, exc_info=done.exception())

    task.add_done_callback(finished)


async def reload_knowledge(application: Application, reason: str) -> ReloadResult:  # type: ignore[type-arg]
    """Reload on the side (in a thread) and swap; tell systemd RELOADING then READY.

    systemd hears about the reload only once the bot has announced READY=1: during start-up a
    RELOADING=1 would be out of protocol and a READY=1 premature. Once RELOADING=1 is out,
    READY=1 follows even if the reload failed, or the unit would stay "reloading" for good;
    only a shutdown overtaking the reload ends it with STOPPING=1 instead.
    """
    data: BotData = application.bot_data
    notify = _serving(application)
    if notify:
        data.notifier.reloading()
    logger.info("knowledge reload requested (%s)", reason)
    try:
        result = await asyncio.to_thread(data.require().runtime.reload)
        if result.ok:  # a new snapshot replaced the old one
            freeze_long_lived_objects()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        data.last_reload = f"{stamp} ({'ok' if result.ok else 'rejected, old one kept'})"
    finally:
        # A shutdown may have overtaken (and cancelled) this reload: READY=1 would contradict it.
        overtaken = data.stop_requested or (notify and not _serving(application))
        if notify and not overtaken:
            data.notifier.ready(status_line(data))
        elif not overtaken:
            data.notifier.status(status_line(data))
    return result


async def _watch_knowledge(application: Application) -> None:  # type: ignore[type-arg]
    """Reload when knowledge files change, once they have been stable for one interval.

    An editor or `git pull` may still be writing when the first change shows, so the files
    must look the same on two checks in a row. A failed check is logged and retried: the
    watcher must not die quietly and leave the bot deaf to edits.
    """
    data: BotData = application.bot_data
    runtime = data.require().runtime
    seen: Fingerprint | None = None
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        try:
            current = await asyncio.to_thread(runtime.files_fingerprint)
            if current == runtime.loaded_fingerprint:
                seen = None
            elif current != seen:
                seen = current  # changed, or still changing: look again next interval
            else:
                seen = None
                await reload_knowledge(application, "knowledge files changed")
        except Exception:
            logger.exception("knowledge file watcher: check failed; trying again")


async def _announce_ready(application: Application) -> None:  # type: ignore[type-arg]
    """Send READY=1 once polling (or the webhook) really runs, or carry out a deferred stop."""
    data: BotData = application.bot_data
    # PTB has no "polling started" hook; poll its public flags briefly after post_init.
    while not _serving(application):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if data.stop_deferred:
        # A stop signal arrived while the updater was starting (see install_signal_handlers).
        asyncio.get_running_loop().call_soon(_raise_system_exit)
        return
    if data.stop_requested:
        # The stop was raised at once and run_polling is shutting down: nothing to announce,
        # and a second SystemExit would escape its shutdown (see install_signal_handlers).
        return
    data.notifier.ready(status_line(data))
    logger.info("returnbot is ready")
    _watch_polling(application)


# PTB's name for the task that long-polls getUpdates (pinned by test_run_process).
_POLLING_TASK = "Updater:start_polling:polling_task"


def _watch_polling(application: Application) -> None:  # type: ignore[type-arg]
    """Stop the bot when long polling gives up on its own: a token revoked while running.

    PTB retries network errors forever but ends polling on a rejected token, and the bot
    would then run on deaf, pinging the watchdog. Stopping instead puts the reason in the
    journal and lets systemd restart the bot (and pick up a fixed token). Updater.stop then
    re-raises the polling error, which run_bot reports.
    """
    task = next((t for t in asyncio.all_tasks() if t.get_name() == _POLLING_TASK), None)
    if task is None:
        return  # webhook mode
    data: BotData = application.bot_data

    def polling_ended(task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None or data.stop_requested:
            return  # a normal stop
        data.stop_requested = True
        data.notifier.stopping()
        _raise_system_exit()

    task.add_done_callback(polling_ended)


def _raise_system_exit() -> None:
    """End run_polling the way PTB's own stop signals do (see install_signal_handlers)."""
    raise SystemExit(0)


def install_signal_handlers(application: Application, loop: asyncio.AbstractEventLoop) -> None:  # type: ignore[type-arg]
    """SIGHUP reloads the knowledge base; SIGTERM and SIGINT stop gracefully.

    run_bot installs them before start-up begins, so that a signal in the first second is
    neither fatal (SIGHUP's default action kills the process) nor lost (PTB's stop_running
    does nothing between post_init and the start of polling). _post_init installs them again,
    replacing them with identical ones, so applications started without run_bot get them too.

    A stop sends STOPPING=1, then raises SystemExit like PTB's own stop signals: run_polling
    catches it in any phase, stops the updater, finishes updates in flight and runs the stop
    and shutdown hooks. The one phase where that is unsafe is while the updater starts (PTB
    would close its coroutine in the middle of an HTTP request); then _announce_ready raises
    it as soon as the bot runs. A second stop signal is logged and ignored.

    Each stop raises SystemExit exactly once: run_polling runs its shutdown (updater.stop,
    stop, post_stop, shutdown, post_shutdown) in a `finally`, and a second SystemExit raised
    while that runs escapes it: updates in flight are dropped, the hooks never run, and
    storage is never closed, so statistics still queued for the disk are lost.
    """
    data: BotData = application.bot_data

    def request_reload() -> None:
        _spawn(application, reload_knowledge(application, "SIGHUP"), "reload on SIGHUP")

    def request_stop(signum: int) -> None:
        if data.stop_requested:
            logger.info("%s received again; already stopping", signal.Signals(signum).name)
            return
        data.stop_requested = True
        data.notifier.stopping()
        logger.info("stop signal received; finishing updates in flight")
        updater = application.updater
        if application.running or updater is None or not updater.running:
            _raise_system_exit()
        else:
            data.stop_deferred = True

    loop.add_signal_handler(signal.SIGHUP, request_reload)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, request_stop, stop_signal)


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    """Register commands, install signal handlers and start background tasks."""
    data: BotData = application.bot_data
    ui = data.require().runtime.current.kb.ui
    names = ("start", "help", "topics", "sources", "lang")
    for lang in LANGS:
        commands = [BotCommand(name, ui.text(f"cmd_{name}", lang)) for name in names]
        await application.bot.set_my_commands(
            commands, language_code=None if lang == "en" else lang
        )
    install_signal_handlers(application, asyncio.get_running_loop())
    _spawn(application, data.notifier.run_watchdog(), "watchdog")
    _spawn(application, _announce_ready(application), "announce ready")
    if data.require().settings.watch_knowledge:
        _spawn(application, _watch_knowledge(application), "knowledge file watcher")
    freeze_long_lived_objects()
    collect_young_less_often()


async def _cancel_background_tasks(data: BotData) -> None:
    """Cancel and await every background task; one that had failed must not stop the rest."""
    tasks = list(data.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    data.tasks.clear()


async def _post_stop(application: Application) -> None:  # type: ignore[type-arg]
    """Stop background tasks once updates in flight are done."""
    data: BotData = application.bot_data
    data.notifier.stopping()
    await _cancel_background_tasks(data)


async def _post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    """Stop what post_stop did not (a stop during start-up skips it); close storage last."""
    data: BotData = application.bot_data
    await _cancel_background_tasks(data)
    if data.services is not None:
        data.services.storage.close()
    # Thaw what start-up froze and collect it now: a process that goes on (tests, a benchmark
    # that runs another bot next) must not inherit this bot's frozen objects or its debt.
    gc.unfreeze()
    gc.collect()
    gc.set_threshold(*DEFAULT_GC_THRESHOLD)
    logger.info("returnbot stopped")


def run_bot(
    settings: Settings,
    runtime: KnowledgeRuntime | None = None,
    *,
    reload_requested: threading.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT: long polling by default, a webhook when configured.

    Returns the process exit code. Failures end up in the log, never as a bare traceback on
    stderr: PTB puts the token into some exception messages (a rejected token, for one), and
    only the log handler redacts it.

    Args:
        settings: The bot's settings.
        runtime: The knowledge base, if already loaded (the CLI loads it to report errors).
        reload_requested: Set by the caller's own SIGHUP handler if a SIGHUP arrived before
            this function took over; the reload is then done as soon as the loop runs.
    """
    application = build_application(settings, runtime=runtime)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # run_polling uses the current loop
    install_signal_handlers(application, loop)
    if reload_requested is not None and reload_requested.is_set():
        loop.call_soon(
            lambda: _spawn(
                application, reload_knowledge(application, "SIGHUP at start-up"), "early reload"
            )
        )
    try:
        if settings.webhook_url:
            host, _, port = settings.webhook_listen.rpartition(":")
            application.run_webhook(
                listen=host or "127.0.0.1",
                port=int(port),
                url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=(
                    settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
                ),
                allowed_updates=ALLOWED_UPDATES,
                stop_signals=None,  # ours, installed above
                close_loop=False,
            )
        else:
            application.run_polling(
                allowed_updates=ALLOWED_UPDATES,
                stop_signals=None,  # ours, installed above
                close_loop=False,
            )
    except InvalidToken:
        logger.error("Telegram rejected the bot token (revoked or mistyped?); not running")
        return 2
    except NetworkError as exc:
        logger.error("the Telegram Bot API failed or refused a request (%s); exiting", exc)
        return 1
    except Exception:
        logger.exception("returnbot failed")
        return 1
    finally:
        _close_loop(loop)
        if application.bot_data.services is not None:
            # A polling error re-raised by Updater.stop skips PTB's shutdown hooks.
            application.bot_data.services.storage.close()
    return 0


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remove our signal handlers and close the loop as asyncio.run would, tasks included."""
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())  # e.g. a reload in a thread
    finally:
        asyncio.set_event_loop(None)
        loop.close()
