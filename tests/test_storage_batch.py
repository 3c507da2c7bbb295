"""Storage.batch / record_many: batched writes store exactly what one call at a time would."""

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.storage import BackgroundStorage, Storage

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _writes(store: Storage) -> None:
    for n in range(6):
        store.record_question(
            lang="en", outcome="answer", entry_id="alexey", score=90.0, text="x", now=NOW
        )
        store.record_question(
            lang="ru", outcome="unknown", entry_id=None, score=5.0, text=f"вопрос {n}", now=NOW
        )
    store.record_question(
        lang="en",
        outcome="clarify",
        entry_id="b",
        score=50.0,
        text="call +7 912 345 67 89",
        now=NOW,
    )
    store.record_question(lang="en", outcome="odd", entry_id=None, score=1.0, text="q", now=NOW)
    store.record_feedback("alexey", helpful=True, now=NOW)
    store.record_feedback("alexey", helpful=False, now=NOW)
    store.record_feedback("b", helpful=True, now=NOW)


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path / "returnbot.sqlite3")
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()  # noqa: S608
            for table in ("gaps", "daily_counts", "entry_answers", "feedback")
        }
    finally:
        conn.close()


def test_a_batch_stores_the_same_rows_as_single_writes(tmp_path: Path) -> None:
    with Storage.open(tmp_path / "single") as single:
        _writes(single)
    with Storage.open(tmp_path / "batched") as batched, batched.batch():
        _writes(batched)
        assert batched.gaps() == []  # nothing is written before the batch ends
    assert _dump(tmp_path / "batched") == _dump(tmp_path / "single")


def test_a_failed_batch_falls_back_to_single_writes(tmp_path: Path, monkeypatch) -> None:
    store = Storage.open(tmp_path)
    real = Storage._write_rows
    calls = []

    def flaky(conn, rows):
        calls.append(len(rows))
        if len(rows) > 1:
            raise sqlite3.OperationalError("database is locked")
        return real(conn, rows)

    monkeypatch.setattr(Storage, "_write_rows", staticmethod(flaky))
    with store.batch():
        _writes(store)
    assert calls[0] > 1
    assert set(calls[1:]) == {1}
    assert len(store.gaps()) == 7
    assert store.stats(now=NOW).feedback == {"alexey": (1, 1), "b": (1, 0)}
    store.close()


def test_disabled_storage_batches_quietly() -> None:
    store = Storage.open(None)
    with store.batch():
        _writes(store)
    assert store.gaps() == []


def test_background_writes_are_batched_and_flush_does_not_linger(tmp_path: Path) -> None:
    writer = BackgroundStorage(Storage.open(tmp_path), linger=30.0)
    batches = []
    real = writer.storage.record_many
    writer.storage.record_many = lambda rows: (batches.append(len(rows)), real(rows))  # type: ignore[method-assign]
    try:
        for n in range(20):
            writer.record_question(
                lang="en", outcome="unknown", entry_id=None, score=1.0, text=f"q{n}"
            )
        started = time.monotonic()
        assert len(writer.gaps()) == 20  # gaps() flushes: the 30 s linger is cut short
        assert time.monotonic() - started < 10
        assert batches == [20]
    finally:
        writer.close()
