"""Run the `returnbot` command as a shell would: a subprocess with a clean environment.

Shared by the tests that check the CLI from outside (test_cli, the `kb check` tests of
test_knowledge, the schema check of test_schema), so they all run it the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI_TIMEOUT = 120.0  # a safety net against a hang, not a timing assertion


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` with nothing inherited but PATH and HOME (plus `env`).

    PYTHONPATH pins the code under test to this checkout, whatever the venv has installed.
    `stdin` as bytes is piped as it is (any encoding, or none); output is always text.
    """
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO),
    }
    environ.update(env or {})
    if isinstance(stdin, bytes):
        raw = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env=environ,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        out, err = (raw.stdout.decode("utf-8"), raw.stderr.decode("utf-8", "replace"))
        return subprocess.CompletedProcess(raw.args, raw.returncode, out, err)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=environ,
        cwd=cwd,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=CLI_TIMEOUT,
        check=False,
    )
