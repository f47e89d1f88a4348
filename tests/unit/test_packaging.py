"""The wheel carries the Ansible content; an installed homeforge finds it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "homeforge/_content/ansible_collections/homeforge/homelab/"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("homeforge-*.whl"))


def test_wheel_contains_collection(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "galaxy.yml",
        "meta/runtime.yml",
        "roles/common/tasks/main.yml",
        "roles/common/tests/test_common.py",
        "playbooks/site.yml",
        "playbooks/check.yml",
        "plugins/action/inventory_check.py",
    ):
        assert PREFIX + needed in names, needed
    assert "homeforge/lab/containers.conf" in names


def test_installed_wheel_resolves_playbooks_and_collection(wheel, tmp_path, write):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = (
        "from homeforge import paths; import homeforge; "
        "print(homeforge.__file__); print(paths.content_root()); print(paths.resolve_playbook('site'));"
        "print(paths.collections_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    module, content, site, collections = out.stdout.split()
    assert module.startswith(str(target)) and content.startswith(str(target))
    assert site.endswith("homelab/playbooks/site.yml")
    # Ansible itself resolves the FQCN role from the installed content.
    inv = write("hosts.yml", "all:\n  hosts:\n    h1: {ansible_connection: local}\n")
    check = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(inv),
            site,
        ],
        env={**env, "ANSIBLE_COLLECTIONS_PATH": collections},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
