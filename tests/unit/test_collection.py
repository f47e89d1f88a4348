"""The collection as it ships: `ansible-galaxy collection build`, installed into a
temporary collections path and used by fully qualified names; and the execution
environment's build context as `ansible-builder create` renders it."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Everything at the top of the tarball; anything else is junk from the checkout
# (.venv, .homeforge, caches, src/, tests/, bench/...): galaxy.yml build_ignore.
SHIPPED_TOP = {
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "meta",
    "plugins",
    "roles",
    "playbooks",
    "inventories",
}
PLUGINS = [
    "plugins/modules/deb_packages.py",
    "plugins/modules/kernel_params.py",
    "plugins/modules/wireguard_host.py",
    "plugins/modules/wireguard_psk.py",
    "plugins/module_utils/files.py",
    "plugins/module_utils/mesh.py",
    "plugins/module_utils/validation.py",
    "plugins/module_utils/wireguard.py",
    "plugins/doc_fragments/attributes.py",
    "plugins/doc_fragments/wireguard.py",
    "plugins/filter/mesh.py",
    "plugins/action/inventory_check.py",
    "plugins/modules/inventory_check.py",
    "playbooks/check.yml",
    "meta/runtime.yml",
]
KEY = "u+BXBhkx/1lq8P0vY0W4QzdN8QV7m0l5UhxjQ0h3jn8="
# What the execution environment's Python requirements must hold (execution-environment.yml)
CONTROLLER_PYTHON = [
    "homeforge @ file:///build/collections/homeforge.homelab",
    "boto3>=1.34",
    "botocore>=1.34",
    "kubernetes>=30,<37",
    "pyyaml>=6",
    "cryptography",
    "paramiko>=3.4",
]
# Libraries of modules that run on the managed hosts only, where their roles install them
HOST_SIDE = {"httpx"}  # ollama_model: the ollama role installs python3-httpx


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=False, **kwargs
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def only(collections: Path) -> dict[str, str]:
    """Environment in which Ansible finds collections in `collections` and nowhere else."""
    config = collections.parent / "empty-ansible.cfg"  # not the checkout's ansible.cfg
    config.touch()
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out, ROOT)
    return next(out.glob("homeforge-homelab-*.tar.gz"))


def test_tarball_holds_the_collection_and_nothing_else(tarball):
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert {name.split("/")[0] for name in names} == SHIPPED_TOP
    for needed in PLUGINS:
        assert needed in names, needed
    junk = [
        name
        for name in names
        if "__pycache__" in name.split("/") or name.endswith(".pyc") or "/.ansible/" in name
    ]
    assert junk == []
    checkout_only = ("tests/", ".venv/", "src/", "pyproject.toml", ".homeforge/", "bench/")
    assert [
        name for name in names if name.startswith(checkout_only) or "/tests/unit/" in name
    ] == []
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "homeforge"
    assert manifest["collection_info"]["name"] == "homelab"


def test_installed_tarball_is_used_by_fully_qualified_names(tarball, tmp_path):
    collections = tmp_path / "collections"
    env = only(collections)  # else galaxy finds the checkout's link and installs nothing
    run(BIN / "ansible-galaxy", "collection", "install", "-p", collections, tarball, env=env)
    installed = collections / "ansible_collections" / "homeforge" / "homelab"
    assert (installed / "MANIFEST.json").is_file()

    # docs resolve their fragments from the installed tree, and come from there
    doc = json.loads(
        run(BIN / "ansible-doc", "--json", "homeforge.homelab.wireguard_psk", env=env).stdout
    )["homeforge.homelab.wireguard_psk"]["doc"]
    assert Path(doc["filename"]).is_relative_to(installed)
    assert {"interface", "directory", "owned"} <= set(doc["options"])
    assert doc["attributes"]["check_mode"]["support"] == "full"

    work = tmp_path / "work"
    work.mkdir()
    inventory = work / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                            "wireguard_public_key": KEY,
                        }
                    }
                }
            }
        )
    )
    live = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "homeforge.homelab.kernel_params": {
                        "params": {"net.ipv4.ip_forward": int(live)},
                        "file": str(work / "sysctl.d" / "90-test.conf"),
                    },
                    "register": "sysctl",
                },
                {
                    "homeforge.homelab.wireguard_host": {"directory": str(work / "wg")},
                    "check_mode": True,
                    "register": "key",
                },
                {
                    # results to a file: the json callback lives in ansible.posix,
                    # which this collections path does not hold
                    "ansible.builtin.copy": {
                        "dest": str(work / "results.json"),
                        "content": "{{ {'sysctl': sysctl, 'key': key, 'mesh': hostvars"
                        " | homeforge.homelab.wireguard_mesh(['localhost'], '10.77.0.0/24')}"
                        " | to_json }}",
                    },
                },
            ],
        }
    ]
    playbook = work / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    run(BIN / "ansible-playbook", "-i", inventory, playbook, env=env, cwd=work)
    results = json.loads((work / "results.json").read_text())
    sysctl, key = results["sysctl"], results["key"]
    assert sysctl["changed"] and sysctl["file_changed"] and sysctl["live_changed"] == []
    assert (work / "sysctl.d" / "90-test.conf").read_text().endswith(f"ip_forward={live}\n")
    assert key["changed"] and key["public_key"] == "" and not (work / "wg").exists()
    assert results["mesh"]["localhost"]["prefix"] == 24

    # the collection's own playbook and roles resolve from the installed tree
    run(
        BIN / "ansible-playbook",
        "--syntax-check",
        "-i",
        inventory,
        "homeforge.homelab.site",
        env=env,
        cwd=work,
    )


def test_execution_environment_context(tmp_path):
    builder = BIN / "ansible-builder"
    assert builder.exists(), (
        "ansible-builder is missing: it is a test extra (pip install -e .[test])"
    )
    context = tmp_path / "context"
    run(builder, "create", "-f", ROOT / "execution-environment.yml", "-c", context)

    containerfile = (context / "Containerfile").read_text()
    core_pin = next(
        dep
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if dep.startswith("ansible-core")
    )
    assert f'ARG ANSIBLE_INSTALL_REFS="{core_pin} ' in containerfile  # same core as the CLI
    assert "ansible-galaxy collection install" in containerfile
    assert "COPY _build/requirements.txt requirements.txt" in containerfile

    build = context / "_build"
    python = (build / "requirements.txt").read_text().splitlines()
    assert set(CONTROLLER_PYTHON) <= set(python)
    # the homeforge package (the check play's inventory checks) is built from the context:
    # both stages that pip installs in get its source first
    homeforge = "/build/collections/homeforge.homelab"
    copy = f"COPY _build/collections/homeforge.homelab {homeforge}"
    assert containerfile.index(copy) < containerfile.index("RUN /output/scripts/assemble")
    assert containerfile.rindex(copy) < containerfile.index("scripts/install-from-bindep")
    collections = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    ours = [entry for entry in collections if entry.get("type") == "dir"]
    assert [entry["name"] for entry in ours] == ["collections/homeforge.homelab"]
    source = build / ours[0]["name"]  # the galaxy stage runs in /build, a copy of _build
    galaxy = yaml.safe_load((source / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("homeforge", "homelab")

    # what the galaxy stage does with our entry, here: install it from the context
    requirements = build / "ours.yml"
    requirements.write_text(yaml.safe_dump({"collections": ours}))
    target = tmp_path / "ee-collections"
    env = only(target)
    run(
        BIN / "ansible-galaxy",
        "collection",
        "install",
        "-r",
        "ours.yml",
        "-p",
        target,
        env=env,
        cwd=build,
    )
    installed = target / "ansible_collections" / "homeforge" / "homelab"
    assert (installed / "MANIFEST.json").is_file()
    assert not (installed / "src").exists() and not (installed / "pyproject.toml").exists()
    listed = run(BIN / "ansible-doc", "-t", "module", "-l", "homeforge.homelab", env=env).stdout
    for module in ("deb_packages", "kernel_params", "wireguard_host", "inventory_check"):
        assert f"homeforge.homelab.{module}" in listed

    # what the builder stage does with the homeforge requirement: a wheel from that source
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    run(*pip, "-w", wheels, source)
    with zipfile.ZipFile(next(wheels.glob("homeforge-*.whl"))) as wheel:
        names = set(wheel.namelist())
    content = "homeforge/_content/ansible_collections/homeforge/homelab/"
    assert "homeforge/checks/__init__.py" in names
    assert content + "plugins/action/inventory_check.py" in names


def test_the_execution_environment_lists_what_the_controller_runs():
    """Every library the plugins import (the modules the roles run on the controller with
    delegate_to: localhost, the check action), and the collections the roles call."""
    listed = yaml.safe_load((ROOT / "execution-environment.yml").read_text())["dependencies"]
    names = {re.split(r"[<>=@ \[]", entry, maxsplit=1)[0] for entry in listed["python"]}
    imported = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    ours = {"__future__", "ansible", "ansible_collections"}
    ours |= {
        name for name in imported if name.startswith("homeforge_module_utils_")
    }  # the CLI's names
    third_party = imported - set(sys.stdlib_module_names) - ours
    assert {"boto3", "botocore", "homeforge"} <= third_party
    assert third_party - HOST_SIDE <= names
    tasks = "".join(p.read_text() for p in (ROOT / "roles").glob("*/tasks/*.yml"))
    assert "kubernetes.core.k8s" in tasks and {"kubernetes", "pyyaml"} <= names
    collections = {c["name"] for c in listed["galaxy"]["collections"]}
    used = set(re.findall(r"(?<![.\w])([a-z_]+\.[a-z_]+)\.[a-z_0-9]+:", tasks)) - {
        "ansible.builtin"
    }
    assert used - {"homeforge.homelab"} <= collections
