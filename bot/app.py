"""The composition root: builds the python-telegram-bot Application and wires its lifecycle.

`build_application(settings, ...)` is the one place that knows about every piece: the
live knowledge base, storage, the systemd notifier, handlers and hooks. Tests point the
very same function at a fake Bot API through `settings.bot_api_url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

from bot.answers import Answers
from bot.knowledge import LANGS
from bot.runtime import KnowledgeRuntime, ReloadResult
from bot.settings import Settings
from bot.storage import Storage
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
_MAX_REMEMBERED_VOTES = 50_000


@dataclass(frozen=True)
class Services:
    """The long-lived pieces every handler uses."""

    settings: Settings
    runtime: KnowledgeRuntime
    answers: Answers
    storage: Storage


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
    builder = (
        ApplicationBuilder()
        .token(settings.token.get_secret_value())
        .base_url(settings.bot_api_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(
            AIORateLimiter(
                # 0 switches the overall limit off; the per-group limit always stays.
                overall_max_rate=settings.rate_limit,
                overall_time_period=1,
                max_retries=2,
            )
        )
        .context_types(context_types)
        .concurrent_updates(True)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    application = builder.build()
    data: BotData = application.bot_data
    data.services = Services(settings, runtime, Answers(runtime, storage), storage)
    data.notifier = notifier or SystemdNotifier.from_environ()
    data.throttle = Throttle(settings.user_throttle)
    register_handlers(application)
    return application


def status_line(data: BotData) -> str:
    """The one-line status systemd shows: what serves, and when it last reloaded."""
    kb = data.require().runtime.current.kb
    return (
        f"{kb.stats.entries} entries, knowledge {kb.version.content_hash}, "
        f"last reload: {data.last_reload}"
    )


async def reload_knowledge(application: Application, reason: str) -> ReloadResult:  # type: ignore[type-arg]
    """Reload on the side (in a thread) and swap; tell systemd RELOADING then READY."""
    data: BotData = application.bot_data
    data.notifier.reloading()
    logger.info("knowledge reload requested (%s)", reason)
    result = await asyncio.to_thread(data.require().runtime.reload)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    data.last_reload = f"{stamp} ({'ok' if result.ok else 'rejected, old one kept'})"
    data.notifier.ready(status_line(data))
    return result


async def _watch_knowledge(application: Application) -> None:  # type: ignore[type-arg]
    """Reload when knowledge files change, once they have been stable for one interval."""
    data: BotData = application.bot_data
    pending = False
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        changed = await asyncio.to_thread(data.require().runtime.files_changed)
        if changed and not pending:
            pending = True  # debounce: an editor may still be writing
            continue
        if pending:
            pending = False
            if changed:
                await reload_knowledge(application, "knowledge files changed")


async def _announce_ready(application: Application) -> None:  # type: ignore[type-arg]
    """Send READY=1 once polling (or the webhook) really runs."""
    data: BotData = application.bot_data
    updater = application.updater
    # PTB has no "polling started" hook; poll its public flags briefly after post_init.
    while not (application.running and updater is not None and updater.running):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    data.notifier.ready(status_line(data))
    logger.info("returnbot is ready")


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
    loop = asyncio.get_running_loop()

    def request_reload() -> None:
        task = loop.create_task(reload_knowledge(application, "SIGHUP"))
        data.tasks.append(task)

    def request_stop() -> None:
        data.notifier.stopping()
        logger.info("stop signal received; finishing updates in flight")
        application.stop_running()

    loop.add_signal_handler(signal.SIGHUP, request_reload)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, request_stop)
    data.tasks.append(loop.create_task(data.notifier.run_watchdog()))
    data.tasks.append(loop.create_task(_announce_ready(application)))
    if data.require().settings.watch_knowledge:
        data.tasks.append(loop.create_task(_watch_knowledge(application)))


async def _post_stop(application: Application) -> None:  # type: ignore[type-arg]
    """Stop background tasks once updates in flight are done."""
    data: BotData = application.bot_data
    data.notifier.stopping()
    for task in data.tasks:
        task.cancel()
    for task in data.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    data.tasks.clear()


async def _post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    """Flush and close storage last."""
    data: BotData = application.bot_data
    if data.services is not None:
        data.services.storage.close()
    logger.info("returnbot stopped")


def run_bot(settings: Settings, runtime: KnowledgeRuntime | None = None) -> int:
    """Run until SIGTERM/SIGINT: long polling by default, a webhook when configured."""
    application = build_application(settings, runtime=runtime)
    if settings.webhook_url:
        host, _, port = settings.webhook_listen.rpartition(":")
        application.run_webhook(
            listen=host or "127.0.0.1",
            port=int(port),
            webhook_url=settings.webhook_url,
            secret_token=(
                settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            ),
            allowed_updates=ALLOWED_UPDATES,
            stop_signals=None,
            close_loop=False,
        )
    else:
        application.run_polling(
            allowed_updates=ALLOWED_UPDATES,
            stop_signals=None,  # our own handlers send STOPPING=1 first (see _post_init)
            close_loop=False,
        )
    return 0
