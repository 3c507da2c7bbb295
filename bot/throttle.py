"""A per-user message throttle, kept in memory only.

More than `limit` messages within a minute gets one "slow down" and then silence until
the window has passed. Nothing is persisted: a restart forgets everyone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Literal

Verdict = Literal["ok", "warn", "drop"]


class Throttle:
    """Sliding one-minute window per key; bounded memory (oldest keys are forgotten)."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = 60.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._seen: dict[Hashable, deque[float]] = {}
        self._warned: dict[Hashable, float] = {}

    def check(self, key: Hashable) -> Verdict:
        """Record one message from `key` and say whether to answer it."""
        if self.limit <= 0:
            return "ok"
        now = self.clock()
        times = self._seen.pop(key, None) or deque()
        self._seen[key] = times  # re-insert: dict order doubles as least-recently-used order
        while times and now - times[0] > self.window:
            times.popleft()
        times.append(now)
        if len(self._seen) > self.max_keys:
            oldest = next(iter(self._seen))
            self._seen.pop(oldest)
            self._warned.pop(oldest, None)
        if len(times) <= self.limit:
            self._warned.pop(key, None)
            return "ok"
        warned_at = self._warned.get(key)
        if warned_at is not None and now - warned_at <= self.window:
            return "drop"
        self._warned[key] = now
        return "warn"
