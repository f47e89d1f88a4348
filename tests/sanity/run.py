#!/usr/bin/env python3
"""Run ``ansible-test sanity`` on the collection as it ships, without containers.

ansible-test wants to run inside ``.../ansible_collections/homeforge/homelab`` and walks
every file there. The checkout also holds the controller package (src/), its virtualenv,
lab state and tests that import ``homeforge``: none of that is collection content. So this
copies what ``ansible-galaxy collection build`` would ship (the files git knows, minus
galaxy.yml's ``build_ignore``) plus the sanity configuration (tests/config.yml,
tests/sanity/ignore-*.txt) into a temporary ``ansible_collections`` tree and runs ansible-test there.

    python tests/sanity/run.py            # --venv --python 3.11 (tools from PyPI, cached)
    python tests/sanity/run.py --local    # use the tools installed in this interpreter
    python tests/sanity/run.py --keep     # leave the copy in place (path printed)

Other arguments go to ``ansible-test sanity`` unchanged (e.g. ``--test validate-modules``).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# Copied although tests/ is build-ignored: ansible-test's configuration and ignore files.
SANITY_CONFIG = ("tests/config.yml", "tests/sanity/ignore-*.txt")
# Every sanity test runs: none needs a container or a network here. Those that need a
# tool (shellcheck, pwsh) have no targets in this collection and pass without it.

# ansible-test makes one virtualenv per sanity test, without pip, and bootstraps pip there
# with a get-pip script it downloads from ci-files.testing.ansible.com, which this network
# cannot reach (PyPI can). Its documented way out is a script saved in its cache; this one
# does the same job with the interpreter's own ensurepip and then pip from PyPI.
PIP_BOOTSTRAP = """\
# Written by homeforge tests/sanity/run.py in place of get-pip.py (see there).
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call(
    [sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL
)
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *args])
if "--no-setuptools" in sys.argv:
    subprocess.call([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "setuptools"])
"""


def ensure_pip_bootstrap(python: str) -> None:
    """Put the pip bootstrap script where ansible-test looks before it downloads one."""
    try:
        from ansible_test._internal.python_requirements import get_venv_packages
    except ImportError:  # ansible-test moved it: let ansible-test try its download
        return
    version = get_venv_packages(type("Python", (), {"version": python})())["pip"]
    cache = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(PIP_BOOTSTRAP)


def collection_files(root: Path) -> list[str]:
    """Relative paths the collection build would include, plus the sanity config."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    galaxy = yaml.safe_load((root / "galaxy.yml").read_text())
    ignore = list(galaxy.get("build_ignore") or [])

    def shipped(path: str) -> bool:
        if any(fnmatch.fnmatch(path, keep) for keep in SANITY_CONFIG):
            return True
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return not any(fnmatch.fnmatch(p, pat) for pat in ignore for p in prefixes)

    names = sorted({p for p in listed.split("\0") if p})
    return [p for p in names if shipped(p) and (root / p).is_file()]


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    args = [a for a in argv if a != "--keep"]
    if not {"--local", "--venv", "--docker"} & set(args):
        args = ["--venv", *args]
    if "--python" in args:
        python = args[args.index("--python") + 1]
    else:
        python = PYTHON
        args = ["--python", python, *args]
    ensure_pip_bootstrap(python)
    sibling = Path(sys.executable).parent / "ansible-test"
    ansible_test = str(sibling) if sibling.exists() else shutil.which("ansible-test")

    work = Path(tempfile.mkdtemp(prefix="homeforge-sanity-"))
    dest = work / "ansible_collections" / "homeforge" / "homelab"
    try:
        for rel in collection_files(ROOT):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target, follow_symlinks=False)
        command = [ansible_test, "sanity", "--color", "no", *args]
        print(f"sanity: {len(list(dest.rglob('*')))} paths in {dest}", flush=True)
        print("sanity:", " ".join(command), flush=True)
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(work)}
        return subprocess.run(command, cwd=dest, env=env).returncode
    finally:
        if keep:
            print(f"sanity: kept {dest}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
