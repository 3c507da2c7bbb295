"""BackgroundStorage: statistics are written off the event loop, and nothing is lost on close."""

import logging
import threading

from bot.storage import BackgroundStorage, Storage


def test_writes_do_not_wait_for_a_stuck_disk(tmp_path) -> None:
    storage = Storage.open(tmp_path)
    release = threading.Event()
    entered = threading.Event()
    real_record = storage.record_question

    def stuck_record(**fields):
        entered.set()
        assert release.wait(10), "the test never released the stuck write"
        real_record(**fields)

    storage.record_question = stuck_record  # type: ignore[method-assign]
    writer = BackgroundStorage(storage)
    try:
        # If this ran on the caller's thread, it would block until `release` (deadlock: the
        # test only releases after the call returns).
        writer.record_question(lang="en", outcome="unknown", entry_id=None, score=1.0, text="q1")
        assert entered.wait(10)
        release.set()
        assert [gap.text for gap in writer.gaps()] == ["q1"]
    finally:
        release.set()
        writer.close()


def test_close_finishes_queued_writes(tmp_path) -> None:
    writer = BackgroundStorage(Storage.open(tmp_path))
    for number in range(50):
        writer.record_question(
            lang="ru", outcome="clarify", entry_id="alexey", score=50.0, text=f"вопрос {number}"
        )
    writer.record_feedback("alexey", helpful=True)
    writer.close()
    reopened = Storage.open(tmp_path)
    try:
        assert len(reopened.gaps()) == 50
        assert reopened.stats().feedback["alexey"] == (1, 0)
    finally:
        reopened.close()


def test_a_full_queue_drops_and_logs_once(tmp_path, caplog) -> None:
    storage = Storage.open(tmp_path)
    release = threading.Event()
    storage.record_feedback = lambda *a, **k: release.wait(10)  # type: ignore[method-assign]
    writer = BackgroundStorage(storage, max_pending=2)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.storage"):
            for _ in range(10):
                writer.record_feedback("alexey", helpful=False)
        assert sum("queue is full" in r.getMessage() for r in caplog.records) == 1
    finally:
        release.set()
        writer.close()
