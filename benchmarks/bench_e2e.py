"""End-to-end benchmark: replies per second and reply latency through the fake Bot API.

Run by hand from the repository root (never by the test suite; nothing here asserts a time):

    .venv/bin/python -m benchmarks.bench_e2e                      # 200 users x 5 questions
    .venv/bin/python -m benchmarks.bench_e2e --users 50 --questions 2 --rounds 1 --mode inproc

Two bots answer the same simulated users, in the same run, each against its own fresh fake:

* **returnbot**: the production `build_application(settings)` (rate_limit=0 so the overall
  flood limit is off, watch_knowledge=False, SQLite storage in a temporary directory,
  `SystemdNotifier(None)`), started the way `run_polling` starts it (post_init included);
* **echo**: a minimal PTB bot, same base_url, same `concurrent_updates`, same AIORateLimiter
  with the overall rate off, one MessageHandler that sends a fixed text: the baseline of
  what PTB plus the fake can do at all.

Users are closed-loop: each of `--users` private chats asks a question, waits for the reply,
then asks the next one, `--questions` times (questions come from tests/eval). Before the
measured phase every user asks one warm-up question in a separate chat (connections open,
caches fill); it is not counted. Latency is the time from just before the update is queued in
the fake (`send_text`) to the moment the fake records the bot's sendMessage to that chat,
stamped in the fake's own recording hook before it answers the request.

`--mode`: `process` runs the fake (and the simulated users) in a separate process, as
Telegram is a separate machine, so the bot gets its own interpreter lock; `inproc` runs the
fake's threads inside the bot's process (as the test suite does), where the fake competes with
the bot for the one interpreter lock. `both` (the default) runs each, which also shows how
much the in-process fake itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import math
import multiprocessing
import os
import platform
import pstats
import queue
import random
import signal
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bot`, `handlers` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot.app import ALLOWED_UPDATES, build_application
from bot.knowledge import default_knowledge_dir
from bot.request import FormCachingRequest
from bot.settings import Settings
from bot.systemd import SystemdNotifier
from tests.fakes.bot_api import FakeBotAPI, JSONDict

REPO = Path(__file__).resolve().parent.parent
EVAL_FILES = (REPO / "tests" / "eval" / "dev.yaml", REPO / "tests" / "eval" / "test.yaml")
# Settings insist on a real-looking token; the fake accepts whatever it was started with.
TOKEN = "123456789:" + "BenchmarkToken" * 3
ECHO_TEXT = "Thanks, noted."
RICH_QUESTION = "why are russians who left coming back?"  # echo-rich sends returnbot's answer
FIRST_USER_ID = 10_000_000  # measured users; warm-up chats are offset by WARMUP_OFFSET
WARMUP_OFFSET = 5_000_000
TARGET_RATIO = 0.85

Question = tuple[str, str]  # (text, the sender's Telegram language_code)
Plan = dict[int, list[Question]]  # chat id -> the questions that user asks, in order


# --------------------------------------------------------------------------------------------
# The fake, with a timestamp per reply


class TimedFakeBotAPI(FakeBotAPI):
    """The test fake, plus a queue of (chat id, time, ok) per sendMessage it records."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.replies: queue.SimpleQueue[tuple[int, float, bool]] = queue.SimpleQueue()

    def _record(self, method: str, params: JSONDict, status: int, payload: JSONDict) -> None:
        if method == "sendMessage":
            stamp = time.perf_counter()
            try:
                chat = int(params.get("chat_id", 0))
            except (TypeError, ValueError):
                chat = 0
            self.replies.put((chat, stamp, status == 200))
        super()._record(method, params, status, payload)


# --------------------------------------------------------------------------------------------
# Simulated users


@dataclass
class DriveResult:
    """What the users saw in one phase."""

    replies: int = 0
    expected: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0  # sendMessage answered with an error by the fake
    extra: int = 0  # a message to a chat that had no question waiting (e.g. a 2nd chunk)
    driver_cpu_s: float = 0.0


def drive(fake: TimedFakeBotAPI, plan: Plan, timeout: float) -> DriveResult:
    """Closed loop: each chat asks, waits for the bot's message, asks the next question."""
    cpu_started = time.thread_time()
    result = DriveResult(expected=sum(len(qs) for qs in plan.values()))
    todo = {chat: list(reversed(questions)) for chat, questions in plan.items() if questions}
    waiting: dict[int, float] = {}

    def ask(chat: int) -> None:
        text, lang = todo[chat].pop()
        waiting[chat] = time.perf_counter()
        fake.send_text(text, user={"id": chat}, language_code=lang)

    started = time.perf_counter()
    last = started
    deadline = started + timeout
    for chat in todo:
        ask(chat)
    while result.replies < result.expected:
        try:
            chat, stamp, ok = fake.replies.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            break
        asked = waiting.pop(chat, None)
        if asked is None:
            result.extra += 1
            continue
        result.latencies_ms.append((stamp - asked) * 1000)
        result.failed += not ok
        result.replies += 1
        last = stamp
        if todo[chat]:
            ask(chat)
    result.elapsed_s = last - started
    result.driver_cpu_s = time.thread_time() - cpu_started
    return result


def make_plans(users: int, questions: int, seed: int) -> tuple[Plan, Plan]:
    """Deterministic questions from the evaluation sets: (warm-up plan, measured plan)."""
    import yaml

    pool: list[Question] = []
    for path in EVAL_FILES:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            text = str(item["q"]).strip()
            if text and not text.startswith("/"):  # questions only, no commands
                pool.append((text, str(item.get("lang", "en"))))
    rng = random.Random(seed)
    measured = {FIRST_USER_ID + u: rng.sample(pool, questions) for u in range(users)}
    warmup = {chat + WARMUP_OFFSET: [rng.choice(pool)] for chat in measured}
    return warmup, measured


# --------------------------------------------------------------------------------------------
# The two bots


def returnbot_settings(
    base_url: str, data_dir: Path, knowledge_dir: Path, questions: int
) -> Settings:
    return Settings(
        token=TOKEN,
        bot_api_url=base_url,
        knowledge_dir=knowledge_dir,
        data_dir=data_dir,
        rate_limit=0,
        watch_knowledge=False,
        # The production per-user throttle (20 a minute) stays on unless a user asks more.
        user_throttle=20 if questions < 20 else 0,
        log_level="WARNING",
    )


def build_returnbot(base_url: str, data_dir: Path, args: argparse.Namespace) -> Application:  # type: ignore[type-arg]
    settings = returnbot_settings(base_url, data_dir, Path(args.knowledge_dir), args.questions)
    return build_application(settings, notifier=SystemdNotifier(None))


@dataclass(frozen=True)
class HttpSettings:
    """What the echo baseline copies from returnbot, so both differ only in their handlers."""

    concurrent_updates: int
    pool_size: int | None  # None: PTB's default
    pool_timeout: float | None


def returnbot_http_settings(args: argparse.Namespace) -> HttpSettings:
    """Read concurrent_updates and the HTTP pool of the application returnbot builds."""
    with tempfile.TemporaryDirectory(prefix="returnbot-bench-") as tmp:
        app = build_returnbot("http://127.0.0.1:9/bot", Path(tmp), args)
        try:
            # PTB exposes the request object but not its pool limits; read them best effort.
            kwargs = getattr(app.bot.request, "_client_kwargs", {})
            limits, timeout = kwargs.get("limits"), kwargs.get("timeout")
            return HttpSettings(
                app.concurrent_updates,
                getattr(limits, "max_connections", None),
                getattr(timeout, "pool", None),
            )
        finally:
            app.bot_data.require().storage.close()


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, ECHO_TEXT)


def _baseline_app(
    base_url: str,
    http: HttpSettings,
    handler: Any,
    defaults: Defaults | None = None,
    *,
    lean: bool = False,
) -> Application:  # type: ignore[type-arg]
    """A minimal PTB bot with returnbot's concurrency, pool and rate limiter, one handler.

    `lean`: with returnbot's own HTTP layer (bot.request) instead of PTB's default one.
    """
    builder = ApplicationBuilder().token(TOKEN).base_url(base_url)
    if defaults is not None:
        builder = builder.defaults(defaults)
    builder = builder.rate_limiter(
        AIORateLimiter(overall_max_rate=0, overall_time_period=1, max_retries=2)
    ).concurrent_updates(http.concurrent_updates)
    if lean:
        pool = {"connection_pool_size": http.pool_size} if http.pool_size is not None else {}
        timeout = {"pool_timeout": http.pool_timeout} if http.pool_timeout is not None else {}
        builder = builder.request(FormCachingRequest(**pool, **timeout))
    else:
        if http.pool_size is not None:
            builder = builder.connection_pool_size(http.pool_size)
        if http.pool_timeout is not None:
            builder = builder.pool_timeout(http.pool_timeout)
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, handler))
    return app


def build_echo(base_url: str, http: HttpSettings, *, lean: bool = False) -> Application:  # type: ignore[type-arg]
    return _baseline_app(base_url, http, _echo, lean=lean)


async def start_app(app: Application) -> None:  # type: ignore[type-arg]
    """Start like run_polling does: initialize, post_init, polling, start."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
        # returnbot's post_init installs SIGTERM/SIGINT/SIGHUP handlers meant for run_polling;
        # give Ctrl-C back its default meaning for the benchmark.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    assert app.updater is not None
    await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, timeout=1)
    await app.start()


async def stop_app(app: Application) -> None:  # type: ignore[type-arg]
    """Stop like run_polling does, hooks included (storage is closed in post_shutdown)."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if app.post_stop is not None:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


def typical_reply(args: argparse.Namespace) -> tuple[str, InlineKeyboardMarkup | None]:
    """Returnbot's HTML and keyboard for one typical answered question (for echo-rich)."""
    from bot.answers import Answers
    from bot.render import to_html
    from bot.runtime import KnowledgeRuntime
    from handlers.replies import keyboard

    runtime = KnowledgeRuntime.load(Path(args.knowledge_dir))
    reply = Answers(runtime, None).ask(RICH_QUESTION, hint="en", record=False)
    return to_html(reply)[0], keyboard(reply)


def build_echo_rich(base_url: str, http: HttpSettings, args: argparse.Namespace) -> Application:  # type: ignore[type-arg]
    """The echo bot, sending returnbot's payload: HTML via the same Defaults, same keyboard."""
    text, markup = typical_reply(args)

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup)

    defaults = Defaults(
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
    )
    return _baseline_app(base_url, http, reply, defaults)


def build_bot(
    kind: str, base_url: str, data_dir: Path, args: argparse.Namespace, http: HttpSettings
) -> Application:  # type: ignore[type-arg]
    if kind == "returnbot":
        return build_returnbot(base_url, data_dir, args)
    if kind == "echo-rich":
        return build_echo_rich(base_url, http, args)
    if kind == "echo-lean":
        return build_echo(base_url, http, lean=True)
    return build_echo(base_url, http)


# --------------------------------------------------------------------------------------------
# One run: a bot, a fresh fake, warm-up then the measured phase


@dataclass
class RunResult:
    bot: str
    mode: str
    round: int
    drive: DriveResult
    # process mode: the bot's whole process (event loop + storage writer) / the fake's process
    # inproc mode: the event-loop thread / every other thread (the fake, the storage writer);
    # the simulated users are excluded from both.
    bot_cpu_s: float
    fake_cpu_s: float
    server_errors: int
    profile: str = ""
    gc: str = ""  # cyclic collections in the bot's process during the measured phase

    @property
    def rate(self) -> float:
        return self.drive.replies / self.drive.elapsed_s if self.drive.elapsed_s > 0 else 0.0


class GcWatch:
    """Count and time the cyclic collector's passes per generation while entered.

    A full pass walks every tracked object in the process (tens of ms): one in the measured
    phase of one bot and not the other moves their ratio by several per cent. Timed in CPU
    time of the collecting thread, which other work on a busy machine inflates less than
    wall time.
    """

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.ms = [0.0, 0.0, 0.0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            generation = info["generation"]
            self.count[generation] += 1
            self.ms[generation] += (time.thread_time() - self._started) * 1000

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        return ", ".join(
            f"gen{g} {self.count[g]}x {self.ms[g]:.1f} ms CPU" for g in range(len(self.count))
        )


def _profile_text(profiler: cProfile.Profile, top: int) -> str:
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    return "\n".join(lines[-(top + 1) :])


def run_inproc(
    kind: str, rnd: int, args: argparse.Namespace, plans: tuple[Plan, Plan], http: HttpSettings
) -> RunResult:
    """The fake's server threads share this process (and its interpreter lock) with the bot."""
    warmup, measured = plans

    async def scenario(fake: TimedFakeBotAPI, app: Application) -> RunResult:  # type: ignore[type-arg]
        await start_app(app)
        try:
            await fake.wait_for_poller_async(timeout=30)
            await asyncio.to_thread(drive, fake, warmup, args.timeout)
            profiler = cProfile.Profile() if args.profile else None
            process0, thread0 = time.process_time(), time.thread_time()
            if profiler is not None:
                profiler.enable()
            with GcWatch() as collections:
                result = await asyncio.to_thread(drive, fake, measured, args.timeout)
            if profiler is not None:
                profiler.disable()
            process1, thread1 = time.process_time(), time.thread_time()
        finally:
            await stop_app(app)
        bot_cpu = thread1 - thread0  # the event loop thread runs PTB and the handlers
        fake_cpu = (process1 - process0) - bot_cpu - result.driver_cpu_s
        return RunResult(
            kind,
            "inproc",
            rnd,
            result,
            bot_cpu,
            fake_cpu,
            0,
            _profile_text(profiler, args.top) if profiler else "",
            collections.summary(),
        )

    with TimedFakeBotAPI() as fake, tempfile.TemporaryDirectory(prefix="returnbot-bench-") as tmp:
        app = build_bot(kind, fake.base_url, Path(tmp), args, http)
        run = asyncio.run(scenario(fake, app))
        run.server_errors = len(fake.server_errors)
    return run


def _fake_process(conn: Connection, plans: tuple[Plan, Plan], timeout: float) -> None:
    """Child process: the fake and the simulated users; reports the measured phase."""
    warmup, measured = plans
    with TimedFakeBotAPI() as fake:
        conn.send(fake.base_url)
        try:
            fake.wait_for_poller(timeout=60)
        except TimeoutError as exc:
            conn.send({"error": str(exc)})
            return
        drive(fake, warmup, timeout)
        conn.send("measuring")
        process0 = time.process_time()
        result = drive(fake, measured, timeout)
        fake_cpu = time.process_time() - process0 - result.driver_cpu_s
        conn.send({"drive": asdict(result), "fake_cpu_s": fake_cpu})
        conn.recv()  # "stop": the bot has shut down; its last requests were answered
        conn.send({"server_errors": len(fake.server_errors)})


def run_process(
    kind: str, rnd: int, args: argparse.Namespace, plans: tuple[Plan, Plan], http: HttpSettings
) -> RunResult:
    """The fake and the users run in a child process; this process is the bot alone."""
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    child = context.Process(target=_fake_process, args=(there, plans, args.timeout), daemon=True)
    child.start()

    def receive(what: str) -> Any:
        if not here.poll(args.timeout + 60):
            raise TimeoutError(f"the fake process sent no {what}")
        return here.recv()

    async def scenario(app: Application) -> tuple[dict[str, Any], float, str, str]:  # type: ignore[type-arg]
        await start_app(app)
        try:
            started = await asyncio.to_thread(receive, "start of the measured phase")
            if isinstance(started, dict):
                raise RuntimeError(f"fake process: {started.get('error')}")
            profiler = cProfile.Profile() if args.profile else None
            cpu0 = time.process_time()
            if profiler is not None:
                profiler.enable()
            with GcWatch() as collections:
                report = await asyncio.to_thread(receive, "report")
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - cpu0
        finally:
            await stop_app(app)
        profile = _profile_text(profiler, args.top) if profiler else ""
        return report, cpu, profile, collections.summary()

    try:
        base_url = receive("base_url")
        with tempfile.TemporaryDirectory(prefix="returnbot-bench-") as tmp:
            app = build_bot(kind, base_url, Path(tmp), args, http)
            report, bot_cpu, profile, collections = asyncio.run(scenario(app))
        here.send("stop")
        errors = receive("server errors")["server_errors"]
        child.join(30)
    finally:
        if child.is_alive():
            child.terminate()  # only our own child, by its handle
            child.join(5)
        here.close()
    result = DriveResult(**report["drive"])
    return RunResult(
        kind, "process", rnd, result, bot_cpu, report["fake_cpu_s"], errors, profile, collections
    )


# --------------------------------------------------------------------------------------------
# Reporting


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def table(runs: Sequence[RunResult]) -> str:
    lines = [
        "| mode | bot | round | replies | elapsed s | replies/s | p50 ms | p95 ms | p99 ms | "
        "max ms | CPU s: bot / other | errors |",
        "|" + "---|" * 12,
    ]
    for r in runs:
        d = r.drive
        errors = d.failed + r.server_errors + (d.expected - d.replies)
        lines.append(
            f"| {r.mode} | {r.bot} | {r.round} | {d.replies}/{d.expected} | "
            f"{d.elapsed_s:.2f} | {r.rate:.0f} | {percentile(d.latencies_ms, 0.5):.1f} | "
            f"{percentile(d.latencies_ms, 0.95):.1f} | {percentile(d.latencies_ms, 0.99):.1f} | "
            f"{max(d.latencies_ms, default=math.nan):.1f} | {r.bot_cpu_s:.2f} / "
            f"{r.fake_cpu_s:.2f} | {errors} |"
        )
    return "\n".join(lines)


def summary(runs: Sequence[RunResult]) -> str:
    lines = [
        "| mode | bot | replies/s (median of rounds) | p50 ms | p95 ms | ratio returnbot/echo |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for mode in dict.fromkeys(r.mode for r in runs):
        rates: dict[str, float] = {}
        for bot in ("echo", "echo-rich", "echo-lean", "returnbot"):
            mine = [r for r in runs if r.mode == mode and r.bot == bot]
            if not mine:
                continue
            rates[bot] = statistics.median(r.rate for r in mine)
            latencies = [x for r in mine for x in r.drive.latencies_ms]
            ratio = ""
            if bot != "echo" and rates.get("echo"):
                ratio = f"{rates[bot] / rates['echo']:.2f}"
            lines.append(
                f"| {mode} | {bot} | {rates[bot]:.0f} | {percentile(latencies, 0.5):.1f} | "
                f"{percentile(latencies, 0.95):.1f} | {ratio} |"
            )
        if rates.get("echo") and "returnbot" in rates:
            ratio_value = rates["returnbot"] / rates["echo"]
            met = "MET" if ratio_value >= TARGET_RATIO else "NOT MET"
            verdicts.append(
                f"- {mode}: returnbot/echo throughput {ratio_value:.2f} "
                f"(goal >= {TARGET_RATIO}) -> {met}"
            )
        if rates.get("echo-rich") and "returnbot" in rates:
            verdicts.append(
                f"- {mode}: returnbot/echo-rich {rates['returnbot'] / rates['echo-rich']:.2f} "
                "(same payload: what the matcher, answers and storage cost)"
            )
        if rates.get("echo-lean") and "returnbot" in rates:
            verdicts.append(
                f"- {mode}: returnbot/echo-lean {rates['returnbot'] / rates['echo-lean']:.2f} "
                "(same HTTP layer: what handling a message costs beyond echoing)"
            )
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts)


def apply_experiments(args: argparse.Namespace) -> list[str]:
    """What-if switches for trying a fix before it lands; they patch this process only."""
    applied = []
    if args.experiment_pool:
        size = args.experiment_pool
        original = ApplicationBuilder.build

        def build(self: ApplicationBuilder) -> Application:  # type: ignore[type-arg]
            self.concurrent_updates(size).connection_pool_size(size)
            return original(self)

        ApplicationBuilder.build = build  # type: ignore[method-assign]
        applied.append(f"concurrent_updates and HTTP pool = {size} for both bots")
    if args.experiment_sniffio and "sniffio" not in sys.modules:
        # httpcore does `import sniffio` on every request; when it is not installed each
        # attempt searches sys.path. A module in sys.modules is what installing it gives.
        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stub
        applied.append("sniffio importable")
    return applied


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200, help="simulated users (private chats)")
    parser.add_argument("--questions", type=int, default=5, help="questions per user")
    parser.add_argument("--rounds", type=int, default=3, help="echo+returnbot runs per mode")
    parser.add_argument("--mode", choices=("process", "inproc", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per phase, at most")
    parser.add_argument("--knowledge-dir", default=str(default_knowledge_dir()))
    parser.add_argument(
        "--rich",
        action="store_true",
        help="also run echo-rich: echo sending returnbot's HTML answer and keyboard",
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="also run echo-lean: echo through returnbot's own HTTP layer (bot.request)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the bot's thread")
    parser.add_argument(
        "--experiment-pool",
        type=int,
        default=0,
        metavar="N",
        help="what-if: both bots with concurrent_updates=N and an HTTP pool of N connections",
    )
    parser.add_argument(
        "--experiment-sniffio",
        action="store_true",
        help="what-if: make `import sniffio` succeed in the bot process (as if installed)",
    )
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    experiments = apply_experiments(args)
    plans = make_plans(args.users, args.questions, args.seed)
    http = returnbot_http_settings(args)
    modes = ("process", "inproc") if args.mode == "both" else (args.mode,)
    print(
        f"# bench_e2e: Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"{args.users} users x {args.questions} questions (+1 warm-up each, not counted); "
        f"returnbot's concurrent_updates={http.concurrent_updates}, HTTP pool "
        f"{http.pool_size} connections (pool timeout {http.pool_timeout}s); seed {args.seed}",
        flush=True,
    )
    if experiments:
        print(f"# EXPERIMENT (not the shipped configuration): {'; '.join(experiments)}")
    runners: dict[str, Callable[..., RunResult]] = {"process": run_process, "inproc": run_inproc}
    runs: list[RunResult] = []
    started = time.perf_counter()
    for mode in modes:
        for rnd in range(1, args.rounds + 1):
            # Alternate the order so neither bot always runs on a warmer machine.
            bots = (
                "echo",
                *(("echo-rich",) if args.rich else ()),
                *(("echo-lean",) if args.lean else ()),
                "returnbot",
            )
            order = bots if rnd % 2 else bots[::-1]
            for kind in order:
                run = runners[mode](kind, rnd, args, plans, http)
                runs.append(run)
                print(
                    f"  {mode} {kind} round {rnd}: {run.rate:.0f} replies/s, p50 "
                    f"{percentile(run.drive.latencies_ms, 0.5):.1f} ms",
                    flush=True,
                )
    print()
    print(table(runs))
    print()
    print(summary(runs))
    print(
        "\nUsers are a closed loop without think time: once the bot is saturated, latency is "
        "queueing, about users / (replies/s) (Little's law); --users 1 shows the latency of "
        "one message at a time."
    )
    print("\nCyclic GC passes in the bot's process during the measured phase (inproc: the fake's")
    print("threads included), count and CPU time per generation:")
    for run in runs:
        print(f"- {run.mode} {run.bot} round {run.round}: {run.gc}")
    for run in runs:
        if run.profile:
            print(f"\n--- cProfile of the bot ({run.mode}, {run.bot}, round {run.round}) ---")
            print(run.profile)
    bad = [
        r for r in runs if r.drive.replies < r.drive.expected or r.drive.failed or r.server_errors
    ]
    if bad:
        print("\nWARNING: some runs lost replies or saw errors; see the errors column.")
    print(f"\n# total {time.perf_counter() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
