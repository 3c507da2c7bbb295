"""CPU per update through PTB and the handlers, returnbot vs the echo bot, without a network.

bench_e2e measures what users see, but on a shared 2-CPU box its figures move by 10–40 %
between runs: far too much to see a change of a few tens of microseconds per reply. This
script drives the same two bots (built by bench_e2e's own functions, so returnbot is the
production `build_application`) with `Application.process_update`, one update at a time,
and answers every Bot API call in-process: the bots' httpx clients get an
`httpx.MockTransport` with canned answers, so PTB, the handlers, the request encoding by
httpx and the storage writer all run, and only sockets, httpcore and the fake are left out.
It reports process CPU time (the storage writer thread included) per update, and the
difference returnbot − echo, per round, with the median and the minimum of the rounds (the
minimum is the least disturbed by other work on the machine).

    .venv/bin/python -m benchmarks.bench_updates                       # 7 rounds
    .venv/bin/python -m benchmarks.bench_updates --precomputed-matches # all but matching
    .venv/bin/python -m benchmarks.bench_updates --rounds 1 --profile

`--precomputed-matches` computes every `Matcher.match` result of the run before the clock
starts and serves it from a dict: what is then left of returnbot − echo is everything but
matching (handlers, answers, rendering, throttle, statistics, request encoding). Nothing
here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bot`, `handlers` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from telegram import Update
from telegram.ext import Application

from benchmarks.bench_e2e import (
    ECHO_TEXT,
    HttpSettings,
    Plan,
    build_echo,
    build_returnbot,
    make_plans,
    returnbot_http_settings,
)
from benchmarks.bench_e2e import parse_args as e2e_args

BASE_URL = "http://bot-api.invalid/bot"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
_CHAT = {"id": 1, "type": "private", "first_name": "User"}
# One answer for every sendMessage (the echo bot parses it into a Message; returnbot does not).
_SENT = json.dumps(
    {
        "ok": True,
        "result": {
            "message_id": 1,
            "date": 1_700_000_000,
            "from": BOT_USER,
            "chat": _CHAT,
            "text": ECHO_TEXT,
        },
    }
).encode()
_ME = json.dumps({"ok": True, "result": BOT_USER}).encode()
_TRUE = b'{"ok": true, "result": true}'


def _answer(request: httpx.Request) -> httpx.Response:
    """The Bot API, canned: who the bot is, a sent message, or `true`."""
    method = request.url.path.rsplit("/", 1)[-1]
    body = _SENT if method == "sendMessage" else _ME if method == "getMe" else _TRUE
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


async def _offline(app: Application) -> None:  # type: ignore[type-arg]
    """Give the bot's HTTP clients the in-process transport (they are rebuilt on initialize)."""
    request = app.bot.request  # getUpdates has a request of its own, unused here
    kwargs = getattr(request, "_client_kwargs", None)
    if kwargs is None:
        raise TypeError("this benchmark needs PTB's HTTPXRequest (or a subclass)")
    kwargs["transport"] = httpx.MockTransport(_answer)
    await request.shutdown()


def updates(plan: Plan, first_update_id: int) -> list[dict[str, Any]]:
    """The updates of a plan, shaped as the fake Bot API sends them (private chats)."""
    raw = []
    update_id = first_update_id
    for chat, questions in plan.items():
        for number, (text, lang) in enumerate(questions, start=1):
            name = f"User{chat}"
            user = {"id": chat, "is_bot": False, "first_name": name, "language_code": lang}
            message = {
                "message_id": number,
                "from": user,
                "chat": {"id": chat, "type": "private", "first_name": name},
                "date": 1_700_000_000,
                "text": text,
            }
            raw.append({"update_id": update_id, "message": message})
            update_id += 1
    return raw


def _precompute_matches(app: Application, plans: Sequence[Plan]) -> None:  # type: ignore[type-arg]
    """Serve Matcher.match from a dict filled now, for every text and language hint of the run."""
    matcher = app.bot_data.require().runtime.current.matcher
    match = matcher.match
    known = {
        (text, hint): match(text, hint)
        for plan in plans
        for questions in plan.values()
        for text, _ in questions
        for hint in ("en", "ru", None)
    }
    matcher.match = lambda text, lang=None, **_: known[(text, lang)]  # type: ignore[method-assign]


async def one_run(
    kind: str, args: argparse.Namespace, plans: tuple[Plan, Plan], http: HttpSettings
) -> float:
    """Microseconds of process CPU per measured update, for one bot."""
    warmup, measured = plans
    e2e = e2e_args(["--questions", str(args.questions)])
    with tempfile.TemporaryDirectory(prefix="returnbot-bench-") as tmp:
        if kind == "returnbot":
            app = build_returnbot(BASE_URL, Path(tmp), e2e)
            if args.precomputed_matches:
                _precompute_matches(app, plans)
        else:
            app = build_echo(BASE_URL, http)
        await _offline(app)
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                asyncio.get_running_loop().remove_signal_handler(sig)
        storage = app.bot_data.require().storage if kind == "returnbot" else None
        try:
            for raw in updates(warmup, 1):
                await app.process_update(Update.de_json(raw, app.bot))
            if storage is not None:
                storage.flush()
            measured_raw = updates(measured, 1_000_000)
            profiler = cProfile.Profile() if args.profile else None
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            for raw in measured_raw:
                await app.process_update(Update.de_json(raw, app.bot))
            if storage is not None:
                storage.flush()  # the writer thread's work for these updates is counted too
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - started
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
                print(f"\n--- cProfile, {kind} ---\n{out.getvalue()}")
        finally:
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)
    return cpu / len(measured_raw) * 1e6


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--questions", type=int, default=5, help="questions per user")
    parser.add_argument("--rounds", type=int, default=7, help="runs per bot, alternating")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--precomputed-matches",
        action="store_true",
        help="serve returnbot's match results from a dict filled before timing",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the measured updates")
    parser.add_argument("--top", type=int, default=40, help="functions shown per profile")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plans = make_plans(args.users, args.questions, args.seed)
    http = returnbot_http_settings(e2e_args(["--questions", str(args.questions)]))
    results: dict[str, list[float]] = {"echo": [], "returnbot": []}
    for number in range(args.rounds):
        for kind in ("echo", "returnbot") if number % 2 == 0 else ("returnbot", "echo"):
            gc.collect()
            results[kind].append(asyncio.run(one_run(kind, args, plans, http)))
    print(
        f"# bench_updates: {args.users} users x {args.questions} questions, seed {args.seed}; "
        f"matches {'precomputed' if args.precomputed_matches else 'computed'}"
    )
    print("| bot | µs CPU per update: median | min | rounds |")
    print("|---|---|---|---|")
    for kind, values in results.items():
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(f"| {kind} | {statistics.median(values):.1f} | {min(values):.1f} | {rounds} |")
    median = statistics.median(results["returnbot"]) - statistics.median(results["echo"])
    least = min(results["returnbot"]) - min(results["echo"])
    print(f"\nreturnbot - echo: {median:.1f} µs (medians), {least:.1f} µs (minima)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
