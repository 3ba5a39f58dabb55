"""Running `mailroom` as a person does: in a folder of their choosing, with only the settings
they set (none of the test run's `MAILROOM_*` variables leak in)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def mailroom_in(
    folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        cwd=folder,
        env={**clean, "COLUMNS": "200", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command wrote on stderr (asserting that it is one)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]
