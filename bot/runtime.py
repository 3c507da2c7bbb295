"""The live knowledge base: loaded and verified on the side, then swapped in whole.

A question reads `runtime.current` once and uses that snapshot to the end, so every
answer comes from one consistent knowledge base even while a reload is under way. A
broken knowledge base never replaces a working one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge import KnowledgeBase, KnowledgeError, KnowledgeLoadError, load_knowledge
from bot.knowledge.loader import knowledge_files
from bot.matcher import Matcher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A knowledge base and the index built from it: always used together."""

    kb: KnowledgeBase
    matcher: Matcher


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: the version now serving, or the errors that kept the old one."""

    ok: bool
    snapshot: Snapshot
    errors: tuple[KnowledgeError, ...] = ()
    changed: bool = True


def build_snapshot(root: Path) -> Snapshot:
    """Load, verify and index a knowledge folder (raises KnowledgeLoadError)."""
    kb = load_knowledge(root)
    return Snapshot(kb=kb, matcher=Matcher.from_knowledge(kb))


class KnowledgeRuntime:
    """Holds the snapshot in service and replaces it atomically on a good reload."""

    def __init__(self, root: Path, snapshot: Snapshot) -> None:
        self.root = root
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._fingerprint = self._files_fingerprint()

    @classmethod
    def load(cls, root: Path) -> KnowledgeRuntime:
        """Load the first knowledge base; there is nothing to fall back on, so errors raise."""
        snapshot = build_snapshot(root)
        log_version("loaded", snapshot)
        return cls(root, snapshot)

    @property
    def current(self) -> Snapshot:
        """The snapshot in service (read once per question)."""
        return self._snapshot

    def reload(self) -> ReloadResult:
        """Load the folder again; swap only if it is valid. Never raises for bad content."""
        with self._lock:  # two reloads at once would race on the fingerprint
            fingerprint = self._files_fingerprint()
            try:
                snapshot = build_snapshot(self.root)
            except KnowledgeLoadError as exc:
                self._fingerprint = fingerprint
                for error in exc.errors:
                    logger.error("knowledge reload rejected: %s", error.format(self.root.parent))
                logger.warning(
                    "kept knowledge base %s after %d problem(s)",
                    self._snapshot.kb.version,
                    len(exc.errors),
                )
                return ReloadResult(False, self._snapshot, tuple(exc.errors), changed=False)
            changed = snapshot.kb.version != self._snapshot.kb.version
            self._snapshot = snapshot
            self._fingerprint = fingerprint
        log_version("reloaded", snapshot)
        return ReloadResult(True, snapshot, changed=changed)

    def _files_fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        try:
            return tuple(
                (str(p), p.stat().st_mtime_ns, p.stat().st_size)
                for p in knowledge_files(self.root)
            )
        except OSError:
            return ()

    def files_changed(self) -> bool:
        """Tell whether any knowledge file changed since the last load attempt (cheap stat)."""
        return self._files_fingerprint() != self._fingerprint


def log_version(action: str, snapshot: Snapshot) -> None:
    """Log which knowledge base serves: content hash, git commit, counts."""
    kb = snapshot.kb
    logger.info(
        "knowledge base %s: version %s, %d entries, %d en / %d ru questions",
        action,
        kb.version,
        kb.stats.entries,
        kb.stats.questions_en,
        kb.stats.questions_ru,
    )
