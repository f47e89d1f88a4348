"""Where a run keeps its files: a private data dir per run under
``<state>/runs/<timestamp>/`` (0700, the last ``KEEP_RUNS`` kept), and the clean-up
that keeps secrets from the environment out of runner's ``command`` artifact."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from homeforge import paths

KEEP_RUNS = 20
# What stays of the environment in runner's `command` artifact.
KEPT_ENV_PREFIXES = ("ANSIBLE_",)
KEPT_ENV_NAMES = ("PATH",)


def new_run_dir(state: Path) -> Path:
    """A new private data dir for one run; older ones past the last ``KEEP_RUNS`` go."""
    paths.private_dir(state)
    runs = paths.private_dir(state / "runs")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_dir = runs / stamp
    run_dir.mkdir(mode=0o700)
    old = sorted(p for p in runs.iterdir() if p.is_dir())[:-KEEP_RUNS]
    for stale in old:
        shutil.rmtree(stale, ignore_errors=True)
    return run_dir


def redact_command_artifacts(run_dir: Path) -> None:
    """ansible-runner records the whole process environment in artifacts/*/command
    (tokens and cloud credentials included). Keep only PATH and Ansible's settings."""
    for command_file in run_dir.glob("artifacts/*/command"):
        try:
            data = json.loads(command_file.read_text())
        except (OSError, ValueError):
            command_file.unlink(missing_ok=True)
            continue
        env = data.get("env") or {}
        kept = {
            k: v for k, v in env.items() if k.startswith(KEPT_ENV_PREFIXES) or k in KEPT_ENV_NAMES
        }
        data["env"] = kept
        data["env_dropped"] = data.get("env_dropped", 0) + len(env) - len(kept)
        command_file.write_text(json.dumps(data))
