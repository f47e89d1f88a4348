"""Integration tests run the real CLI against a real podman lab."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

NAME = "hf-itest"
# A stand-in for a token an operator keeps in the environment: it must never be stored.
CANARY_SECRET = "hf-canary-" + __import__("secrets").token_hex(16)
SUBNET = "10.254.92.0/24"


@dataclass
class LabEnv:
    state: Path
    inventory: Path
    # A private copy of the checkout the CLI runs from (see private_checkout), or None
    checkout: Path | None = None

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "HOMEFORGE_STATE_DIR": str(self.state),
            "COLUMNS": "200",
            "HF_TEST_API_TOKEN": CANARY_SECRET,
        }
        if self.checkout is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.checkout / "src"), *filter(None, [env.get("PYTHONPATH")])]
            )
            env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # the copy's own (paths.collections_dir)
        return env

    def hf(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = self._env()
        return subprocess.run(
            [sys.executable, "-m", "homeforge", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    def hf_background(self, *args: str) -> subprocess.Popen:
        """The CLI started in the background (stdout piped, one JSON line per event with
        --json); stop it with :func:`kill_tree`."""
        env = self._env()
        return subprocess.Popen(
            [sys.executable, "-m", "homeforge", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def hf_json(self, *args: str) -> tuple[int, list[dict]]:
        done = self.hf(*args, "--json")
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done.returncode, lines

    def podman(self, *args: str) -> subprocess.CompletedProcess:
        from homeforge.lab import podman

        return podman.run(*args, check=False)

    def runs(self) -> list[Path]:
        runs = self.state / "runs"
        return sorted(runs.iterdir()) if runs.is_dir() else []

    def wait_ssh(self, address: str, timeout: float = 60) -> None:
        from homeforge.lab import _ssh_banner

        deadline = time.monotonic() + timeout
        while not _ssh_banner(address):
            assert time.monotonic() < deadline, f"{address}: sshd did not come back"
            time.sleep(0.5)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (ansible-runner starts ansible-playbook in
    a session of its own, so a process group kill would miss it)."""
    import signal

    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    todo, found = [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    for each in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def start_lab(tmp_path_factory, name: str, nodes: int, subnet: str, *more: str) -> LabEnv:
    """A fresh lab with its own state dir (a leftover one of that name is removed first);
    ``more``: further `lab up` options (``--cluster``)."""
    if shutil.which("podman") is None:
        pytest.fail("integration tests need podman: run them through 'make test'")
    state = tmp_path_factory.mktemp(f"{name}-state")
    env = LabEnv(state, state / "lab" / name / "inventory.yml")
    env.hf("lab", "down", "--name", name)  # a previous interrupted run
    up = env.hf("lab", "up", "--nodes", str(nodes), "--name", name, "--subnet", subnet, *more)
    assert up.returncode == 0, up.stdout + up.stderr
    return env


def private_checkout(tmp_path_factory) -> Path:
    """A copy of this checkout (roles, playbooks, plugins, the package) for a lab whose
    tests edit the content: labs of other files run beside it from the same tree, and an
    edit there would change their roles' digests mid-run."""
    root = Path(__file__).resolve().parents[2]
    copy = tmp_path_factory.mktemp("checkout") / "homeforge"
    skip = (".venv", ".homeforge", ".git", "bench", "__pycache__", ".pytest_cache", "*.egg-info")
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(*skip), symlinks=True)
    return copy


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> LabEnv:
    env = start_lab(tmp_path_factory, NAME, 2, SUBNET)
    env.checkout = private_checkout(tmp_path_factory)  # its role-edit test edits the copy
    yield env
    env.hf("lab", "down", "--name", NAME)
