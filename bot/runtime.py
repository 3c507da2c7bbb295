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

Fingerprint = tuple[tuple[str, int, int], ...]


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


def files_fingerprint(root: Path) -> Fingerprint:
    """Name, mtime and size of every knowledge file: cheap to take, changes on any edit."""
    try:
        fingerprint = []
        for path in knowledge_files(root):
            stat = path.stat()
            fingerprint.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(fingerprint)
    except OSError:
        return ()


def build_snapshot(root: Path) -> Snapshot:
    """Load, verify and index a knowledge folder (raises KnowledgeLoadError)."""
    kb = load_knowledge(root)
    return Snapshot(kb=kb, matcher=Matcher.from_knowledge(kb))


class KnowledgeRuntime:
    """Holds the snapshot in service and replaces it atomically on a good reload."""

    def __init__(
        self, root: Path, snapshot: Snapshot, *, fingerprint: Fingerprint | None = None
    ) -> None:
        """Serve `snapshot`, loaded from `root`.

        Args:
            root: The knowledge folder that reloads read.
            snapshot: The knowledge base to serve until the first good reload.
            fingerprint: The files' fingerprint taken *before* `snapshot` was loaded, so an
                edit made while it loaded still counts as a change; default: taken now.
        """
        self.root = root
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._fingerprint = self.files_fingerprint() if fingerprint is None else fingerprint

    @classmethod
    def load(cls, root: Path) -> KnowledgeRuntime:
        """Load the first knowledge base; there is nothing to fall back on, so errors raise."""
        fingerprint = files_fingerprint(root)  # before loading: see __init__
        snapshot = build_snapshot(root)
        log_version("loaded", snapshot)
        return cls(root, snapshot, fingerprint=fingerprint)

    @property
    def current(self) -> Snapshot:
        """The snapshot in service (read once per question)."""
        return self._snapshot

    def reload(self) -> ReloadResult:
        """Load the folder again; swap only if it is valid. Never raises for bad content."""
        with self._lock:  # two reloads at once would race on the fingerprint
            fingerprint = self.files_fingerprint()
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
            except Exception as exc:
                # A loader or matcher bug met by some content: that content is as unusable as
                # a typo, and the bot must keep serving the old one (and tell the operator).
                self._fingerprint = fingerprint
                logger.exception(
                    "knowledge reload failed unexpectedly; kept knowledge base %s",
                    self._snapshot.kb.version,
                )
                error = KnowledgeError(
                    self.root, None, f"internal error while loading: {type(exc).__name__}: {exc}"
                )
                return ReloadResult(False, self._snapshot, (error,), changed=False)
            changed = snapshot.kb.version != self._snapshot.kb.version
            self._snapshot = snapshot
            self._fingerprint = fingerprint
        log_version("reloaded", snapshot)
        return ReloadResult(True, snapshot, changed=changed)

    def files_fingerprint(self) -> Fingerprint:
        """The knowledge files' fingerprint now (see the module-level function)."""
        return files_fingerprint(self.root)

    @property
    def loaded_fingerprint(self) -> Fingerprint:
        """The fingerprint taken when the last load or reload attempt began."""
        return self._fingerprint

    def files_changed(self) -> bool:
        """Tell whether any knowledge file changed since the last load attempt (cheap stat)."""
        return self.files_fingerprint() != self._fingerprint


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
