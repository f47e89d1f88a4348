"""The stand-in NVIDIA repository (tests/standins/nvidia-apt-repo) fails where NVIDIA's
does: real apt, on its real index, refuses the toolkit pinned without its libraries once
the repository carries a newer release, and takes it with all four pinned (the role's
way: roles/nvidia_container_toolkit/vars/main.yml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REPO = ROOT / "tests" / "standins" / "nvidia-apt-repo"
pytestmark = pytest.mark.skipif(
    not (shutil.which("apt-get") and shutil.which("dpkg-deb")),
    reason="needs Debian's apt-get and dpkg-deb",
)


@pytest.fixture(scope="module")
def apt(tmp_path_factory):
    """apt-get on the stand-in repository only (its own lists and cache; nothing installed)."""
    base = tmp_path_factory.mktemp("apt")
    subprocess.run(
        [sys.executable, str(REPO), "--out", str(base / "repo")], check=True, capture_output=True
    )
    for sub in ("lists/partial", "cache/archives/partial"):
        (base / sub).mkdir(parents=True)
    (base / "sources.list").write_text(f"deb [trusted=yes] file:{base / 'repo'} ./\n")
    options = [
        f"-oDir::Etc::SourceList={base / 'sources.list'}",
        f"-oDir::Etc::SourceParts={base / 'none'}",
        f"-oDir::State::Lists={base / 'lists'}",
        f"-oDir::Cache={base / 'cache'}",
        "-oDebug::NoLocking=1",
    ]
    subprocess.run(["apt-get", *options, "-qq", "update"], check=True, capture_output=True)

    def simulate(*packages: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["apt-get", *options, "-s", "install", *packages], capture_output=True, text=True
        )

    return simulate


def _default_version() -> str:
    defaults = yaml.safe_load(
        (ROOT / "roles/nvidia_container_toolkit/defaults/main.yml").read_text()
    )
    return defaults["nvidia_container_toolkit_version"]


def test_two_pinned_packages_are_refused_when_newer_libraries_are_published(apt):
    version = _default_version()
    done = apt(f"nvidia-container-toolkit={version}", f"nvidia-container-toolkit-base={version}")
    assert done.returncode != 0
    assert (
        f"Depends: libnvidia-container-tools (= {version}) but 1.19.2-1 is to be installed"
        in done.stdout
    )


def test_the_roles_four_pinned_packages_install(apt):
    version = _default_version()
    roles_vars = yaml.safe_load((ROOT / "roles/nvidia_container_toolkit/vars/main.yml").read_text())
    packages = roles_vars["_nvidia_container_toolkit_packages"]
    assert len(packages) == 4
    done = apt(*(f"{name}={version}" for name in packages))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in packages:
        assert f"Inst {name} ({version} " in done.stdout
