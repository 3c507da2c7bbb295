"""Where the shipped knowledge base lives, from a clone and from an installed package."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def default_knowledge_dir() -> Path:
    """Return the shipped knowledge folder, whatever the current directory is.

    A clone or an editable install has it beside the `bot` package; a regular install
    puts it under `<prefix>/share/returnbot/knowledge` (see pyproject's data-files).
    """
    beside_package = Path(__file__).resolve().parents[2] / "knowledge"
    candidates = [
        beside_package,
        Path(sysconfig.get_path("data")) / "share" / "returnbot" / "knowledge",
        Path(sys.prefix) / "share" / "returnbot" / "knowledge",
    ]
    for candidate in candidates:
        if (candidate / "sources.yaml").is_file():
            return candidate
    return beside_package
