"""Tests for bot.storage: anonymous statistics that never take the bot down with them."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import storage as storage_mod
from bot.storage import Gap, Stats, Storage, scrub

# Noon today: recent enough that the automatic prune on open keeps it, fixed within a run.
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
V1_DAY = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
DB_NAME = "returnbot.sqlite3"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    s = Storage.open(tmp_path)
    assert s.healthy
    yield s
    s.close()


def ask(s: Storage, **overrides: Any) -> None:
    """record_question with sensible defaults, so each test states only what matters."""
    kwargs: dict[str, Any] = {
        "lang": "en",
        "outcome": "unknown",
        "entry_id": None,
        "score": 0.0,
        "text": "How do I return?",
        "now": NOW,
    }
    kwargs.update(overrides)
    s.record_question(**kwargs)


def warnings_from_storage(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.storage" and r.levelno >= logging.WARNING]


def raw_bytes(directory: Path) -> bytes:
    """Everything SQLite has on disk for the database: main file plus WAL and SHM."""
    data = b""
    for suffix in ("", "-wal", "-shm"):
        f = directory / (DB_NAME + suffix)
        if f.exists():
            data += f.read_bytes()
    return data


# ------------------------------------------------------------------------------ round trip


def test_round_trip_of_gaps_and_stats(tmp_path: Path) -> None:
    s = Storage.open(tmp_path)
    ask(s, outcome="answered", entry_id="tax-residency", score=91.5, text="налоги?", lang="ru")
    ask(s, outcome="answered", entry_id="tax-residency", score=88.0, text="taxes?", lang="en")
    ask(s, outcome="answered", entry_id="passport", score=95.0, text="паспорт", lang="ru")
    ask(s, outcome="clarify", entry_id="passport", score=55.25, text="документы", lang="ru")
    ask(
        s,
        outcome="unknown",
        entry_id=None,
        score=12.0,
        text="Can my cat come? 🐈",
        now=NOW + timedelta(minutes=1),
    )
    s.record_feedback("passport", helpful=True, now=NOW)
    s.record_feedback("passport", helpful=True, now=NOW)
    s.record_feedback("passport", helpful=False, now=NOW)
    s.record_feedback("tax-residency", helpful=False, now=NOW)
    s.close()

    s = Storage.open(tmp_path)  # survives a restart
    try:
        gaps = s.gaps()
        assert gaps == [
            Gap(
                text="Can my cat come? 🐈",
                lang="en",
                outcome="unknown",
                best_entry=None,
                score=12.0,
                asked_at=NOW + timedelta(minutes=1),
            ),
            Gap(
                text="документы",
                lang="ru",
                outcome="clarify",
                best_entry="passport",
                score=55.25,
                asked_at=NOW,
            ),
        ]
        assert gaps[0].asked_at.tzinfo is not None

        st = s.stats(days=7, now=NOW)
        assert st == Stats(
            days=7,
            questions=5,
            answered=3,
            clarify=1,
            unknown=1,
            by_lang={
                "en": {"questions": 2, "answered": 1, "clarify": 0, "unknown": 1},
                "ru": {"questions": 3, "answered": 2, "clarify": 1, "unknown": 0},
            },
            top_entries=[("tax-residency", 2), ("passport", 1)],
            feedback={"passport": (2, 1), "tax-residency": (0, 1)},
        )
    finally:
        s.close()


def test_only_unknown_and_clarify_keep_their_text(store: Storage, tmp_path: Path) -> None:
    ask(store, outcome="answered", entry_id="e1", score=90, text="ANSWERED-QUESTION-TEXT")
    ask(store, outcome="clarify", entry_id="e1", score=50, text="clarify text")
    ask(store, outcome="unknown", entry_id=None, score=5, text="unknown text")
    assert sorted(g.text for g in store.gaps()) == ["clarify text", "unknown text"]
    assert b"ANSWERED-QUESTION-TEXT" not in raw_bytes(tmp_path)
    store.close()
    assert b"ANSWERED-QUESTION-TEXT" not in raw_bytes(tmp_path)


def test_gap_text_is_scrubbed_and_capped(store: Storage) -> None:
    ask(store, text="mail tess@example.com " + "x" * 1000)
    (gap,) = store.gaps()
    assert gap.text.startswith("mail <email> x")
    assert len(gap.text) == storage_mod.MAX_TEXT_CHARS


def test_unknown_without_text_is_counted_but_keeps_no_gap(store: Storage) -> None:
    ask(store, outcome="unknown", entry_id="near-miss", score=40.0, text=None)
    assert store.gaps() == []
    st = store.stats(now=NOW)
    assert (st.questions, st.unknown) == (1, 1)


def test_matcher_outcome_answer_counts_as_answered(store: Storage) -> None:
    ask(store, outcome="answer", entry_id="passport", score=93.0, text="ANSWER-TEXT")
    st = store.stats(now=NOW)
    assert (st.questions, st.answered, st.top_entries) == (1, 1, [("passport", 1)])
    assert store.gaps() == []


def test_unexpected_outcome_counts_as_question_only(
    store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="bot.storage"):
        ask(store, outcome="error", text="should not be stored")
        ask(store, outcome="error", text="should not be stored")
    st = store.stats(now=NOW)
    assert (st.questions, st.answered, st.clarify, st.unknown) == (2, 0, 0, 0)
    assert store.gaps() == []
    assert store.healthy
    assert len(warnings_from_storage(caplog)) == 1


def test_score_is_clamped_to_0_100(store: Storage) -> None:
    ask(store, score=250.0, text="a")
    ask(store, score=float("nan"), text="b", now=NOW + timedelta(seconds=1))
    assert [g.score for g in store.gaps()] == [0.0, 100.0]


def test_gaps_since_and_limit(store: Storage) -> None:
    for i in range(5):
        ask(store, text=f"q{i}", now=NOW + timedelta(hours=i))
    assert [g.text for g in store.gaps(limit=2)] == ["q4", "q3"]
    assert [g.text for g in store.gaps(since=NOW + timedelta(hours=3))] == ["q4", "q3"]
    # Naive datetimes are taken as UTC.
    naive = (NOW + timedelta(hours=4)).replace(tzinfo=None)
    assert [g.text for g in store.gaps(since=naive)] == ["q4"]


def test_stats_window_counts_whole_utc_days(store: Storage) -> None:
    for days_ago in (0, 1, 6, 7, 30):
        ask(store, outcome="answered", entry_id="e", now=NOW - timedelta(days=days_ago))
        store.record_feedback("e", helpful=True, now=NOW - timedelta(days=days_ago))
    ask(store, now=NOW + timedelta(days=1))  # "tomorrow" is outside the window
    week = store.stats(days=7, now=NOW)
    assert (week.days, week.questions, week.answered) == (7, 3, 3)
    assert week.top_entries == [("e", 3)]
    assert week.feedback == {"e": (3, 0)}
    assert store.stats(days=1, now=NOW).questions == 1
    assert store.stats(days=31, now=NOW).questions == 5


def test_top_entries_are_ordered_and_limited(store: Storage) -> None:
    for entry, n in (("a", 1), ("b", 3), ("c", 2)):
        for _ in range(n):
            ask(store, outcome="answered", entry_id=entry, score=90)
    assert store.stats(now=NOW).top_entries == [("b", 3), ("c", 2), ("a", 1)]
    assert store.stats(now=NOW, top=2).top_entries == [("b", 3), ("c", 2)]


def test_calls_from_another_thread_are_safe(store: Storage) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for i in range(20):
                ask(store, text=f"thread {i}")
                store.record_feedback("e", helpful=bool(i % 2), now=NOW)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        ask(store, text=f"main {i}")
    for t in threads:
        t.join()
    assert errors == []
    assert store.stats(now=NOW).questions == 80
    assert store.stats(now=NOW).feedback == {"e": (30, 30)}
    assert store.healthy


# -------------------------------------------------------------------------------- scrubbing

SCRUB_CASES = [
    # e-mail addresses
    ("write to tess@example.com please", "write to <email> please"),
    ("Tess.Tester+bot@mail.example.co.uk.", "<email>."),
    ("почта тест@пример.рф 🙂", "почта <email> 🙂"),
    ("мой email: ivan_petrov@yandex.ru, спасибо", "мой email: <email>, спасибо"),
    # handles
    ("ask @tess_tester about it", "ask <handle> about it"),
    ("пишите @ivan_petrov123!", "пишите <handle>!"),
    ("me@tess_tester", "me<handle>"),
    ("@a", "<handle>"),
    # URLs
    ("see https://example.com/path?q=1.", "see <url>."),
    ("(http://t.me/tess_tester)", "(<url>)"),
    ("t.me/tess_tester", "<url>"),
    ("www.gosuslugi.ru/help и всё", "<url> и всё"),
    ("gosuslugi.ru/foreign/return", "<url>"),
    ("https://example.com/u/+79123456789 hi", "<url> hi"),
    ("https://vk.com/id12345?mail=tess@example.com", "<url>"),
    # phone numbers: international and Russian formats
    ("+7 912 345-67-89", "<phone>"),
    ("+79123456789", "<phone>"),
    ("+7 (912) 345-67-89", "<phone>"),
    ("8 (912) 345-67-89", "<phone>"),
    ("8-912-345-67-89", "<phone>"),
    ("89123456789", "<phone>"),
    ("8 800 555 35 35", "<phone>"),
    ("(495) 123-45-67", "<phone>"),
    ("123-45-67", "<phone>"),
    ("+44 20 7946 0958", "<phone>"),
    ("+1 (555) 123-4567", "<phone>"),
    ("+49 30 1234567", "<phone>"),
    ("мой номер: 8 912 345 67 89, звоните", "мой номер: <phone>, звоните"),
    ("тел.89123456789", "тел.<phone>"),
    ("call 89123456789,89161234567", "call <phone>,<phone>"),
    ("in 2022 89123456789", "in 2022 <phone>"),
    ("89123456789 2022", "<phone> 2022"),
    ("2022 2023 89123456789 2024", "2022 2023 <phone> 2024"),
    ("My number is 9123456789abc", "My number is <phone>abc"),
    # other long digit runs are identifiers too
    ("паспорт 4510 123456", "паспорт <phone>"),
    ("ИНН 123456789012", "ИНН <phone>"),
    # several kinds at once, emoji kept
    (
        "Hi 👋 I'm @tess_tester, tess@example.com, +7 912 345-67-89, https://t.me/x",
        "Hi 👋 I'm <handle>, <email>, <phone>, <url>",
    ),
    (
        "Привет! Я @tess_tester 🇷🇺, почта tess@example.com, тел. +7 912 345-67-89",
        "Привет! Я <handle> 🇷🇺, почта <email>, тел. <phone>",
    ),
]

KEPT_AS_IS = [
    "In 2022 about 300,000 people left",
    "inflation was 3.6% in 2023",
    "Можно ли вернуться в 2025 году?",
    "1 000 000 рублей",
    "1 000 000 рублей",  # no-break spaces
    "от 100 000–150 000 рублей в месяц",
    "в 2022 300 000 человек уехали",
    "в 2022 2023 1 500 000 человек",
    "2014–2022",
    "1990-2000",
    "2022 - 2023",
    "2022-03-15",
    "15-03-2022",
    "15.03.2022",
    "статья 12.34 КоАП, ч. 2",
    "с 10:00-18:00",
    "(2022)",
    "12-34-56",
    "1,234,567 people",
    "ставка 13% и 30%",
    "НДФЛ 2 400 000 ₽ за 2023",
    "👍🏻🇷🇺 🐈 — emoji only",
    "a @ b, 5 @ 10",
    "no contacts here, just a question about военный учёт",
    "",
]


@pytest.mark.parametrize(("raw", "expected"), SCRUB_CASES)
def test_scrub_replaces_contact_details(raw: str, expected: str) -> None:
    assert scrub(raw) == expected


@pytest.mark.parametrize("raw", KEPT_AS_IS)
def test_scrub_keeps_years_figures_and_plain_text(raw: str) -> None:
    assert scrub(raw) == raw


@pytest.mark.parametrize("raw", [r for r, _ in SCRUB_CASES] + KEPT_AS_IS)
def test_scrub_is_idempotent(raw: str) -> None:
    once = scrub(raw)
    assert scrub(once) == once


def test_scrub_caps_length_after_scrubbing() -> None:
    # A phone straddling the cap must not leave its first digits behind.
    text = "a" * 495 + " +7 912 345-67-89 tail"
    result = scrub(text)
    assert len(result) <= storage_mod.MAX_TEXT_CHARS
    assert "912" not in result
    assert scrub("я" * 2000) == "я" * storage_mod.MAX_TEXT_CHARS


def test_scrub_of_overlong_input_drops_what_straddles_the_cut() -> None:
    # Longer than any Telegram message: cut before scrubbing. Here the cut splits a phone
    # number while the long URL in front of it shrinks to "<url>", so the fragment would
    # land inside the stored 500 characters if it were judged on its few digits.
    url = "https://example.com/" + "a" * 4068
    text = url + " +7 912 345-67-89 and more"
    assert text.index("912") < storage_mod._MAX_SCRUB_INPUT < text.index("89 and")
    assert scrub(text) == "<url>"
    assert scrub("word " * 5000 + "@tess_tester") == ("word " * 100).strip()


def test_scrub_strips_surrounding_whitespace() -> None:
    assert scrub("  hello @tess  \n") == "hello <handle>"


# ---------------------------------------------------------------------------------- retention


def test_prune_by_days(tmp_path: Path) -> None:
    s = Storage.open(tmp_path, retention_days=30)
    try:
        for days_ago in (0, 10, 29, 31, 100):
            when = NOW - timedelta(days=days_ago)
            ask(s, text=f"{days_ago} days ago", now=when)
            ask(s, outcome="answered", entry_id="e", now=when)
            s.record_feedback("e", helpful=True, now=when)
        # 2 old gaps + 2 old days in each of the three counter tables.
        assert s.prune(now=NOW) == 2 + 3 * 2
        assert [g.text for g in s.gaps()] == ["0 days ago", "10 days ago", "29 days ago"]
        st = s.stats(days=365, now=NOW)
        assert (st.questions, st.top_entries, st.feedback) == (6, [("e", 3)], {"e": (3, 0)})
        assert s.prune(now=NOW) == 0
    finally:
        s.close()


def test_prune_by_rows_drops_oldest_first(tmp_path: Path) -> None:
    s = Storage.open(tmp_path, max_rows=3)
    try:
        for i in range(5):
            ask(s, text=f"q{i}", now=NOW + timedelta(seconds=i))
        assert s.prune(now=NOW) == 2
        assert [g.text for g in s.gaps()] == ["q4", "q3", "q2"]
    finally:
        s.close()


def test_prune_runs_every_n_inserts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_mod, "PRUNE_EVERY", 4)
    s = Storage.open(tmp_path, max_rows=2)
    try:
        for i in range(3):
            ask(s, text=f"q{i}", now=NOW + timedelta(seconds=i))
        assert len(s.gaps()) == 3  # not yet
        ask(s, text="q3", now=NOW + timedelta(seconds=3))
        assert [g.text for g in s.gaps()] == ["q3", "q2"]
    finally:
        s.close()


def test_prune_runs_on_open(tmp_path: Path) -> None:
    old = datetime.now(UTC) - timedelta(days=200)
    s = Storage.open(tmp_path, retention_days=90)
    ask(s, text="ancient", now=old)
    ask(s, text="recent", now=datetime.now(UTC))
    s.close()
    s = Storage.open(tmp_path, retention_days=90)
    try:
        assert [g.text for g in s.gaps()] == ["recent"]
    finally:
        s.close()


def test_pruned_text_is_gone_from_the_file(tmp_path: Path) -> None:
    s = Storage.open(tmp_path, retention_days=30)
    ask(s, text="OLD-SENSITIVE-QUESTION", now=NOW - timedelta(days=60))
    s.prune(now=NOW)
    s.close()
    assert b"OLD-SENSITIVE-QUESTION" not in raw_bytes(tmp_path)


# -------------------------------------------------------------------------------- migrations

# A frozen copy of the v1 layout, written by hand: if a later migration breaks files that
# were created by v1, this test notices even after the code's v1 has long been "history".
V1_DDL = """
CREATE TABLE gaps (id INTEGER PRIMARY KEY, asked_at TEXT NOT NULL, lang TEXT NOT NULL,
    outcome TEXT NOT NULL, text TEXT NOT NULL, best_entry TEXT, score REAL NOT NULL);
CREATE INDEX gaps_asked_at ON gaps(asked_at);
CREATE TABLE daily_counts (day TEXT NOT NULL, lang TEXT NOT NULL,
    questions INTEGER NOT NULL DEFAULT 0, answered INTEGER NOT NULL DEFAULT 0,
    clarify INTEGER NOT NULL DEFAULT 0, unknown INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, lang)) WITHOUT ROWID;
CREATE TABLE entry_answers (day TEXT NOT NULL, entry_id TEXT NOT NULL,
    answers INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, entry_id)) WITHOUT ROWID;
CREATE TABLE feedback (day TEXT NOT NULL, entry_id TEXT NOT NULL,
    up INTEGER NOT NULL DEFAULT 0, down INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, entry_id)) WITHOUT ROWID;
INSERT INTO gaps (asked_at, lang, outcome, text, best_entry, score)
    VALUES ('2024-05-20T11:00:00.000000Z', 'ru', 'unknown', 'старый вопрос', 'e1', 42.5);
INSERT INTO daily_counts VALUES ('2024-05-20', 'ru', 4, 2, 1, 1);
INSERT INTO entry_answers VALUES ('2024-05-20', 'e1', 2);
INSERT INTO feedback VALUES ('2024-05-20', 'e1', 1, 0);
PRAGMA user_version = 1;
"""


def make_v1_file(directory: Path) -> Path:
    path = directory / DB_NAME
    conn = sqlite3.connect(path)
    try:
        conn.executescript(V1_DDL)
    finally:
        conn.close()
    return path


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def columns(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        ]
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def test_fresh_file_gets_current_schema_version(store: Storage, tmp_path: Path) -> None:
    store.close()
    assert user_version(tmp_path / DB_NAME) == storage_mod.SCHEMA_VERSION >= 1


def test_opening_a_v1_file_keeps_its_data(tmp_path: Path) -> None:
    path = make_v1_file(tmp_path)
    s = Storage.open(tmp_path, retention_days=100_000)
    try:
        assert s.healthy
        (gap,) = s.gaps()
        assert (gap.text, gap.best_entry, gap.score) == ("старый вопрос", "e1", 42.5)
        assert gap.asked_at == datetime(2024, 5, 20, 11, 0, tzinfo=UTC)
        st = s.stats(days=1, now=V1_DAY)
        assert (st.questions, st.answered, st.clarify, st.unknown) == (4, 2, 1, 1)
        assert st.top_entries == [("e1", 2)]
        assert st.feedback == {"e1": (1, 0)}
        ask(s, text="new question")
        assert len(s.gaps()) == 2
    finally:
        s.close()
    assert user_version(path) == storage_mod.SCHEMA_VERSION


def test_a_v2_migration_is_applied_to_a_v1_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2: tuple[str, ...] = ("ALTER TABLE gaps ADD COLUMN topic TEXT",)
    monkeypatch.setattr(storage_mod, "_MIGRATIONS", (*storage_mod._MIGRATIONS, v2))
    path = make_v1_file(tmp_path)
    s = Storage.open(tmp_path, retention_days=100_000)
    try:
        assert s.healthy
        assert [g.text for g in s.gaps()] == ["старый вопрос"]
        ask(s, text="after v2")
        assert len(s.gaps()) == 2
    finally:
        s.close()
    assert user_version(path) == len(storage_mod._MIGRATIONS)
    assert "topic" in columns(path)["gaps"]
    # Opening again is a no-op for the schema.
    Storage.open(tmp_path).close()
    assert user_version(path) == len(storage_mod._MIGRATIONS)


def test_failed_migration_leaves_the_file_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken: tuple[str, ...] = (
        "ALTER TABLE gaps ADD COLUMN topic TEXT",
        "THIS IS NOT SQL",
    )
    monkeypatch.setattr(storage_mod, "_MIGRATIONS", (*storage_mod._MIGRATIONS, broken))
    path = make_v1_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        s = Storage.open(tmp_path)
    s.close()
    assert not s.healthy
    assert user_version(path) == 1
    assert "topic" not in columns(path)["gaps"]  # the whole step was rolled back
    assert warnings_from_storage(caplog)


def test_a_newer_schema_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        s = Storage.open(tmp_path)
    assert not s.healthy
    ask(s)
    assert s.gaps() == []
    s.close()
    assert user_version(path) == 99
    assert "newer" in caplog.text


# ----------------------------------------------------------------------------------- privacy


def test_schema_has_no_column_for_identities(store: Storage, tmp_path: Path) -> None:
    store.close()
    forbidden = ("user", "chat", "username", "message", "from_id", "telegram", "tg_", "phone")
    for table, cols in columns(tmp_path / DB_NAME).items():
        for col in cols:
            assert not any(word in col.lower() for word in forbidden), (table, col)


def test_raw_file_bytes_contain_no_identity_strings(tmp_path: Path) -> None:
    leaks = [
        "tess_tester",
        "tess@example.com",
        "example.com",
        "+7 912 345-67-89",
        "912 345-67-89",
        "345-67-89",
        "9123456789",
        "ANSWERED-WITH-ID",
    ]
    question = "Hi, I'm @tess_tester (tess@example.com, +7 912 345-67-89). Can I return?"
    s = Storage.open(tmp_path)
    ask(s, outcome="unknown", text=question)
    ask(s, outcome="clarify", entry_id="passport", score=60, text=question, lang="ru")
    ask(s, outcome="unknown", text="звоните 89123456789 или пишите @tess_tester")
    ask(s, outcome="answered", entry_id="passport", score=95, text="ANSWERED-WITH-ID " + question)
    s.record_feedback("passport", helpful=True)
    assert [g.text for g in s.gaps()][-1] == ("Hi, I'm <handle> (<email>, <phone>). Can I return?")

    # While the session is open the data sits in the WAL: scan it, byte by byte.
    wal = tmp_path / (DB_NAME + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0
    for data in ((tmp_path / DB_NAME).read_bytes(), wal.read_bytes()):
        for leak in leaks:
            assert leak.encode() not in data, leak
            assert leak.encode("utf-16-le") not in data, leak
    assert b"<handle>" in wal.read_bytes()  # the scan looked at the right bytes

    s.close()
    data = raw_bytes(tmp_path)
    assert b"<handle>" in data
    for leak in leaks:
        assert leak.encode() not in data, leak


def test_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    s = Storage.open(data_dir)
    ask(s)
    try:
        assert stat.S_IMODE((data_dir / DB_NAME).stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / (DB_NAME + "-wal")).stat().st_mode) == 0o600
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    finally:
        s.close()


# ---------------------------------------------------------------------------------- failures


def exercise_every_method(s: Storage) -> None:
    """Call the whole public API; none of it may raise."""
    ask(s)
    s.record_feedback("e", helpful=True)
    assert s.gaps() == []
    st = s.stats(now=NOW)
    assert st == Stats(days=7)
    assert s.prune(now=NOW) == 0
    s.close()
    s.close()


def test_no_data_dir_means_disabled_storage() -> None:
    s = Storage.open(None)
    assert not s.healthy
    assert s.path is None
    exercise_every_method(s)


def test_data_dir_that_is_a_file_runs_disabled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("I am a file")
    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        s = Storage.open(not_a_dir / "sub")
    assert not s.healthy
    assert len(warnings_from_storage(caplog)) == 1
    exercise_every_method(s)
    assert not_a_dir.read_text() == "I am a file"


def test_database_path_that_is_a_directory_runs_disabled(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).mkdir()
    s = Storage.open(tmp_path)
    assert not s.healthy
    exercise_every_method(s)


def test_read_only_directory_runs_disabled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "ro"
    data_dir.mkdir()
    if os.geteuid() == 0:
        # root ignores permission bits; a directory where the file should be is just as
        # unwritable for SQLite.
        (data_dir / DB_NAME).mkdir()
    else:
        data_dir.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.storage"):
            s = Storage.open(data_dir)
        assert not s.healthy
        assert warnings_from_storage(caplog)
        exercise_every_method(s)
    finally:
        data_dir.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_existing_file_in_read_only_directory_runs_disabled(tmp_path: Path) -> None:
    data_dir = tmp_path / "ro"
    Storage.open(data_dir).close()
    data_dir.chmod(0o500)
    try:
        s = Storage.open(data_dir)
        assert not s.healthy
        exercise_every_method(s)
    finally:
        data_dir.chmod(0o700)


def test_locked_database_does_not_block_or_raise(
    store: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ask(store, text="before the lock")
    other = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with caplog.at_level(logging.DEBUG, logger="bot.storage"):
            ask(store, text="SECRET-QUESTION-1")
            ask(store, text="SECRET-QUESTION-2")
            store.record_feedback("e", helpful=False)
        assert not store.healthy
        warned = warnings_from_storage(caplog)
        assert len(warned) == 1
        assert "locked" in warned[0].getMessage()
        assert "SECRET-QUESTION" not in caplog.text
        other.execute("ROLLBACK")
    finally:
        other.close()
    ask(store, text="after the lock")
    assert store.healthy
    assert [g.text for g in store.gaps()] == ["after the lock", "before the lock"]


def test_corrupt_file_is_moved_aside_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"this is certainly not an SQLite database\x00\xff" * 200
    (tmp_path / DB_NAME).write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        s = Storage.open(tmp_path)
    try:
        assert s.healthy
        (aside,) = tmp_path.glob(DB_NAME + ".corrupt-*")
        assert aside.read_bytes() == garbage  # kept for inspection, never deleted
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "corrupt" in errors[0].getMessage()
        assert aside.name in errors[0].getMessage()
        ask(s, text="works again")
        assert [g.text for g in s.gaps()] == ["works again"]
    finally:
        s.close()


def test_corrupt_file_twice_keeps_both_copies(tmp_path: Path) -> None:
    for _ in range(2):
        (tmp_path / DB_NAME).write_bytes(b"garbage" * 1000)
        Storage.open(tmp_path).close()
    assert len(list(tmp_path.glob(DB_NAME + ".corrupt-*"))) == 2


class FullDiskConnection:
    """Wraps a real connection; every statement fails the way a full disk makes it fail."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.calls = 0

    def execute(self, *args: object, **kwargs: object) -> sqlite3.Cursor:
        self.calls += 1
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_full_disk_is_logged_once_and_never_raises(
    store: Storage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ask(store, text="stored before the disk filled up")
    full = FullDiskConnection(store._conn)  # type: ignore[arg-type]
    monkeypatch.setattr(store, "_conn", full)
    with caplog.at_level(logging.DEBUG, logger="bot.storage"):
        for i in range(5):
            ask(store, text=f"SECRET-{i}")
            store.record_feedback("e", helpful=True)
        assert store.gaps() == []
        assert store.stats(now=NOW) == Stats(days=7)
        assert store.prune(now=NOW) == 0
        assert not store.healthy
        store.close()  # the checkpoint fails too; the connection still gets closed
    assert full.calls >= 10
    warned = warnings_from_storage(caplog)
    assert len(warned) == 1
    assert "database or disk is full" in warned[0].getMessage()
    assert "OperationalError" in warned[0].getMessage()
    assert "SECRET" not in caplog.text
    assert not store.healthy


def test_different_failures_are_each_logged_once(
    store: Storage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Failing(FullDiskConnection):
        message = "database or disk is full"

        def execute(self, *args: object, **kwargs: object) -> sqlite3.Cursor:
            raise sqlite3.OperationalError(self.message)

    failing = Failing(store._conn)  # type: ignore[arg-type]
    monkeypatch.setattr(store, "_conn", failing)
    with caplog.at_level(logging.DEBUG, logger="bot.storage"):
        ask(store)
        ask(store)
        failing.message = "disk I/O error"
        ask(store)
        ask(store)
    warned = [r.getMessage() for r in warnings_from_storage(caplog)]
    assert len(warned) == 2
    assert "database or disk is full" in warned[0]
    assert "disk I/O error" in warned[1]
    monkeypatch.setattr(store, "_conn", failing._conn)
    ask(store, text="recovered")
    assert store.healthy


def test_close_is_idempotent_and_checkpoints(store: Storage, tmp_path: Path) -> None:
    ask(store, text="checkpointed")
    store.close()
    store.close()
    assert not store.healthy
    assert not (tmp_path / (DB_NAME + "-wal")).exists() or (
        (tmp_path / (DB_NAME + "-wal")).stat().st_size == 0
    )
    assert b"checkpointed" in (tmp_path / DB_NAME).read_bytes()
    ask(store)  # after close: a silent no-op
    assert store.gaps() == []


def test_context_manager_closes(tmp_path: Path) -> None:
    with Storage.open(tmp_path) as s:
        ask(s)
        assert s.healthy
    assert not s.healthy
