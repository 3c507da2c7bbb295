"""Edits that tests make to a copy of the knowledge base: one valid, one broken.

Shared so that the process, CLI and runtime tests agree on them, and a change to the
layout of entries/about.yaml is adapted here once.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import yaml

from bot.knowledge import default_knowledge_dir

ABOUT = Path("entries") / "about.yaml"
MARKER = "Zebra lantern marker sentence."  # no digits: the number check has nothing to flag
EXTRA_QUESTION = "Zebra lantern question about the bot?"


def copy_knowledge(target: Path) -> Path:
    """Copy the shipped knowledge folder to `target` (which must not exist yet)."""
    shutil.copytree(default_knowledge_dir(), target)
    return target


def about_entry(kb_dir: Path) -> tuple[str, str]:
    """The first entry of about.yaml: its id and its first English question."""
    data = yaml.safe_load((kb_dir / ABOUT).read_text(encoding="utf-8"))
    entry = data["entries"][0]
    return str(entry["id"]), str(entry["questions"]["en"][0])


def edited(text: str) -> str:
    """about.yaml with MARKER opening the first English answer and EXTRA_QUESTION added.

    Still a valid knowledge base, so a reload of it succeeds.
    """
    answer = re.search(r"^    answer:\n      en: >-\n        ", text, re.MULTILINE)
    questions = re.search(r"^    questions:\n      en:\n", text, re.MULTILINE)
    assert answer is not None, "about.yaml changed shape; adapt tests/kb_edits.py"
    assert questions is not None, "about.yaml changed shape; adapt tests/kb_edits.py"
    assert questions.end() < answer.end()
    assert MARKER not in text
    return (
        text[: questions.end()]
        + f"        - {EXTRA_QUESTION}\n"
        + text[questions.end() : answer.end()]
        + f"{MARKER} "
        + text[answer.end() :]
    )


def broken(text: str) -> tuple[str, int]:
    """about.yaml with the first `kind:` line indented too deep (a YAML error), and its line."""
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("    kind: "))
    lines[index] = "  " + lines[index]
    return "".join(lines), index + 1


def write_atomically(path: Path, text: str) -> None:
    """Replace a file the way editors and `git pull` do, so no reader sees half of it."""
    temp = path.with_name(path.name + ".tmp-edit")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def apply_edit(kb_dir: Path) -> None:
    """Write the valid edit into the about file of `kb_dir`."""
    path = kb_dir / ABOUT
    write_atomically(path, edited(path.read_text(encoding="utf-8")))


def apply_break(kb_dir: Path) -> int:
    """Write the broken edit into the about file of `kb_dir`; return the offending line."""
    path = kb_dir / ABOUT
    text, line = broken(path.read_text(encoding="utf-8"))
    write_atomically(path, text)
    return line
