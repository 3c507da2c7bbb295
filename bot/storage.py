"""Anonymous, failure-tolerant persistence: knowledge gaps, daily counters and feedback.

Why this module exists: maintainers need to know which questions the knowledge base cannot
answer yet and which entries people find useful, without ever building a record of *who*
asked. So the API has no parameter that could carry a Telegram user, chat or message id,
question texts are scrubbed of contact details before they touch the disk, and everything
expires after ``retention_days``.

Why it never raises: statistics are a side job. A full disk, a locked or corrupt file or a
read-only directory must not stop the bot from answering, so every public method catches
storage errors, logs each kind once and carries on (reads then return empty results).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

OUTCOMES: frozenset[str] = frozenset({"answered", "clarify", "unknown"})
"""Outcomes the counters know; only ``clarify`` and ``unknown`` keep the question text."""

GAP_OUTCOMES: frozenset[str] = frozenset({"clarify", "unknown"})
# bot.matcher calls a confident match "answer"; the counter column is "answered".
_OUTCOME_ALIASES: dict[str, str] = {"answer": "answered"}
MAX_TEXT_CHARS = 500
BATCH_LINGER = 0.05  # seconds BackgroundStorage waits for more writes to store with the first
BUSY_TIMEOUT_MS = 1000  # Short on purpose: waiting longer would stall the bot's answers.
PRUNE_EVERY = 500  # Gap inserts between automatic prunes, so the table cannot grow unbounded.
TOP_ENTRIES = 10

# Errors a storage call may hit and must swallow. ValueError/TypeError cover a caller passing
# e.g. a non-numeric score: statistics are not worth a failed answer either.
_STORAGE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, ValueError, TypeError)

# --------------------------------------------------------------------------------------------
# Schema. Migration N (1-based) brings a file from user_version N-1 to N, in one transaction.
# A v2 is one more line at the end, e.g. ("ALTER TABLE gaps ADD COLUMN topic TEXT",),
# Never edit a migration that has shipped: files in the field are already past it.
# No table has, or may ever get, a column for user, chat, username or message ids.
# --------------------------------------------------------------------------------------------
Migration = tuple[str, ...]

_MIGRATIONS: tuple[Migration, ...] = (
    (  # v1: gaps with scrubbed text, per-day counters, per-day feedback.
        "CREATE TABLE IF NOT EXISTS gaps ("
        " id INTEGER PRIMARY KEY,"
        " asked_at TEXT NOT NULL,"
        " lang TEXT NOT NULL,"
        " outcome TEXT NOT NULL,"
        " text TEXT NOT NULL,"
        " best_entry TEXT,"
        " score REAL NOT NULL)",
        "CREATE INDEX IF NOT EXISTS gaps_asked_at ON gaps(asked_at)",
        "CREATE TABLE IF NOT EXISTS daily_counts ("
        " day TEXT NOT NULL, lang TEXT NOT NULL,"
        " questions INTEGER NOT NULL DEFAULT 0, answered INTEGER NOT NULL DEFAULT 0,"
        " clarify INTEGER NOT NULL DEFAULT 0, unknown INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (day, lang)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS entry_answers ("
        " day TEXT NOT NULL, entry_id TEXT NOT NULL, answers INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (day, entry_id)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS feedback ("
        " day TEXT NOT NULL, entry_id TEXT NOT NULL,"
        " up INTEGER NOT NULL DEFAULT 0, down INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (day, entry_id)) WITHOUT ROWID",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)

# Counter upserts per outcome, spelled out so no SQL is ever assembled from values.
# "" is for outcomes the counters do not know: they still count as a question.
_UPSERT_COUNTS = (
    "INSERT INTO daily_counts (day, lang, questions{0}) VALUES (?, ?, 1{1})"
    " ON CONFLICT (day, lang) DO UPDATE SET questions = questions + 1{2}"
)
_COUNT_SQL: dict[str, str] = {
    "answered": _UPSERT_COUNTS.format(", answered", ", 1", ", answered = answered + 1"),
    "clarify": _UPSERT_COUNTS.format(", clarify", ", 1", ", clarify = clarify + 1"),
    "unknown": _UPSERT_COUNTS.format(", unknown", ", 1", ", unknown = unknown + 1"),
    "": _UPSERT_COUNTS.format("", "", ""),
}
_FEEDBACK_SQL: dict[bool, str] = {
    True: "INSERT INTO feedback (day, entry_id, up) VALUES (?, ?, 1)"
    " ON CONFLICT (day, entry_id) DO UPDATE SET up = up + 1",
    False: "INSERT INTO feedback (day, entry_id, down) VALUES (?, ?, 1)"
    " ON CONFLICT (day, entry_id) DO UPDATE SET down = down + 1",
}

# Batched writes add up a whole batch first: one upsert per (day, lang) or (day, entry) with
# the sums, the same rows as one upsert per question, in far fewer statements.
_ADD_COUNTS_SQL = (
    "INSERT INTO daily_counts (day, lang, questions, answered, clarify, unknown)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, lang) DO UPDATE SET"
    " questions = questions + excluded.questions, answered = answered + excluded.answered,"
    " clarify = clarify + excluded.clarify, unknown = unknown + excluded.unknown"
)
_ADD_ANSWERS_SQL = (
    "INSERT INTO entry_answers (day, entry_id, answers) VALUES (?, ?, ?)"
    " ON CONFLICT (day, entry_id) DO UPDATE SET answers = answers + excluded.answers"
)
_ADD_FEEDBACK_SQL = (
    "INSERT INTO feedback (day, entry_id, up, down) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (day, entry_id) DO UPDATE SET up = up + excluded.up, down = down + excluded.down"
)
_INSERT_GAP_SQL = (
    "INSERT INTO gaps (asked_at, lang, outcome, text, best_entry, score) VALUES (?, ?, ?, ?, ?, ?)"
)
_COUNT_COLUMNS = {"answered": 1, "clarify": 2, "unknown": 3}  # index in (q, a, c, u)


@dataclass(frozen=True)
class _QuestionRow:
    """A validated, scrubbed question, ready to be counted (and kept, if it is a gap)."""

    moment: datetime
    lang: str
    outcome: str
    entry_id: str | None
    score: float
    gap_text: str | None


@dataclass(frozen=True)
class _FeedbackRow:
    moment: datetime
    entry_id: str
    helpful: bool


_Row = _QuestionRow | _FeedbackRow

# --------------------------------------------------------------------------------------------
# Scrubbing
# --------------------------------------------------------------------------------------------
_TRAILING_PUNCT = ".,;:!?)]}'\"»…"
_URL_RE = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.|\b(?:t|telegram)\.me/)[^\s<>\"«»]*"
    r"|(?<![\w.-])[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}/[^\s<>\"«»]*",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# Anything glued to an "@" is treated as a handle: "me@tess_tester" must not leak either.
_HANDLE_RE = re.compile(r"@\w(?:[\w.]*\w)?")
_SEP = " \u00a0\u2009\u202f"  # space, no-break space, thin spaces (thousands separators)
# A run of digits with phone-style separators; judged by _scrub_number, not by the regex.
_NUMBER_RE = re.compile(rf"(?:\+[{_SEP}]?)?(?:\(\d{{1,5}}\)[{_SEP}\-]*)?\d(?:[\d{_SEP}()\-–]*\d)?")
_THOUSANDS_RE = re.compile(rf"\d{{1,3}}(?:[{_SEP}]\d{{3}})+")
_YEAR = r"(?:19|20)\d\d"
_YEAR_RANGE_RE = re.compile(rf"{_YEAR}(?:[{_SEP}]*[-–][{_SEP}]*{_YEAR})+")
_DATE_RE = re.compile(rf"{_YEAR}-\d\d-\d\d|\d\d-\d\d-{_YEAR}")
_YEAR_RE = re.compile(_YEAR)
_TOKEN_RE = re.compile(rf"[^{_SEP}]+")
_RANGE_SPLIT_RE = re.compile(rf"(?<![{_SEP}])[{_SEP}]*[-–][{_SEP}]*")
_PHONE_CHARS = "0123456789()+-–" + _SEP
# Telegram caps messages at 4096 characters; longer input is cut before the regexes run.
_MAX_SCRUB_INPUT = 4096
_MIN_PHONE_DIGITS = 7


def _strip_url(match: re.Match[str]) -> str:
    """Replace a URL but keep sentence punctuation that merely follows it."""
    url = match.group()
    core = url.rstrip(_TRAILING_PUNCT)
    return "<url>" + url[len(core) :]


def _is_figure(number: str) -> bool:
    """True for numbers people write in questions: 1 000 000, 2014–2022, 100 000–150 000."""
    if _THOUSANDS_RE.fullmatch(number) or _YEAR_RANGE_RE.fullmatch(number):
        return True
    if _DATE_RE.fullmatch(number):
        return True
    parts = _RANGE_SPLIT_RE.split(number)
    return (
        len(parts) > 1
        and all(_THOUSANDS_RE.fullmatch(p) or (p.isdigit() and len(p) <= 3) for p in parts)
        and any(_THOUSANDS_RE.fullmatch(p) for p in parts)
    )


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _scrub_number(number: str) -> str:
    """Decide whether a digit run is a phone number (or other long id) or a figure to keep."""
    if _digits(number) < _MIN_PHONE_DIGITS:
        return number
    if number.startswith("+"):
        return "<phone>"
    if _is_figure(number):
        return number
    # "в 2022 300 000 человек": years glued to a figure by spaces are not a phone either,
    # but "2022 89123456789" still hides the phone. Peel years off both ends, judge the rest.
    spans = [m.span() for m in _TOKEN_RE.finditer(number)]
    first, last = 0, len(spans)
    while last - first > 1 and _YEAR_RE.fullmatch(number[slice(*spans[first])]):
        first += 1
    while last - first > 1 and _YEAR_RE.fullmatch(number[slice(*spans[last - 1])]):
        last -= 1
    if (first, last) == (0, len(spans)):
        return "<phone>"
    start, end = spans[first][0], spans[last - 1][1]
    middle = number[start:end]
    if _digits(middle) >= _MIN_PHONE_DIGITS and not _is_figure(middle):
        middle = "<phone>"
    return number[:start] + middle + number[end:]


def scrub(text: str) -> str:
    """Remove contact details from a question before it is stored, and cap its length.

    Why: gap texts exist to improve the knowledge base, not to identify people. URLs, e-mail
    addresses, @handles and phone numbers (any run of 7+ digits with phone separators, which
    also catches passport, INN and SNILS numbers) become placeholders; years, dates and
    figures such as 2022, 300,000, 1 000 000 or 3.6% stay. The cap is applied after scrubbing
    so that a cut can never leave half a phone number behind.
    """
    if len(text) > _MAX_SCRUB_INPUT:
        # Whatever straddles the cut is incomplete and cannot be judged, so it goes.
        text = text[:_MAX_SCRUB_INPUT]
        cut = max(text.rfind(ch) for ch in " \t\n\r")
        text = text[: max(cut, 0)].rstrip(_PHONE_CHARS)
    text = _URL_RE.sub(_strip_url, text)
    text = _EMAIL_RE.sub("<email>", text)
    text = _HANDLE_RE.sub("<handle>", text)
    text = _NUMBER_RE.sub(lambda m: _scrub_number(m.group()), text)
    return text.strip()[:MAX_TEXT_CHARS].rstrip()


# --------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gap:
    """A question the bot could not answer confidently, for maintainers to fill the gap."""

    text: str
    lang: str
    outcome: str
    best_entry: str | None
    score: float
    asked_at: datetime


@dataclass(frozen=True)
class Stats:
    """Aggregates over the last ``days`` UTC days, for the admin /stats command."""

    days: int
    questions: int = 0
    answered: int = 0
    clarify: int = 0
    unknown: int = 0
    by_lang: dict[str, dict[str, int]] = field(default_factory=dict)
    top_entries: list[tuple[str, int]] = field(default_factory=list)
    feedback: dict[str, tuple[int, int]] = field(default_factory=dict)  # entry -> (up, down)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so text order is time order


def _utc(now: datetime | None) -> datetime:
    """Normalise to aware UTC; naive datetimes are taken to be UTC already."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _ts(moment: datetime) -> str:
    return moment.strftime(_TS_FORMAT)


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


class _CorruptError(sqlite3.DatabaseError):
    """PRAGMA quick_check found damage that SQLite did not report as an error code."""


def _is_corruption(exc: sqlite3.Error) -> bool:
    """True when SQLite says the file is not (or no longer) a usable database."""
    if isinstance(exc, _CorruptError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


class _NewerSchemaError(sqlite3.DatabaseError):
    """The file was written by a newer returnbot; touching it could lose data."""


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite does it with the umask's mode."""
    if path.exists():
        return
    flags = os.O_CREAT | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, flags | os.O_EXCL, 0o600))


def _connect(path: Path) -> sqlite3.Connection:
    """Open and configure one connection; the pragmas are what keep writes quick and safe."""
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves: one small transaction each
        check_same_thread=False,  # guarded by Storage._lock instead
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("storage: SQLite refused WAL mode (got %s); continuing", mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        # Pruned question texts are overwritten on disk, not merely unlinked from the b-tree.
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA journal_size_limit = 4194304")
        check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise _CorruptError(f"quick_check failed: {check}")
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations in order, each atomically together with its user_version.

    An up-to-date file needs no write lock at all, so opening stays quick even while another
    process (the admin CLI, say) is writing.
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(_MIGRATIONS):
        raise _NewerSchemaError(
            f"schema version {current} is newer than this code's {len(_MIGRATIONS)}"
        )
    for target in range(current + 1, len(_MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            if conn.execute("PRAGMA user_version").fetchone()[0] < target:
                for statement in _MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise


def _move_aside(path: Path, moment: datetime) -> Path:
    """Rename a corrupt database (and its WAL/SHM) so it can be inspected, never deleted."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(aside)
    # A stale WAL next to a fresh file would be replayed into it, so it goes along too.
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------
def _operation(row: _Row) -> str:
    """The public method a row came from, as failure logs name it."""
    return "record_question" if isinstance(row, _QuestionRow) else "record_feedback"


class Storage:
    """SQLite-backed statistics that degrade to a no-op instead of failing the bot.

    Create it with :meth:`open`. All public methods are safe to call from any thread (one
    connection behind a lock) and none of them raises on storage failures.
    """

    def __init__(
        self,
        conn: sqlite3.Connection | None,
        *,
        path: Path | None = None,
        retention_days: int = 90,
        max_rows: int = 10_000,
    ) -> None:
        self._conn = conn
        self._path = path
        self._retention_days = max(1, int(retention_days))
        self._max_rows = max(1, int(max_rows))
        self._lock = threading.RLock()
        self._logged: set[tuple[str, str]] = set()
        self._healthy = conn is not None
        self._inserts_since_prune = 0
        self._local = threading.local()  # the open batch() of each thread, if any

    # ----------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        data_dir: Path | None,
        *,
        retention_days: int = 90,
        max_rows: int = 10_000,
        filename: str = "returnbot.sqlite3",
    ) -> Storage:
        """Open (creating and migrating as needed) the database, or return disabled storage.

        ``data_dir=None`` means "do not store anything". Any failure to get a working file
        (missing or read-only directory, locked file, newer schema) also yields disabled
        storage, logged once, because the bot must start regardless. A corrupt file is moved
        aside to ``<name>.corrupt-<timestamp>`` and replaced by a fresh one.
        """
        if data_dir is None:
            logger.info("storage: no data directory configured; statistics are not kept")
            return cls(None, retention_days=retention_days, max_rows=max_rows)
        path = Path(data_dir) / filename
        conn: sqlite3.Connection | None = None
        try:
            Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_private(path)
            try:
                conn = _connect(path)
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                aside = _move_aside(path, datetime.now(UTC))
                logger.error(
                    "storage: %s is corrupt (%s: %s); moved it to %s and started a fresh "
                    "database. Old statistics are in the moved file.",
                    path,
                    type(exc).__name__,
                    exc,
                    aside,
                )
                _create_private(path)
                conn = _connect(path)
        except (sqlite3.Error, OSError) as exc:
            logger.error(
                "storage: cannot use %s (%s: %s); running without statistics",
                path,
                type(exc).__name__,
                exc,
            )
            return cls(None, path=path, retention_days=retention_days, max_rows=max_rows)
        storage = cls(conn, path=path, retention_days=retention_days, max_rows=max_rows)
        storage.prune()
        return storage

    # ---------------------------------------------------------------------------- plumbing
    @property
    def healthy(self) -> bool:
        """Whether storage is enabled and its most recent operation succeeded."""
        return self._conn is not None and self._healthy

    @property
    def path(self) -> Path | None:
        """The database file, for admin messages; None when no directory was configured."""
        return self._path

    def _log_once(self, kind: tuple[str, str], message: str, *args: object) -> None:
        """Warn the first time a kind of problem occurs; repeats go to DEBUG, not the journal."""
        with self._lock:
            repeat = kind in self._logged
            self._logged.add(kind)
        logger.log(logging.DEBUG if repeat else logging.WARNING, message, *args)

    def _failed(self, operation: str, exc: BaseException) -> None:
        """Record a storage failure; logged once per kind (class + message), never user text."""
        self._healthy = False
        self._log_once(
            (type(exc).__name__, str(exc)),
            "storage: %s failed (%s: %s); the bot carries on without it",
            operation,
            type(exc).__name__,
            exc,
        )

    def _run(
        self,
        operation: str,
        work: Callable[[sqlite3.Connection], T],
        default: T,
        *,
        write: bool,
    ) -> T:
        """Run ``work`` in one short transaction; on any storage error log and return default."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return default
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
            except _STORAGE_ERRORS as exc:
                self._failed(operation, exc)
                return default
            self._healthy = True
            return result

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.rollback()
        except sqlite3.Error as exc:
            self._failed("rollback", exc)

    # ------------------------------------------------------------------------------ writes
    def record_question(
        self,
        *,
        lang: str,
        outcome: str,
        entry_id: str | None,
        score: float,
        text: str | None,
        now: datetime | None = None,
    ) -> None:
        """Count a question; keep its scrubbed text only when the bot could not answer it.

        ``outcome`` is "answered" (or the matcher's "answer"), "clarify" or "unknown"; other
        values only count as a question. ``entry_id`` is the answered entry, or the best
        candidate for a gap. ``text=None`` counts the question without keeping a gap.
        ``now`` exists for tests. Inside :meth:`batch` the write waits
        for the end of the batch.
        """
        try:
            moment = _utc(now)
            lang = str(lang)[:16]
            outcome = str(outcome)[:16]
            outcome = _OUTCOME_ALIASES.get(outcome, outcome)
            value = float(score)
            value = min(100.0, max(0.0, value)) if math.isfinite(value) else 0.0
            # No text, no gap: the caller decided there is nothing to learn from (small talk).
            gap_text = scrub(text) if outcome in GAP_OUTCOMES and text is not None else None
        except (ValueError, TypeError) as exc:
            self._failed("record_question", exc)
            return
        if outcome not in OUTCOMES:
            self._log_once(
                ("outcome", outcome),
                "storage: unexpected outcome %r is only counted as a question",
                outcome,
            )
        self._store(
            _QuestionRow(moment, lang, outcome, entry_id and str(entry_id), value, gap_text)
        )

    def record_feedback(
        self, entry_id: str, *, helpful: bool, now: datetime | None = None
    ) -> None:
        """Count an anonymous 👍 or 👎 for an entry (per day), to find answers that mislead."""
        try:
            row = _FeedbackRow(_utc(now), str(entry_id), bool(helpful))
        except (ValueError, TypeError) as exc:
            self._failed("record_feedback", exc)
            return
        self._store(row)

    def _store(self, row: _Row) -> None:
        """Write one row now, or add it to this thread's open batch."""
        pending = getattr(self._local, "batch", None)
        if pending is not None:
            pending.append(row)
        else:
            self._write(_operation(row), [row])

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Collect this thread's writes and store them together, in one transaction, at the end.

        Why: every SQLite statement releases and retakes the interpreter lock, so a writer
        thread doing one small transaction per question keeps taking the lock from the event
        loop. Adding a batch up first turns ~4 statements per question into a handful per
        batch. The stored rows are the same as with one call at a time; if the batch cannot
        be stored in one go, each write is tried on its own, as it would have been. Nested
        batches join the outer one.
        """
        if getattr(self._local, "batch", None) is not None:
            yield
            return
        rows: list[_Row] = []
        self._local.batch = rows
        try:
            yield
        finally:
            self._local.batch = None
            self.record_many(rows)

    def record_many(self, rows: Sequence[_Row]) -> None:
        """Store prepared writes in one transaction; on failure, one transaction per write."""
        if not rows:
            return
        if len(rows) == 1:
            self._write(_operation(rows[0]), rows)
            return
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    gaps = self._write_rows(conn, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
            except _STORAGE_ERRORS:
                # Fall back to the one-at-a-time behaviour, failures logged once per kind.
                gaps = None
        if gaps is None:
            for row in rows:
                self._write(_operation(row), [row])
            return
        self._healthy = True
        self._count_gaps(gaps, rows[-1].moment)

    def _write(self, operation: str, rows: Sequence[_Row]) -> None:
        """Store rows in one transaction of their own (failures are logged, never raised)."""
        gaps = self._run(operation, lambda conn: self._write_rows(conn, rows), 0, write=True)
        self._count_gaps(gaps, rows[-1].moment)

    def _count_gaps(self, gaps: int, moment: datetime) -> None:
        """Prune every PRUNE_EVERY stored gaps, so the table cannot grow unbounded."""
        if not gaps:
            return
        with self._lock:
            self._inserts_since_prune += gaps
            due = self._inserts_since_prune >= PRUNE_EVERY
        if due:
            self.prune(now=moment)

    @staticmethod
    def _write_rows(conn: sqlite3.Connection, rows: Sequence[_Row]) -> int:
        """Add up the rows' counters, insert their gaps in order; return the gaps inserted."""
        counts: dict[tuple[str, str], list[int]] = {}
        answers: dict[tuple[str, str], int] = {}
        feedback: dict[tuple[str, str], list[int]] = {}
        gaps: list[tuple[str, str, str, str, str | None, float]] = []
        for row in rows:
            day = _day(row.moment)
            if isinstance(row, _FeedbackRow):
                votes = feedback.setdefault((day, row.entry_id), [0, 0])
                votes[0 if row.helpful else 1] += 1
                continue
            totals = counts.setdefault((day, row.lang), [0, 0, 0, 0])
            totals[0] += 1
            column = _COUNT_COLUMNS.get(row.outcome)
            if column is not None:
                totals[column] += 1
            if row.outcome == "answered" and row.entry_id:
                answers[(day, row.entry_id)] = answers.get((day, row.entry_id), 0) + 1
            if row.gap_text is not None:
                gaps.append(
                    (_ts(row.moment), row.lang, row.outcome, row.gap_text, row.entry_id, row.score)
                )
        if counts:
            conn.executemany(_ADD_COUNTS_SQL, [(*key, *n) for key, n in counts.items()])
        if answers:
            conn.executemany(_ADD_ANSWERS_SQL, [(*key, n) for key, n in answers.items()])
        if gaps:
            conn.executemany(_INSERT_GAP_SQL, gaps)
        if feedback:
            conn.executemany(_ADD_FEEDBACK_SQL, [(*key, *n) for key, n in feedback.items()])
        return len(gaps)

    def prune(self, *, now: datetime | None = None) -> int:
        """Enforce retention, because anonymous data should still not be kept forever.

        Drops rows older than retention_days from every table, then the oldest gaps beyond
        max_rows, and returns how many rows went. Runs on open and every PRUNE_EVERY gap
        inserts, so callers need not schedule it.
        """
        moment = _utc(now)
        cutoff = moment - timedelta(days=self._retention_days)

        def work(conn: sqlite3.Connection) -> int:
            deleted = conn.execute("DELETE FROM gaps WHERE asked_at < ?", (_ts(cutoff),)).rowcount
            for table in ("daily_counts", "entry_answers", "feedback"):
                deleted += conn.execute(
                    f"DELETE FROM {table} WHERE day < ?",  # noqa: S608
                    (_day(cutoff),),
                ).rowcount
            deleted += conn.execute(
                "DELETE FROM gaps WHERE id IN (SELECT id FROM gaps"
                " ORDER BY asked_at DESC, id DESC LIMIT -1 OFFSET ?)",
                (self._max_rows,),
            ).rowcount
            return deleted

        with self._lock:
            self._inserts_since_prune = 0
            deleted = self._run("prune", work, 0, write=True)
        if deleted:
            logger.info("storage: pruned %d old rows", deleted)
        return deleted

    # ------------------------------------------------------------------------------- reads
    def gaps(self, *, since: datetime | None = None, limit: int = 1000) -> list[Gap]:
        """Unanswered and clarified questions, newest first, for improving the knowledge base."""
        since_ts = _ts(_utc(since)) if since is not None else ""

        def work(conn: sqlite3.Connection) -> list[Gap]:
            rows = conn.execute(
                "SELECT text, lang, outcome, best_entry, score, asked_at FROM gaps"
                " WHERE asked_at >= ? ORDER BY asked_at DESC, id DESC LIMIT ?",
                (since_ts, max(0, int(limit))),
            ).fetchall()
            return [
                Gap(
                    text=text,
                    lang=lang,
                    outcome=outcome,
                    best_entry=best,
                    score=float(score),
                    asked_at=datetime.strptime(asked, _TS_FORMAT).replace(tzinfo=UTC),
                )
                for text, lang, outcome, best, score, asked in rows
            ]

        return self._run("gaps", work, [], write=False)

    def stats(
        self, *, days: int = 7, now: datetime | None = None, top: int = TOP_ENTRIES
    ) -> Stats:
        """Totals for the last ``days`` UTC days including today: what the admin sees."""
        days = max(1, int(days))
        today: date = _utc(now).date()
        first = (today - timedelta(days=days - 1)).isoformat()
        last = today.isoformat()

        def work(conn: sqlite3.Connection) -> Stats:
            by_lang: dict[str, dict[str, int]] = {}
            for lang, questions, answered, clarify, unknown in conn.execute(
                "SELECT lang, SUM(questions), SUM(answered), SUM(clarify), SUM(unknown)"
                " FROM daily_counts WHERE day BETWEEN ? AND ? GROUP BY lang ORDER BY lang",
                (first, last),
            ):
                by_lang[lang] = {
                    "questions": questions,
                    "answered": answered,
                    "clarify": clarify,
                    "unknown": unknown,
                }
            top_entries = [
                (entry, int(count))
                for entry, count in conn.execute(
                    "SELECT entry_id, SUM(answers) AS n FROM entry_answers"
                    " WHERE day BETWEEN ? AND ? GROUP BY entry_id ORDER BY n DESC, entry_id"
                    " LIMIT ?",
                    (first, last, max(0, int(top))),
                )
            ]
            feedback = {
                entry: (int(up), int(down))
                for entry, up, down in conn.execute(
                    "SELECT entry_id, SUM(up), SUM(down) FROM feedback"
                    " WHERE day BETWEEN ? AND ? GROUP BY entry_id ORDER BY entry_id",
                    (first, last),
                )
            }
            return Stats(
                days=days,
                questions=sum(v["questions"] for v in by_lang.values()),
                answered=sum(v["answered"] for v in by_lang.values()),
                clarify=sum(v["clarify"] for v in by_lang.values()),
                unknown=sum(v["unknown"] for v in by_lang.values()),
                by_lang=by_lang,
                top_entries=top_entries,
                feedback=feedback,
            )

        return self._run("stats", work, Stats(days=days), write=False)

    # ----------------------------------------------------------------------------- closing
    def close(self) -> None:
        """Checkpoint the WAL into the main file and close; safe to call twice.

        The checkpoint matters for privacy as much as durability: pruned rows leave the
        -wal file too.
        """
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                self._failed("close", exc)
            finally:
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    self._failed("close", exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "healthy" if self.healthy else "disabled" if self._conn is None else "failing"
        return f"Storage({self._path!s}, {state})"


# --------------------------------------------------------------------------------------------
# Writes off the event loop
# --------------------------------------------------------------------------------------------
class _Flush(threading.Event):
    """A queued marker: set once every write queued before it is stored."""

    def __call__(self) -> None:
        self.set()


class BackgroundStorage:
    """Storage whose writes run on one worker thread, so the bot never waits for the disk.

    A locked database makes SQLite wait up to its busy timeout; on the event loop that would
    stall every chat. Writes are queued instead (bounded: when full, new ones are dropped and
    that is logged once); reads, which only admins make, first wait for queued writes.
    """

    def __init__(
        self, storage: Storage, *, max_pending: int = 10_000, linger: float = BATCH_LINGER
    ) -> None:
        self.storage = storage
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue(max_pending)
        self._linger = linger
        self._hurry = threading.Event()  # a flush or close is waiting: stop lingering
        self._dropped_logged = False
        self._worker = threading.Thread(target=self._drain, name="storage-writer", daemon=True)
        self._worker.start()

    def _drain(self) -> None:
        """Take every queued job at once; the writes between two flushes form one batch.

        After the first write of a batch the worker lingers briefly, so that a busy bot's
        writes are stored a batch at a time rather than one transaction each (see
        Storage.batch); a flush or close cuts the wait short.
        """
        while True:
            jobs = [self._queue.get()]
            if jobs[0] is not None and not isinstance(jobs[0], _Flush) and self._linger > 0:
                self._hurry.wait(self._linger)
            self._hurry.clear()
            with contextlib.suppress(queue.Empty):
                while True:
                    jobs.append(self._queue.get_nowait())
            try:
                if not self._run_jobs(jobs):
                    return
            finally:
                for _ in jobs:
                    self._queue.task_done()

    def _run_jobs(self, jobs: list[Callable[[], object] | None]) -> bool:
        """Run jobs in order, writes batched up to each flush; False once close was queued."""
        writes: list[Callable[[], object]] = []
        for job in jobs:
            if job is not None and not isinstance(job, _Flush):
                writes.append(job)
                continue
            self._write(writes)
            writes = []
            if job is None:
                return False
            job()
        self._write(writes)
        return True

    def _write(self, writes: list[Callable[[], object]]) -> None:
        if not writes:
            return
        with self.storage.batch():
            for write in writes:
                try:
                    write()
                except Exception:  # Storage never raises; a replaced method might
                    logger.exception("storage: a queued write failed")

    def _submit(self, job: Callable[[], object]) -> None:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            if not self._dropped_logged:
                self._dropped_logged = True
                logger.warning("storage: the write queue is full; dropping statistics")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued writes are done (at most `timeout` seconds)."""
        done = _Flush()
        self._submit(done)
        self._hurry.set()
        return done.wait(timeout)

    def record_question(self, **fields: Any) -> None:
        """Queue Storage.record_question."""
        self._submit(lambda: self.storage.record_question(**fields))

    def record_feedback(self, entry_id: str, *, helpful: bool) -> None:
        """Queue Storage.record_feedback."""
        self._submit(lambda: self.storage.record_feedback(entry_id, helpful=helpful))

    def gaps(self, **options: Any) -> list[Gap]:
        """Storage.gaps, after the queued writes."""
        self.flush()
        return self.storage.gaps(**options)

    def stats(self, **options: Any) -> Stats:
        """Storage.stats, after the queued writes."""
        self.flush()
        return self.storage.stats(**options)

    @property
    def healthy(self) -> bool:
        """Whether the underlying storage works."""
        return self.storage.healthy

    @property
    def path(self) -> Path | None:
        """The database file."""
        return self.storage.path

    def close(self, timeout: float = 5.0) -> None:
        """Finish queued writes (bounded), stop the worker, close the database."""
        if self._worker.is_alive():
            try:
                self._queue.put(None, timeout=timeout)
                self._hurry.set()
            except queue.Full:
                logger.warning("storage: writer still busy at shutdown; closing anyway")
            self._worker.join(timeout)
        self.storage.close()
