"""`returnbot run` as a real process: real signals, real files, a real sd_notify socket.

Each test starts `python -m bot run` with a clean environment against the in-process fake
Bot API (over 127.0.0.1) and a copy of the knowledge base in tmp_path, then drives it the way
operators and systemd do: SIGHUP, file edits, /reload, SIGTERM/SIGINT, credential files.
Every wait is bounded and event-driven: the fake's request log, the bot's stderr lines (read
by a thread) and the notify datagrams (read by a thread); there are no sleeps.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.bot_api import FakeBotAPI, make_user
from kb_edits import MARKER, about_entry, apply_break, apply_edit, copy_knowledge

from bot.knowledge import load_knowledge
from bot.storage import Storage

REPO = Path(__file__).resolve().parent.parent
TOKEN = "7350123:AAF-processTestToken_aBcDeFgHiJkLmNo"  # noqa: S105 - the fake's token
OTHER_TOKEN = "7350123:AAF-wrongTokenFromTheEnvironment_9"  # noqa: S105 - rejected by the fake
ADMIN_ID = 9_000_001

# Safety nets against hangs, not timing assertions; a healthy run uses a fraction of each.
START_TIMEOUT = 30.0
REPLY_TIMEOUT = 15.0
EXIT_TIMEOUT = 15.0
RELOAD_TIMEOUT = 20.0  # the watcher polls every 2 s and waits one more interval to debounce
MAX_LOAD_ROUNDS = 3000  # the load thread's hard bound; tests stop it long before


# --------------------------------------------------------------------------------------------
# The knowledge base copy


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    return copy_knowledge(tmp_path / "knowledge")


# --------------------------------------------------------------------------------------------
# The fake Bot API


class GatedFakeBotAPI(FakeBotAPI):
    """Holds the first request of one method until the test opens the gate.

    That pins the bot in a known phase of its start-up (getMe: before post_init;
    deleteWebhook: after post_init, before polling) so a signal can be sent right there.
    """

    def __init__(self, token: str, gated_method: str) -> None:
        super().__init__(token)
        self.gated_method = gated_method
        self.gate_reached = threading.Event()
        self.gate_open = threading.Event()

    def _handle(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path.partition("?")[0].endswith("/" + self.gated_method):
            self.gate_reached.set()
            self.gate_open.wait(START_TIMEOUT)
        return super()._handle(path, content_type, body)

    def stop(self, timeout: float = 10.0) -> None:
        self.gate_open.set()
        super().stop(timeout)


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN) as api:
        yield api
        assert not api.server_errors, api.server_errors


# --------------------------------------------------------------------------------------------
# sd_notify: a datagram socket standing in for systemd


Notification = dict[str, str]


class NotifyListener:
    """Binds NOTIFY_SOCKET and records every datagram; a thread drains it as systemd would.

    Draining matters: a unix datagram queue holds only a few messages, and a bot pinging the
    watchdog every 0.1 s would otherwise fill it and lose the STOPPING=1 we want to see.
    """

    _STOP = b"__listener_stop__"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[Notification] = []
        self._cond = threading.Condition()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._thread = threading.Thread(target=self._drain, name="notify-listener", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            data = self._sock.recv(65536)
            if data == self._STOP:
                return
            lines = data.decode("utf-8").split("\n")
            message = dict(line.partition("=")[::2] for line in lines if line)
            with self._cond:
                self.messages.append(message)
                self._cond.notify_all()

    def mark(self) -> int:
        """Index of the next message: pass as `after` to wait only for newer ones."""
        with self._cond:
            return len(self.messages)

    def wait_for(
        self,
        predicate: Callable[[Notification], bool],
        *,
        after: int = 0,
        timeout: float = START_TIMEOUT,
    ) -> int:
        """Index of the first message from `after` on that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(after, len(self.messages)):
                    if predicate(self.messages[index]):
                        return index
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching notification within {timeout}s; got {self.messages[-20:]}"
                    )
                self._cond.wait(remaining)

    def snapshot(self) -> list[Notification]:
        with self._cond:
            return list(self.messages)

    def close(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(self._STOP, str(self.path))
        self._thread.join(5)
        self._sock.close()


def has(key: str, value: str | None = None) -> Callable[[Notification], bool]:
    return lambda message: key in message and (value is None or message[key] == value)


@pytest.fixture
def notify() -> Iterator[NotifyListener]:
    # Not tmp_path: a unix socket path must fit in 108 bytes and pytest's can be longer.
    with tempfile.TemporaryDirectory(prefix="rbn-") as name:
        listener = NotifyListener(Path(name) / "notify")
        try:
            yield listener
        finally:
            listener.close()


# --------------------------------------------------------------------------------------------
# The bot process


class BotProcess:
    """A running `returnbot run`; stderr lines are collected by a thread for bounded waits."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.stdout_path = workdir / "stdout.txt"
        self._lines: list[str] = []
        self._cond = threading.Condition()
        with self.stdout_path.open("wb") as stdout:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.PIPE,
            )
        self._reader = threading.Thread(target=self._read, name="bot-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def log_mark(self) -> int:
        with self._cond:
            return len(self._lines)

    def wait_for_log(self, pattern: str, *, since: int = 0, timeout: float = REPLY_TIMEOUT) -> str:
        """The first stderr line from `since` on that matches the regex `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[since:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.proc.poll() is not None and not self._reader.is_alive()
                ):
                    raise TimeoutError(f"no log line matching {pattern!r}; tail: {self.tail()}")
                self._cond.wait(min(remaining, 0.5))

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    @property
    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self._lines)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self._lines[-lines:])

    def close(self) -> None:
        """Kill if still running, reap, and close the pipe (teardown; safe to call twice)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(EXIT_TIMEOUT)
        self._reader.join(EXIT_TIMEOUT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def base_env(fake: FakeBotAPI | None, kb: Path, data: Path, **extra: str) -> dict[str, str]:
    """A clean environment, as systemd gives it: nothing inherited but PATH and HOME.

    PYTHONPATH pins the code under test to this checkout, whatever the venv has installed.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(data.parent)),
        "PYTHONPATH": str(REPO),
        "RETURNBOT_TOKEN": TOKEN,
        "RETURNBOT_BOT_API_URL": fake.base_url if fake else "http://127.0.0.1:9/bot",
        "RETURNBOT_KNOWLEDGE_DIR": str(kb),
        "RETURNBOT_DATA_DIR": str(data),
        "RETURNBOT_ADMIN_IDS": str(ADMIN_ID),
        "RETURNBOT_RATE_LIMIT": "0",
        "RETURNBOT_LOG_LEVEL": "DEBUG",
        # Off unless a test is about the watcher, so a SIGHUP test cannot pass through it.
        "RETURNBOT_WATCH_KNOWLEDGE": "false",
    }
    env.update(extra)
    return env


@dataclass
class Launcher:
    tmp_path: Path
    processes: list[BotProcess] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> BotProcess:
        workdir = self.tmp_path / f"run{len(self.processes)}"
        workdir.mkdir()
        bot = BotProcess(env, workdir)
        self.processes.append(bot)
        return bot


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Starts bots; at teardown kills what still runs and prints every bot's whole stderr.

    pytest shows that output only for a failed test, so a failure always comes with the
    bot's own account of what it did (start-up, signals, shutdown, storage warnings).
    """
    launch = Launcher(tmp_path)
    try:
        yield launch
    finally:
        for bot in launch.processes:
            running = bot.proc.poll() is None
            bot.close()
            state = "was killed at teardown" if running else f"exited {bot.proc.returncode}"
            print(f"--- bot {bot.pid} {state}; its stderr:\n{bot.stderr}\n--- end")


def start_ready(
    launcher: Launcher, env: dict[str, str], notify: NotifyListener | None, fake: FakeBotAPI
) -> BotProcess:
    """Start the bot and wait until it serves: READY=1 if a socket is given, else a long poll."""
    if notify is not None:
        env = {**env, "NOTIFY_SOCKET": str(notify.path)}
    bot = launcher.start(env)
    try:
        if notify is not None:
            notify.wait_for(has("READY", "1"), timeout=START_TIMEOUT)
        else:
            fake.wait_for_poller(timeout=START_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"the bot did not become ready (exit {bot.proc.poll()}):\n{bot.tail()}")
    return bot


def stop(bot: BotProcess, signum: int = signal.SIGTERM) -> int:
    bot.send(signum)
    return stopped(bot)


def stopped(bot: BotProcess, timeout: float = EXIT_TIMEOUT) -> int:
    """Wait for the exit code; exit code 0 must mean the whole shutdown ran.

    post_shutdown logs "returnbot stopped" after closing storage (queued statistics written,
    WAL checkpointed). A clean exit without it means run_polling's shutdown was cut short:
    a second SystemExit, raised while it ran, once did that and lost the statistics.
    """
    code = bot.wait_exit(timeout)
    if code == 0:
        assert "INFO bot.app: returnbot stopped" in bot.stderr, "shutdown cut short"
    return code


def ask(fake: FakeBotAPI, text: str, user_id: int, **user: Any) -> str:
    """Send a private message from a fresh user and return the reply's HTML text."""
    fake.send_text(text, user=make_user(user_id, **user))
    return str(fake.wait_for_reply(user_id, timeout=REPLY_TIMEOUT).params["text"])


def reply_counts(fake: FakeBotAPI) -> collections.Counter[str]:
    return collections.Counter(str(call.params["chat_id"]) for call in fake.sent_messages())


# --------------------------------------------------------------------------------------------
# Questions under load


@dataclass(frozen=True)
class Answered:
    round: int
    user_id: int
    question: str
    text: str


class QuestionLoad:
    """A thread that keeps asking, in rounds of several concurrent questions from new users.

    Every round starts with `probe` (the question whose answer the tests edit), so each round
    shows which knowledge base answered it. It stops on request, on the first missing reply,
    or after MAX_LOAD_ROUNDS rounds.
    """

    def __init__(self, fake: FakeBotAPI, probe: str, others: list[str]) -> None:
        self.fake = fake
        self.probe = probe
        self.others = itertools.cycle(others)
        self.answered: list[Answered] = []
        self.completed = 0  # rounds whose every question has its reply
        self.errors: list[BaseException] = []
        self._ids = itertools.count(6_100_000_001)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="question-load", daemon=True)

    def __enter__(self) -> QuestionLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(REPLY_TIMEOUT + 5)

    def _run(self) -> None:
        try:
            for number in range(MAX_LOAD_ROUNDS):
                if self._stop.is_set():
                    return
                sent = []
                for question in (self.probe, next(self.others), next(self.others)):
                    user_id = next(self._ids)
                    self.fake.send_text(question, user=make_user(user_id))
                    sent.append((user_id, question))
                for user_id, question in sent:
                    call = self.fake.wait_for_reply(user_id, timeout=REPLY_TIMEOUT)
                    with self._cond:
                        self.answered.append(
                            Answered(number, user_id, question, str(call.params["text"]))
                        )
                with self._cond:
                    self.completed = number + 1
                    self._cond.notify_all()
        except BaseException as exc:  # reported by the test, never swallowed
            with self._cond:
                self.errors.append(exc)
                self._cond.notify_all()

    def _wait(self, ready: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + RELOAD_TIMEOUT
        with self._cond:
            while True:
                result = ready()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if self.errors or remaining <= 0 or not self._thread.is_alive():
                    raise AssertionError(
                        f"no {what} (errors: {self.errors!r}, {self.completed} rounds done)"
                    )
                self._cond.wait(remaining)

    def wait_for(self, predicate: Callable[[Answered], bool], *, after_round: int) -> Answered:
        """The first answer in a round after `after_round` that satisfies `predicate`."""
        return self._wait(
            lambda: next(
                (a for a in self.answered if a.round > after_round and predicate(a)), None
            ),
            "such answer",
        )

    def last_round(self) -> int:
        """The number of the last round that is completely answered (-1: none yet)."""
        with self._cond:
            return self.completed - 1

    def wait_rounds(self, count: int) -> None:
        """Wait until `count` more rounds are completely answered."""
        with self._cond:
            target = self.completed + count
        self._wait(lambda: self.completed >= target, f"{count} more rounds")


def load_questions() -> list[str]:
    return [
        "Why are Russians returning home?",
        "Сколько людей вернулось в Россию?",
        "How does reverse migration affect the economy?",
        "Почему люди возвращаются?",
        "How many people left Russia?",
    ]


def assert_one_reply_each(fake: FakeBotAPI, answered: list[Answered]) -> None:
    counts = reply_counts(fake)
    wrong = {a.user_id: counts[str(a.user_id)] for a in answered if counts[str(a.user_id)] != 1}
    assert not wrong, f"users with other than exactly one reply: {wrong}"


def probe_rounds(answered: list[Answered], probe: str) -> dict[int, bool]:
    """For each round: did the probe's answer carry the marker?"""
    return {a.round: MARKER in a.text for a in answered if a.question == probe}


def assert_swapped_once(
    rounds: dict[int, bool], edited_after: int, swapped_round: int, broken_at: int
) -> None:
    """Check the probe's answers: the old text before the edit, the new one after the swap.

    Never flapping back, and the rejected reload left the edited knowledge base serving.
    """
    assert not any(marked for number, marked in rounds.items() if number <= edited_after)
    assert all(marked for number, marked in rounds.items() if number > swapped_round)
    assert any(number > broken_at for number in rounds)


# --------------------------------------------------------------------------------------------
# 1. Reload with a real SIGHUP while questions keep coming


def test_sighup_reload_under_load_swaps_good_and_rejects_broken_knowledge(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    _, probe = about_entry(kb_dir)
    bot = start_ready(launcher, base_env(fake, kb_dir, tmp_path / "data"), notify, fake)

    with QuestionLoad(fake, probe, load_questions()) as load:
        load.wait_rounds(3)
        apply_edit(kb_dir)
        edited_after = load.last_round()
        mark = notify.mark()
        bot.send(signal.SIGHUP)
        reloading = notify.wait_for(has("RELOADING", "1"), after=mark, timeout=RELOAD_TIMEOUT)
        ready = notify.wait_for(has("READY", "1"), after=reloading, timeout=RELOAD_TIMEOUT)
        assert "(ok)" in notify.snapshot()[ready]["STATUS"]
        swapped = load.wait_for(lambda a: MARKER in a.text, after_round=edited_after)

        line = apply_break(kb_dir)
        since = bot.log_mark()
        mark = notify.mark()
        bot.send(signal.SIGHUP)
        reloading = notify.wait_for(has("RELOADING", "1"), after=mark, timeout=RELOAD_TIMEOUT)
        ready = notify.wait_for(has("READY", "1"), after=reloading, timeout=RELOAD_TIMEOUT)
        assert "rejected" in notify.snapshot()[ready]["STATUS"]
        bot.wait_for_log(rf"entries/about\.yaml:{line}: ", since=since)
        broken_at = load.last_round()
        load.wait_rounds(3)
        assert bot.proc.poll() is None, "a broken knowledge base must not stop the bot"

    assert not load.errors, f"a question went unanswered: {load.errors!r}"
    assert stop(bot) == 0
    assert_one_reply_each(fake, load.answered)
    rounds = probe_rounds(load.answered, probe)
    print(
        f"{len(load.answered)} answers in {len(rounds)} rounds; new text from round "
        f"{swapped.round} (edited after {edited_after}, broken after {broken_at})"
    )
    assert_swapped_once(rounds, edited_after, swapped.round, broken_at)


# --------------------------------------------------------------------------------------------
# 2. The same via the file watcher and via /reload


def test_file_watcher_reloads_edits_and_keeps_serving_after_a_broken_edit(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    _, probe = about_entry(kb_dir)
    env = base_env(fake, kb_dir, tmp_path / "data", RETURNBOT_WATCH_KNOWLEDGE="true")
    bot = start_ready(launcher, env, notify, fake)

    with QuestionLoad(fake, probe, load_questions()) as load:
        load.wait_rounds(2)
        mark = notify.mark()
        edited_after = load.last_round()
        apply_edit(kb_dir)
        reloading = notify.wait_for(has("RELOADING", "1"), after=mark, timeout=RELOAD_TIMEOUT)
        notify.wait_for(has("READY", "1"), after=reloading, timeout=RELOAD_TIMEOUT)
        swapped = load.wait_for(lambda a: MARKER in a.text, after_round=edited_after)

        since = bot.log_mark()
        mark = notify.mark()
        line = apply_break(kb_dir)
        reloading = notify.wait_for(has("RELOADING", "1"), after=mark, timeout=RELOAD_TIMEOUT)
        ready = notify.wait_for(has("READY", "1"), after=reloading, timeout=RELOAD_TIMEOUT)
        assert "rejected" in notify.snapshot()[ready]["STATUS"]
        bot.wait_for_log(rf"entries/about\.yaml:{line}: ", since=since)
        broken_at = load.last_round()
        load.wait_rounds(2)

    assert not load.errors, f"a question went unanswered: {load.errors!r}"
    assert "knowledge files changed" in bot.stderr
    assert stop(bot) == 0
    assert_one_reply_each(fake, load.answered)
    assert_swapped_once(probe_rounds(load.answered, probe), edited_after, swapped.round, broken_at)


def test_admin_reload_command_reports_success_and_errors(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    _, probe = about_entry(kb_dir)
    bot = start_ready(launcher, base_env(fake, kb_dir, tmp_path / "data"), notify, fake)
    admin = make_user(ADMIN_ID, username="the_admin")
    stranger_id = 9_000_002
    mark = notify.mark()

    apply_edit(kb_dir)
    fake.send_command("reload", user=make_user(stranger_id))
    refused = fake.wait_for_reply(stranger_id, timeout=REPLY_TIMEOUT).params["text"]
    assert "reloaded" not in refused.lower()
    assert MARKER not in ask(fake, probe, 7_000_001)  # a stranger's /reload changed nothing

    fake.send_command("reload", user=admin)
    assert "reloaded" in fake.wait_for_reply(ADMIN_ID, timeout=REPLY_TIMEOUT).params["text"]
    assert MARKER in ask(fake, probe, 7_000_002)

    line = apply_break(kb_dir)
    fake.send_command("reload", user=admin)
    failed = fake.wait_for_reply(ADMIN_ID, timeout=REPLY_TIMEOUT).params["text"]
    assert "Reload failed" in failed
    assert f"entries/about.yaml:{line}: " in failed
    assert MARKER in ask(fake, probe, 7_000_003)

    assert stop(bot) == 0
    # Only the admin's two commands reloaded; each RELOADING=1 was followed by READY=1.
    kinds = [m for m in notify.snapshot()[mark:] if "RELOADING" in m or "READY" in m]
    assert [("RELOADING" in m) for m in kinds] == [True, False, True, False]


# --------------------------------------------------------------------------------------------
# 3. The systemd notify protocol around a real process


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_notify_ready_reload_watchdog_and_stop(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    entries = load_knowledge(kb_dir).stats.entries
    env = base_env(fake, kb_dir, tmp_path / "data", WATCHDOG_USEC="200000")
    bot = start_ready(launcher, env, notify, fake)

    ready = notify.snapshot()[notify.wait_for(has("READY", "1"))]
    assert re.match(rf"{entries} entries\b", ready.get("STATUS", "")), ready
    first_ping = notify.wait_for(has("WATCHDOG", "1"))
    notify.wait_for(has("WATCHDOG", "1"), after=first_ping + 1)

    before = monotonic_usec()
    mark = notify.mark()
    bot.send(signal.SIGHUP)
    reloading = notify.wait_for(has("RELOADING", "1"), after=mark)
    after = monotonic_usec()
    stamp = int(notify.snapshot()[reloading]["MONOTONIC_USEC"])
    assert before <= stamp <= after  # CLOCK_MONOTONIC is shared by every process on the host
    reloaded = notify.wait_for(has("READY", "1"), after=reloading)
    assert notify.snapshot()[reloaded]["STATUS"].startswith(f"{entries} entries")

    mark = notify.mark()
    bot.send(signal.SIGTERM)
    notify.wait_for(has("STOPPING", "1"), after=mark, timeout=EXIT_TIMEOUT)
    assert stopped(bot) == 0


def test_sigint_stops_cleanly(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    bot = start_ready(launcher, base_env(fake, kb_dir, tmp_path / "data"), notify, fake)
    assert stop(bot, signal.SIGINT) == 0
    assert any("STOPPING" in m for m in notify.snapshot())
    assert "Traceback" not in bot.stderr


def test_watchdog_meant_for_another_process_is_not_pinged(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    # WATCHDOG_PID names the test process, as if the bot were a child that inherited it.
    env = base_env(
        fake, kb_dir, tmp_path / "data", WATCHDOG_USEC="200000", WATCHDOG_PID=str(os.getpid())
    )
    bot = start_ready(launcher, env, notify, fake)
    assert stop(bot) == 0
    notify.wait_for(has("STOPPING", "1"))  # every datagram the bot sent is now recorded
    assert not [m for m in notify.snapshot() if "WATCHDOG" in m]


def test_stop_signal_during_start_up_is_honoured(
    kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    """SIGTERM after post_init but before polling runs must still stop the bot, cleanly."""
    with GatedFakeBotAPI(TOKEN, "deleteWebhook") as gated:
        env = base_env(gated, kb_dir, tmp_path / "data", NOTIFY_SOCKET=str(notify.path))
        bot = launcher.start(env)
        assert gated.gate_reached.wait(START_TIMEOUT), bot.tail()
        bot.send(signal.SIGTERM)
        notify.wait_for(has("STOPPING", "1"), timeout=EXIT_TIMEOUT)
        gated.gate_open.set()
        try:
            code = stopped(bot)
        except subprocess.TimeoutExpired:
            pytest.fail(f"SIGTERM during start-up was lost; the bot kept running:\n{bot.tail()}")
    assert code == 0
    assert not any(m.get("READY") == "1" for m in notify.snapshot())
    assert "Traceback" not in bot.stderr


def test_sighup_during_start_up_does_not_kill_the_bot(
    kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    """SIGHUP's default action is to terminate; it must mean "reload" from early on."""
    with GatedFakeBotAPI(TOKEN, "getMe") as gated:
        env = base_env(gated, kb_dir, tmp_path / "data", NOTIFY_SOCKET=str(notify.path))
        bot = launcher.start(env)
        assert gated.gate_reached.wait(START_TIMEOUT), bot.tail()
        bot.send(signal.SIGHUP)
        bot.wait_for_log(r"knowledge reload requested \(SIGHUP\)")
        gated.gate_open.set()
        notify.wait_for(has("READY", "1"))
        assert bot.proc.poll() is None
        assert ask(gated, "What can you do?", 7_100_001)
        assert stop(bot) == 0


# --------------------------------------------------------------------------------------------
# 4. Graceful shutdown: what was fetched is answered, what was not stays queued


def test_sigterm_answers_every_fetched_question_and_loses_none(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher
) -> None:
    bot = start_ready(launcher, base_env(fake, kb_dir, tmp_path / "data"), None, fake)
    questions = load_questions()
    fetched_ids = [7_200_000 + n for n in range(30)]
    late_ids = [7_300_000 + n for n in range(10)]
    updates = [
        fake.send_text(questions[n % len(questions)], user=make_user(uid))["update_id"]
        for n, uid in enumerate(fetched_ids)
    ]
    # The poll that returns the burst, then the next poll, whose offset confirms it: from then
    # on the burst is the bot's responsibility (Telegram will not deliver it again).
    while not any(u["update_id"] == updates[-1] for u in fake.wait_for("getUpdates").result):
        pass
    fake.wait_for_poller(timeout=REPLY_TIMEOUT)
    pending = {u["update_id"] for u in fake.pending_updates()}
    assert not pending & set(updates)
    answered_before = len(fake.sent_messages())
    bot.send(signal.SIGTERM)
    late = {
        fake.send_text(questions[0], user=make_user(uid))["update_id"]: uid for uid in late_ids
    }
    assert stopped(bot) == 0

    counts = reply_counts(fake)
    assert {uid: counts[str(uid)] for uid in fetched_ids} == dict.fromkeys(fetched_ids, 1)
    still_queued = {u["update_id"] for u in fake.pending_updates()}
    for update_id, uid in late.items():
        # Either answered once, or left unconfirmed for the next start: never dropped.
        assert counts[str(uid)] == 1 or (counts[str(uid)] == 0 and update_id in still_queued)
    print(f"{len(fetched_ids) - answered_before} of the burst were answered after SIGTERM")


# --------------------------------------------------------------------------------------------
# 5. The token: from systemd's credential file, never leaked


def token_leaks(text: str, token: str) -> bool:
    return token in text or token.partition(":")[2] in text


def test_credential_file_wins_over_the_environment_and_never_leaks(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "returnbot_token").write_text(TOKEN + "\n", encoding="utf-8")
    env = base_env(
        fake,
        kb_dir,
        tmp_path / "data",
        RETURNBOT_TOKEN=OTHER_TOKEN,
        CREDENTIALS_DIRECTORY=str(credentials),
    )
    bot = start_ready(launcher, env, None, fake)
    assert ask(fake, "Why are Russians returning home?", 7_400_001)
    environ = Path(f"/proc/{bot.pid}/environ").read_bytes()
    cmdline = Path(f"/proc/{bot.pid}/cmdline").read_bytes()
    assert stop(bot) == 0

    assert all(call.status != 401 for call in fake.requests()), "the wrong token was used"
    secret = TOKEN.partition(":")[2].encode()
    assert secret not in environ
    assert secret not in cmdline
    output = bot.stdout + bot.stderr
    assert not token_leaks(output, TOKEN)
    assert not token_leaks(output, OTHER_TOKEN)


def test_rejected_token_is_one_clear_line_without_the_token(
    kb_dir: Path, tmp_path: Path, launcher: Launcher
) -> None:
    """A revoked token: Telegram answers 401 to getMe. PTB's message quotes the token."""
    with FakeBotAPI(OTHER_TOKEN) as other:
        bot = launcher.start(base_env(other, kb_dir, tmp_path / "data"))
        code = bot.wait_exit(START_TIMEOUT)
    assert code == 2, bot.tail()
    output = bot.stdout + bot.stderr
    assert not token_leaks(output, TOKEN), bot.tail()
    # The last word is one clear line, not an uncaught traceback (which no filter redacts).
    last = bot.stderr.splitlines()[-1]
    assert re.search(r"ERROR .*rejected the bot token", last), bot.tail()


def test_token_revoked_while_running_stops_the_bot_instead_of_leaving_it_deaf(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, notify: NotifyListener
) -> None:
    """PTB ends long polling on a 401 but would leave the process running, deaf."""
    data_dir = tmp_path / "data"
    bot = start_ready(launcher, base_env(fake, kb_dir, data_dir), notify, fake)
    assert "Finion" in ask(fake, "what does finion estimate?", 501)
    fake.token = OTHER_TOKEN  # revoked: every call with the old token now gets 401
    fake.send_text("why do people return?", user=make_user(502))  # ends the long poll
    assert bot.wait_exit(START_TIMEOUT) == 2, bot.tail()
    assert any("STOPPING" in m for m in notify.snapshot())
    assert not token_leaks(bot.stdout + bot.stderr, TOKEN), bot.tail()
    last = bot.stderr.splitlines()[-1]
    assert re.search(r"ERROR .*rejected the bot token", last), bot.tail()
    with contextlib.closing(sqlite3.connect(data_dir / "returnbot.sqlite3")) as db:
        assert db.execute("SELECT SUM(questions) FROM daily_counts").fetchone()[0] >= 1


# --------------------------------------------------------------------------------------------
# 6. Storage faults never cost an answer; storage never keeps identities


def test_answers_when_the_data_dir_is_a_regular_file(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher
) -> None:
    data = tmp_path / "data"
    data.write_text("not a directory", encoding="utf-8")
    bot = start_ready(launcher, base_env(fake, kb_dir, data), None, fake)
    for n, question in enumerate(load_questions()[:3]):
        assert ask(fake, question, 7_500_001 + n)
    assert stop(bot) == 0
    assert "storage: cannot use" in bot.stderr
    assert data.read_text(encoding="utf-8") == "not a directory"


@pytest.mark.parametrize(
    "migrated",
    [False, True],
    ids=["locked-before-first-open", "locked-after-migration"],
)
def test_answers_while_another_process_holds_the_database(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher, migrated: bool
) -> None:
    """Unmigrated: the bot cannot even open it. Migrated: it opens, and every write is refused."""
    data = tmp_path / "data"
    data.mkdir()
    if migrated:
        Storage.open(data).close()  # a file as returnbot leaves it: WAL mode, schema current
    holder = sqlite3.connect(data / "returnbot.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        bot = start_ready(launcher, base_env(fake, kb_dir, data), None, fake)
        for n, question in enumerate(["Why are Russians returning home?", "how to bake bread"]):
            assert ask(fake, question, 7_600_001 + n)
        assert stop(bot) == 0
    finally:
        holder.close()
    failure = "record_question failed" if migrated else "cannot use"
    assert re.search(rf"storage: {failure} .*locked", bot.stderr), bot.tail()


def sqlite_int_forms(number: int) -> list[bytes]:
    """An integer as SQLite stores it (big-endian, minimal width) and as raw 8-byte values."""
    forms = [number.to_bytes(8, order, signed=True) for order in ("little", "big")]
    for width in (1, 2, 3, 4, 6, 8):
        with contextlib.suppress(OverflowError):
            forms.append(number.to_bytes(width, "big", signed=True))
            break
    return forms


def scan_files(paths: list[Path], needles: dict[str, list[bytes]]) -> list[str]:
    found = []
    for path in paths:
        if not path.exists():
            continue
        blob = path.read_bytes()
        found += [
            f"{name} in {path.name}"
            for name, forms in needles.items()
            if any(form in blob for form in forms)
        ]
    return found


def test_storage_keeps_no_user_chat_or_username(
    fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, launcher: Launcher
) -> None:
    data = tmp_path / "data"
    users = [
        make_user(7_301_234_567, "Quillonia", username="qzprivacyalpha", last_name="Vexmoor"),
        make_user(7_301_234_568, "Brindlewick", username="qzprivacybeta", language_code="ru"),
    ]
    group_id = -1_009_876_543_210
    bot = start_ready(launcher, base_env(fake, kb_dir, data), None, fake)
    questions = [
        "Why are Russians returning home?",
        "What is the weather on Jupiter tomorrow?",
        "Почему люди возвращаются?",
        "Где купить слона недорого?",
    ]
    for user in users:
        for question in questions:
            fake.send_text(question, user=user)
            reply = fake.wait_for_reply(user["id"], timeout=REPLY_TIMEOUT)
            buttons = (reply.params.get("reply_markup") or {}).get("inline_keyboard", [])
            votes = [
                b["callback_data"]
                for row in buttons
                for b in row
                if "f:" in b.get("callback_data", "")
            ]
            if votes:
                fake.press_button(reply, votes[0], user=user)
                fake.wait_for("answerCallbackQuery", timeout=REPLY_TIMEOUT)
        fake.send_in_group(questions[1], user=user, chat=group_id, mention_bot=True)
        fake.wait_for_reply(group_id, timeout=REPLY_TIMEOUT)

    files = [data / f"returnbot.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")]
    needles: dict[str, list[bytes]] = {}
    for user in users:
        needles[f"id {user['id']}"] = [str(user["id"]).encode(), *sqlite_int_forms(user["id"])]
        for key in ("username", "first_name", "last_name"):
            if key in user:
                needles[f"{key} {user[key]}"] = [user[key].encode()]
    needles[f"chat {group_id}"] = [str(group_id).encode(), *sqlite_int_forms(group_id)]
    assert scan_files(files, needles) == []  # while running: the WAL holds the fresh rows
    assert stop(bot) == 0
    assert scan_files(files, needles) == []  # after the checkpoint on close

    with contextlib.closing(sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)) as db:
        questions_counted = db.execute("SELECT SUM(questions) FROM daily_counts").fetchone()[0]
        gaps = db.execute("SELECT COUNT(*) FROM gaps").fetchone()[0]
    assert questions_counted == len(users) * (len(questions) + 1)  # the scan saw real data
    assert gaps > 0


# --------------------------------------------------------------------------------------------
# Webhook mode


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post_update(port: int, path: str, update: dict[str, Any], secret: str | None) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{path}",
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json"}
        | ({"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_webhook_mode_serves_updates_with_the_secret_only(
    launcher: Launcher, fake: FakeBotAPI, kb_dir: Path, tmp_path: Path, notify: NotifyListener
) -> None:
    port = _free_port()
    secret = "webhook-secret-value_123"  # noqa: S105 - a test value
    env = base_env(
        fake,
        kb_dir,
        tmp_path / "data",
        # Telegram needs https; a reverse proxy would forward that path to the listener.
        RETURNBOT_WEBHOOK_URL="https://bot.example.invalid/hook/returnbot",
        RETURNBOT_WEBHOOK_SECRET=secret,
        RETURNBOT_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
    )
    bot = launcher.start({**env, "NOTIFY_SOCKET": str(notify.path)})
    registered = fake.wait_for("setWebhook", timeout=START_TIMEOUT)
    assert registered.params["url"] == "https://bot.example.invalid/hook/returnbot"
    assert registered.params["secret_token"] == secret
    notify.wait_for(has("READY", "1"), timeout=START_TIMEOUT)

    forged = fake.send_text("why are people returning?", user=make_user(4_400_001))
    assert _post_update(port, "hook/returnbot", forged, secret=None) == 403
    genuine = fake.send_text("why are people returning?", user=make_user(4_400_002))
    assert _post_update(port, "hook/returnbot", genuine, secret=secret) == 200
    reply = fake.wait_for_reply(4_400_002, timeout=REPLY_TIMEOUT)
    assert "Source:" in str(reply.params["text"])
    assert not fake.sent_messages(4_400_001)
    # An update PTB cannot read (no chat, no date) is refused without logging its content.
    unreadable = {"update_id": 77, "message": {"message_id": 1, "text": "private words 8123"}}
    assert _post_update(port, "hook/returnbot", unreadable, secret=secret) == 400
    later = fake.send_text("who is Evgeniy?", user=make_user(4_400_003))
    assert _post_update(port, "hook/returnbot", later, secret=secret) == 200
    fake.wait_for_reply(4_400_003, timeout=REPLY_TIMEOUT)
    assert secret not in bot.stderr
    assert stop(bot) == 0
    assert "private words" not in bot.stderr
    assert "content is not logged" in bot.stderr
