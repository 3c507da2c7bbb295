"""bot.throttle with an injected clock: no sleeping, exact windows."""

from __future__ import annotations

import pytest

from bot.throttle import Throttle


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_over_the_limit_warns_once_then_drops(clock: Clock) -> None:
    throttle = Throttle(3, clock=clock)
    verdicts = [throttle.check("tess") for _ in range(6)]
    assert verdicts == ["ok", "ok", "ok", "warn", "drop", "drop"]


def test_zero_limit_never_throttles(clock: Clock) -> None:
    throttle = Throttle(0, clock=clock)
    assert {throttle.check("tess") for _ in range(1000)} == {"ok"}


def test_users_are_counted_separately(clock: Clock) -> None:
    throttle = Throttle(2, clock=clock)
    assert [throttle.check("a"), throttle.check("a"), throttle.check("a")] == ["ok", "ok", "warn"]
    assert [throttle.check("b"), throttle.check("b")] == ["ok", "ok"]


def test_messages_spread_over_more_than_a_window_are_fine(clock: Clock) -> None:
    throttle = Throttle(3, window=60, clock=clock)
    for _ in range(20):
        assert throttle.check("tess") == "ok"
        clock.advance(21)  # at most three in any 60 seconds


def test_sliding_window_forgets_old_messages(clock: Clock) -> None:
    throttle = Throttle(2, window=60, clock=clock)
    assert throttle.check("tess") == "ok"
    clock.advance(30)
    assert throttle.check("tess") == "ok"
    clock.advance(30)  # the first one is exactly 60 s old: still inside the window
    assert throttle.check("tess") == "warn"
    clock.advance(0.001)  # now the first one has left the window, but the third has not
    assert throttle.check("tess") == "drop"


def test_after_a_quiet_window_the_user_is_answered_and_can_be_warned_again(clock: Clock) -> None:
    throttle = Throttle(2, window=60, clock=clock)
    assert [throttle.check("tess") for _ in range(4)] == ["ok", "ok", "warn", "drop"]
    clock.advance(61)
    assert [throttle.check("tess") for _ in range(4)] == ["ok", "ok", "warn", "drop"]


def test_silence_lasts_a_window_after_the_warning(clock: Clock) -> None:
    throttle = Throttle(1, window=60, clock=clock)
    assert [throttle.check("tess"), throttle.check("tess")] == ["ok", "warn"]
    clock.advance(59)
    assert throttle.check("tess") == "drop"  # still over the limit, warned recently
    clock.advance(2)  # over the limit again (59 s and 61 s), and the warning is 61 s old
    assert throttle.check("tess") == "warn"


def test_memory_is_bounded_by_forgetting_the_least_recent_users(clock: Clock) -> None:
    throttle = Throttle(1, max_keys=3, clock=clock)
    assert throttle.check("a") == "ok"
    assert throttle.check("a") == "warn"
    for key in ("b", "c", "d"):  # "a" is the least recently seen: it is forgotten
        throttle.check(key)
    assert throttle.check("a") == "ok"


def test_a_recent_user_is_kept_when_others_are_forgotten(clock: Clock) -> None:
    throttle = Throttle(1, max_keys=3, clock=clock)
    throttle.check("a")
    throttle.check("b")
    throttle.check("c")
    throttle.check("a")  # "a" is active again ("warn"); "b" is now the least recent
    throttle.check("d")
    assert throttle.check("a") == "drop"  # still remembered: warned already, stays quiet
    assert throttle.check("b") == "ok"  # forgotten


def test_default_clock_works_without_injection() -> None:
    throttle = Throttle(1)
    assert [throttle.check(1), throttle.check(1)] == ["ok", "warn"]
