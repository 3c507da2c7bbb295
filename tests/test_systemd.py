"""The sd_notify client against real unix datagram sockets; the unit file via systemd-analyze."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.systemd import SystemdNotifier

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "returnbot.service"
MAX_EXPOSURE = 1.5
RECV_TIMEOUT = 5.0  # a safety net against hangs, not a timing assertion


@pytest.fixture
def notify_dir() -> Iterator[Path]:
    # Not tmp_path: unix socket paths are limited to 108 bytes and pytest's can be longer.
    with tempfile.TemporaryDirectory(prefix="rbsd-") as name:
        yield Path(name)


@pytest.fixture
def receiver(notify_dir: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd, and its NOTIFY_SOCKET value."""
    path = notify_dir / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(RECV_TIMEOUT)
        yield sock, str(path)


def recv_lines(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode("utf-8").split("\n")


def assert_nothing_queued(sock: socket.socket) -> None:
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_ready_with_and_without_status(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address})
    assert notifier.enabled

    notifier.ready()
    assert recv_lines(sock) == ["READY=1"]

    notifier.ready("Serving 42 entries")
    assert recv_lines(sock) == ["READY=1", "STATUS=Serving 42 entries"]


def test_status_is_flattened_to_one_line(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address})

    notifier.status("Загружено 7 записей\nREADY=1")

    assert recv_lines(sock) == ["STATUS=Загружено 7 записей READY=1"]


def test_notify_rejects_embedded_newlines(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address})

    with pytest.raises(ValueError, match="newlines"):
        notifier.notify("STATUS=a\nREADY=1")
    assert_nothing_queued(sock)


def test_reloading_sends_monotonic_usec_in_the_same_datagram(
    receiver: tuple[socket.socket, str],
) -> None:
    sock, address = receiver
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address})

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    first, second = recv_lines(sock)
    assert first == "RELOADING=1"
    key, _, value = second.partition("=")
    assert key == "MONOTONIC_USEC"
    assert value.isdigit()
    # Sanity only: read from the same clock between our own two readings.
    assert before <= int(value) <= after


def test_stopping_and_watchdog_ping(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address})

    notifier.stopping()
    assert recv_lines(sock) == ["STOPPING=1"]
    notifier.watchdog_ping()
    assert recv_lines(sock) == ["WATCHDOG=1"]


def test_abstract_socket() -> None:
    name = f"returnbot-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(RECV_TIMEOUT)
        notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": "@" + name})

        notifier.ready()

        assert recv_lines(sock) == ["READY=1"]


def test_noop_without_notify_socket(caplog: pytest.LogCaptureFixture) -> None:
    notifier = SystemdNotifier.from_environ({"WATCHDOG_USEC": "30000000"})

    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    with caplog.at_level(logging.DEBUG, logger="bot.systemd"):
        notifier.ready("x")
        notifier.status("x")
        notifier.reloading()
        notifier.stopping()
        notifier.watchdog_ping()
        asyncio.run(notifier.run_watchdog())  # returns at once instead of looping
    assert caplog.records == []


def test_non_unix_address_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.systemd"):
        notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert len(caplog.records) == 1
    notifier.ready()  # no-op, no error


def test_send_error_is_logged_once_and_not_raised(
    notify_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = notify_dir / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
    path.unlink()  # systemd went away: nothing listens at the address any more
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": str(path)})

    with caplog.at_level(logging.WARNING, logger="bot.systemd"):
        notifier.ready("first")
        notifier.watchdog_ping()
        notifier.stopping()

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "20000"}, 0.01),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "<self>"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "<other>"}, None),
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "nope"}, 15.0),
    ],
)
def test_watchdog_interval(
    receiver: tuple[socket.socket, str], environ: dict[str, str], expected: float | None
) -> None:
    _, address = receiver
    pids = {"<self>": str(os.getpid()), "<other>": str(os.getpid() + 1)}
    environ = {k: pids.get(v, v) for k, v in environ.items()}

    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address, **environ})

    assert notifier.watchdog_interval == expected


def test_watchdog_pid_mismatch_means_no_pings(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    notifier = SystemdNotifier.from_environ(
        {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000", "WATCHDOG_PID": "1"}
    )
    if os.getpid() == 1:
        pytest.skip("this test process is PID 1, so WATCHDOG_PID=1 is ours")

    asyncio.run(notifier.run_watchdog())  # returns at once: the watchdog is someone else's

    assert_nothing_queued(sock)


def test_run_watchdog_pings_until_cancelled(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    sock.setblocking(False)  # received through the event loop that runs the watchdog
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000"})

    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(notifier.run_watchdog())
        try:
            return [
                await asyncio.wait_for(loop.sock_recv(sock, 4096), RECV_TIMEOUT) for _ in range(2)
            ]
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    assert asyncio.run(scenario()) == [b"WATCHDOG=1", b"WATCHDOG=1"]


# --- the unit file -----------------------------------------------------------------------------


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (it comes with the systemd package)")
    return path


def test_unit_file_verifies(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    # verify checks that ExecStart's binary exists and is executable, and the bot is not
    # installed in /opt/returnbot here. Check a copy whose ExecStart points at an executable
    # that exists (this Python), with the same name so the unit name is unchanged.
    text = UNIT.read_text(encoding="utf-8")
    exec_start = "/opt/returnbot/.venv/bin/returnbot"
    assert f"ExecStart={exec_start} run" in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(exec_start, os.path.realpath(sys.executable)), "utf-8")

    # --man=no: do not look up Documentation=man: pages (the unit has none; no man needed).
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output
    # verify exits 0 on some problems and only prints them ("Unknown key ..., ignoring",
    # "Failed to parse ..., ignoring"); those are errors here. Other chatter, such as notes
    # about documentation pages, is a warning, not an error.
    problems = [
        line
        for line in output.splitlines()
        if re.search(r"unknown|ignoring|failed|invalid|not executable|error", line, re.I)
    ]
    assert problems == []


def test_unit_file_exposure_is_low() -> None:
    analyze = systemd_analyze()

    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for returnbot\.service: (\d+(?:\.\d+)?)", output)
    assert match, output
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE, output


def test_env_example_lists_every_setting_with_a_valid_default() -> None:
    from bot.settings import ENV_PREFIX, Settings, load_settings

    example = UNIT.with_name("returnbot.env.example").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^#(RETURNBOT_[A-Z_]+)=(.*)$", example, re.M))

    assert "RETURNBOT_TOKEN" not in documented  # it belongs in the credential file
    expected = {ENV_PREFIX + name.upper() for name in Settings.model_fields} - {"RETURNBOT_TOKEN"}
    assert set(documented) == expected
    load_settings(documented)  # all defaults shown are accepted as written


def test_a_missing_token_file_does_not_fail_the_start() -> None:
    """LoadCredential= alone makes a missing /etc/returnbot/token a start failure (243);
    a SetCredential= of the same id is systemd's documented fallback (systemd.exec(5))."""
    text = UNIT.read_text(encoding="utf-8")
    loaded = re.findall(r"^LoadCredential=([^:\n]+):", text, re.M)
    fallback = re.findall(r"^SetCredential=([^:\n]+):(.*)$", text, re.M)
    assert loaded == ["returnbot_token"]
    assert fallback == [("returnbot_token", "\\n")]  # blank: the bot reads RETURNBOT_TOKEN
