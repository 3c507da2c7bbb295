"""Talk to systemd's service manager (sd_notify) with the standard library only.

The unit runs with ``Type=notify`` and ``WatchdogSec=``, so systemd waits for READY=1
before it calls the service started and restarts it when the WATCHDOG=1 pings stop.
libsystemd's Python bindings are not a dependency: the protocol is one AF_UNIX datagram
of newline-separated ``KEY=VALUE`` lines, which is simpler to send ourselves than to install.
Outside systemd (NOTIFY_SOCKET unset: a terminal, tests, Docker) every method is a no-op,
so callers never need to check where they run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping

__all__ = ["SystemdNotifier"]

logger = logging.getLogger(__name__)


def _one_line(text: str) -> str:
    """Flatten text to one line: a newline would start a new, unintended assignment."""
    return " ".join(text.splitlines())


class SystemdNotifier:
    """Sends service state notifications to systemd, or does nothing outside systemd.

    Build it with :meth:`from_environ`. Notifications are best effort: a lost datagram must
    not take the bot down, so socket errors are logged once at WARNING and otherwise ignored.
    """

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
    ) -> None:
        """Create a notifier.

        Args:
            address: The NOTIFY_SOCKET value: a filesystem path, or ``@name`` for a socket
                in the abstract namespace. ``None`` makes every method a no-op.
            watchdog_usec: WATCHDOG_USEC, the watchdog timeout in microseconds, if any.
            watchdog_pid: WATCHDOG_PID: the only process the watchdog applies to, if set.
        """
        self._address = address
        self._sockaddr: str | None = None
        if address is not None:
            if address.startswith("@"):
                # Linux spells abstract socket names with a leading NUL byte.
                self._sockaddr = "\0" + address[1:]
            elif address.startswith("/"):
                self._sockaddr = address
            else:
                # e.g. systemd 254's "vsock:" addresses: not supported; better silent than wrong.
                logger.warning("NOTIFY_SOCKET %r is not a unix socket; not notifying", address)
        self._watchdog_usec = watchdog_usec
        self._watchdog_pid = watchdog_pid
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier:
        """Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, as systemd sets them.

        Malformed watchdog values disable the watchdog rather than fail the start: the
        service is more useful running unwatched than not running.
        """
        address = environ.get("NOTIFY_SOCKET") or None
        return cls(
            address,
            watchdog_usec=_positive_int(environ.get("WATCHDOG_USEC")),
            watchdog_pid=_positive_int(environ.get("WATCHDOG_PID")),
        )

    @property
    def enabled(self) -> bool:
        """Whether notifications go anywhere (we run under systemd with a usable socket)."""
        return self._sockaddr is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings, or None when no watchdog applies to us.

        Half the timeout, as sd_watchdog_enabled(3) recommends, so one late ping is not fatal.
        WATCHDOG_PID names the process the watchdog is for; a child that inherited the
        environment must not ping on its parent's behalf.
        """
        if not self.enabled or self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def notify(self, *lines: str) -> None:
        """Send ``KEY=VALUE`` lines to systemd in one datagram; never raises on socket errors.

        The socket is non-blocking so a full receive queue cannot stall the event loop, and
        a fresh socket per message keeps nothing open to leak or to go stale.

        Raises:
            ValueError: if a line contains a newline (it would smuggle in another assignment).
        """
        if self._sockaddr is None or not lines:
            return
        if any("\n" in line for line in lines):
            raise ValueError("sd_notify lines must not contain newlines")
        payload = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(payload, self._sockaddr)
        except OSError as exc:
            # Once is enough: the watchdog would otherwise repeat this every few seconds.
            if not self._warned:
                self._warned = True
                logger.warning(
                    "Cannot notify systemd via %s: %s (further failures not logged)",
                    self._address,
                    exc,
                )
            else:
                logger.debug("Cannot notify systemd via %s: %s", self._address, exc)

    def ready(self, status: str | None = None) -> None:
        """Tell systemd start-up (or a reload) finished; `systemctl start` returns only now."""
        if status is None:
            self.notify("READY=1")
        else:
            self.notify("READY=1", f"STATUS={_one_line(status)}")

    def status(self, text: str) -> None:
        """Set the free-form status line that `systemctl status` shows."""
        self.notify(f"STATUS={_one_line(text)}")

    def reloading(self) -> None:
        """Tell systemd a reload began; follow with :meth:`ready` when it is done.

        MONOTONIC_USEC lets systemd (253+, Type=notify-reload) match this message to the
        reload it asked for; older versions ignore the extra field.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        """Tell systemd a clean shutdown began, so it is not mistaken for a hang."""
        self.notify("STOPPING=1")

    def watchdog_ping(self) -> None:
        """Tell systemd we are alive; without it for WatchdogSec= the service is restarted."""
        self.notify("WATCHDOG=1")

    async def run_watchdog(self) -> None:
        """Ping the watchdog every :attr:`watchdog_interval` until cancelled.

        The pings come from the event loop itself, not a thread, so a blocked or hung loop
        stops them and systemd restarts the bot. Returns at once when no watchdog is set.
        """
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            self.watchdog_ping()
            await asyncio.sleep(interval)


def _positive_int(value: str | None) -> int | None:
    """Parse a positive decimal integer, or return None for absent or malformed values."""
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number > 0 else None
