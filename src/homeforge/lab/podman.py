"""A thin wrapper over the podman CLI with the lab's containers.conf."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from homeforge.errors import EnvironmentProblem

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return out


def require() -> None:
    if shutil.which("podman") is None:
        raise EnvironmentProblem(
            "podman not found: install it (apt-get install podman runc) to run the lab"
        )


def run(*args: str, check: bool = True, timeout: float | None = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=env(), timeout=timeout
    )
    if check and done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvironmentProblem(f"podman {args[0]} failed: {detail}")
    return done


def containers(label: str) -> list[dict]:
    out = run("ps", "-a", "--filter", f"label={label}", "--format", "json").stdout
    return json.loads(out or "[]")


def network_exists(name: str) -> bool:
    return run("network", "exists", name, check=False).returncode == 0
