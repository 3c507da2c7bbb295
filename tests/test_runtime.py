"""KnowledgeRuntime: good reloads swap atomically, bad ones keep the old base, edits are seen."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from kb_edits import ABOUT, EXTRA_QUESTION, MARKER, about_entry, broken, copy_knowledge, edited

import bot.runtime as runtime_module
from bot.runtime import KnowledgeRuntime, Snapshot

WAIT = 30.0  # a safety net for the threaded test, not a timing assertion


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the shipped knowledge base, taken once: others may be editing the original."""
    return copy_knowledge(tmp_path_factory.mktemp("pristine") / "knowledge")


@pytest.fixture
def kb_dir(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(pristine, target)
    return target


@pytest.fixture(scope="module")
def first_load(pristine: Path) -> Snapshot:
    """The pristine knowledge base, loaded once and shared by the tests that start from it."""
    return KnowledgeRuntime.load(pristine).current


@pytest.fixture
def runtime(kb_dir: Path, first_load: Snapshot) -> KnowledgeRuntime:
    return KnowledgeRuntime(kb_dir, first_load)


def answer_en(snapshot: Snapshot, entry_id: str) -> str:
    entry = snapshot.kb.entry(entry_id)
    assert entry is not None
    return entry.answer.get("en")


# --------------------------------------------------------------------------------------------
# Reloading


def test_good_reload_swaps_in_the_new_knowledge(runtime: KnowledgeRuntime, kb_dir: Path) -> None:
    entry_id = about_entry(kb_dir)[0]
    before = runtime.current
    path = kb_dir / ABOUT
    path.write_text(edited(path.read_text(encoding="utf-8")), encoding="utf-8")

    result = runtime.reload()

    assert result.ok
    assert result.changed
    assert result.errors == ()
    assert runtime.current is result.snapshot
    assert result.snapshot is not before
    assert MARKER in answer_en(runtime.current, entry_id)
    assert runtime.current.matcher.match(EXTRA_QUESTION, "en").entry_id == entry_id
    assert runtime.current.kb.version != before.kb.version
    assert MARKER not in answer_en(before, entry_id)  # a snapshot never changes once served


def test_reload_without_edits_swaps_an_identical_version(runtime: KnowledgeRuntime) -> None:
    before = runtime.current
    result = runtime.reload()
    assert result.ok
    assert not result.changed
    assert runtime.current.kb.version == before.kb.version


def test_broken_reload_keeps_the_old_knowledge_and_locates_the_error(
    runtime: KnowledgeRuntime, kb_dir: Path
) -> None:
    before = runtime.current
    path = kb_dir / ABOUT
    text, line = broken(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")

    result = runtime.reload()

    assert not result.ok
    assert not result.changed
    assert result.snapshot is before
    assert runtime.current is before
    assert result.errors
    assert any(e.file.name == "about.yaml" and e.line == line for e in result.errors)
    assert (
        result.errors[0].format(kb_dir.parent).startswith(f"knowledge/entries/about.yaml:{line}:")
    )


def test_a_loader_crash_is_a_rejected_reload_not_an_exception(
    runtime: KnowledgeRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    before = runtime.current

    def crash(root: Path) -> Snapshot:
        raise RuntimeError("matcher bug")

    monkeypatch.setattr(runtime_module, "build_snapshot", crash)
    with caplog.at_level(logging.ERROR, logger="bot.runtime"):
        result = runtime.reload()

    assert not result.ok
    assert runtime.current is before
    assert [e.message for e in result.errors] == [
        "internal error while loading: RuntimeError: matcher bug"
    ]
    assert "failed unexpectedly" in caplog.text


def test_first_load_of_a_broken_folder_raises(kb_dir: Path) -> None:
    path = kb_dir / ABOUT
    path.write_text(broken(path.read_text(encoding="utf-8"))[0], encoding="utf-8")
    with pytest.raises(runtime_module.KnowledgeLoadError):
        KnowledgeRuntime.load(kb_dir)


# --------------------------------------------------------------------------------------------
# Noticing edits (what the file watcher polls)


def test_files_changed_sees_edits_until_the_next_load_attempt(
    runtime: KnowledgeRuntime, kb_dir: Path
) -> None:
    path = kb_dir / ABOUT
    original = path.read_text(encoding="utf-8")
    assert not runtime.files_changed()

    path.write_text(edited(original), encoding="utf-8")
    assert runtime.files_changed()
    assert runtime.reload().ok
    assert not runtime.files_changed()

    path.write_text(broken(original)[0], encoding="utf-8")
    assert runtime.files_changed()
    assert not runtime.reload().ok
    assert not runtime.files_changed()  # a failed attempt counts: no retry until the next edit


def test_same_size_edit_is_seen_through_the_mtime(runtime: KnowledgeRuntime, kb_dir: Path) -> None:
    path = kb_dir / ABOUT
    text = path.read_text(encoding="utf-8")
    stat = path.stat()
    path.write_text(text.replace("Who are you?", "Who are yoU?", 1), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == stat.st_size
    assert runtime.files_changed()


@pytest.mark.parametrize("change", ["add", "remove"])
def test_added_and_removed_files_are_seen(
    runtime: KnowledgeRuntime, kb_dir: Path, change: str
) -> None:
    if change == "add":
        (kb_dir / "entries" / "zz-new.yaml").write_text("entries: []\n", encoding="utf-8")
    else:
        next((kb_dir / "entries").glob("*.yaml")).unlink()
    assert runtime.files_changed()


def test_an_edit_made_while_the_first_load_runs_is_not_missed(
    kb_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kb_dir / ABOUT
    real_build = runtime_module.build_snapshot

    def build_then_edit(root: Path) -> Snapshot:
        snapshot = real_build(root)
        path.write_text(edited(path.read_text(encoding="utf-8")), encoding="utf-8")
        return snapshot

    monkeypatch.setattr(runtime_module, "build_snapshot", build_then_edit)
    runtime = KnowledgeRuntime.load(kb_dir)
    assert MARKER not in answer_en(runtime.current, about_entry(kb_dir)[0])
    assert runtime.files_changed()  # so the watcher will load the edit


# --------------------------------------------------------------------------------------------
# Readers during reloads


def test_concurrent_readers_always_see_a_complete_snapshot(
    runtime: KnowledgeRuntime, kb_dir: Path
) -> None:
    """Readers never see a knowledge base paired with another one's index, nor a torn one."""
    entry_id = about_entry(kb_dir)[0]
    path = kb_dir / ABOUT
    texts = [path.read_text(encoding="utf-8")]
    texts.append(edited(texts[0]))
    entries = runtime.current.kb.stats.entries
    done = threading.Event()
    cond = threading.Condition()
    seen: list[set[str]] = [set() for _ in range(4)]
    problems: list[str] = []

    def read(slot: int) -> None:
        while not done.is_set():
            snapshot = runtime.current
            marked = MARKER in answer_en(snapshot, entry_id)
            indexed = any(
                question == EXTRA_QUESTION
                for _, entry, question in snapshot.matcher.stored_questions("en")
                if entry == entry_id
            )
            if marked != indexed:
                problems.append(f"{snapshot.kb.version}: answer {marked}, index {indexed}")
            if snapshot.kb.stats.entries != entries:
                problems.append(f"{snapshot.kb.version}: {snapshot.kb.stats.entries} entries")
            with cond:
                seen[slot].add(snapshot.kb.version.content_hash)
                cond.notify_all()

    readers = [threading.Thread(target=read, args=(slot,)) for slot in range(len(seen))]
    for reader in readers:
        reader.start()
    try:
        for round_number in range(4):
            path.write_text(texts[(round_number + 1) % 2], encoding="utf-8")
            result = runtime.reload()
            assert result.ok
            assert result.changed
            version = result.snapshot.kb.version.content_hash
            deadline = time.monotonic() + WAIT
            with cond:  # every reader must have served this version before the next swap
                while not all(version in versions for versions in seen):
                    assert cond.wait(deadline - time.monotonic()), "a reader stopped reading"
    finally:
        done.set()
        for reader in readers:
            reader.join(WAIT)
    assert problems == []
    assert all(len(versions) == 2 for versions in seen)
