"""What the benchmark scripts share: running the homeforge CLI on a state dir of
their own, and publishing a markdown section (printed, optionally appended)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def env(state: str) -> dict[str, str]:
    """The environment for a benchmark's CLI runs: its own state dir under bench/out/."""
    return {**os.environ, "HOMEFORGE_STATE_DIR": str(OUT / state), "COLUMNS": "200"}


def homeforge(state: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "homeforge", *args], capture_output=True, text=True, env=env(state)
    )
    if check and done.returncode != 0:
        raise SystemExit(
            f"homeforge {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    return done


def publish(text: str, write: Path | None) -> None:
    print(text)
    if write:
        with write.open("a") as handle:
            handle.write("\n" + text)
