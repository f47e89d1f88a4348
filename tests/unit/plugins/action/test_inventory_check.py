"""homeforge.homelab.inventory_check, run by ansible-playbook through playbooks/check.yml as
a job template runs it: the lines of `homeforge inventory check` for the play's inventory,
its warnings, its vault secrets, one line without the homeforge package, and no task at
all under the CLI (HOMEFORGE_CHECKED=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ansible.parsing.vault import VaultLib, VaultSecret

from tests.unit.plugins.support import COLLECTIONS

PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
HOSTILE = "wg0; rm -rf /"
GOOD = """
all:
  vars:
    ansible_connection: local
  hosts:
    lab-1: {ansible_host: 192.0.2.1}
    lab-2: {ansible_host: 192.0.2.2}
"""
BAD = GOOD.replace(
    "{ansible_host: 192.0.2.1}", f"{{ansible_host: 192.0.2.1, wireguard_interface: '{HOSTILE}'}}"
)


def check_play(cwd: Path, inventory_path: Path, *options: str, **env: str) -> dict:
    """The check task's result for the one host it ran on (or was skipped on)."""
    done = subprocess.run(
        [PLAYBOOK, "-i", str(inventory_path), "homeforge.homelab.check", *options],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            **{k: v for k, v in os.environ.items() if k != "HOMEFORGE_CHECKED"},
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_STDOUT_CALLBACK": "json",
            **env,
        },
    )
    data = json.loads(done.stdout)
    (task,) = data["plays"][0]["tasks"]
    (result,) = task["hosts"].values()
    assert done.returncode == (2 if result.get("failed") else 0), done.stderr
    return result


def inventory_check(cwd: Path, inventory_path: Path) -> list[str]:
    """The problem lines of `homeforge inventory check`, run from the same directory."""
    done = subprocess.run(
        [sys.executable, "-m", "homeforge", "inventory", "check", "-i", inventory_path, "--json"],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    return json.loads(done.stdout)["problems"]


def test_a_hostile_value_fails_the_play_with_the_lines_of_inventory_check(write, tmp_path):
    path = write("hosts.yml", BAD)
    result = check_play(tmp_path, path)
    expected = inventory_check(tmp_path, path)
    assert expected[0].startswith(f"hosts.yml: host lab-1: wireguard_interface: '{HOSTILE}'")
    assert result["failed"] and result["msg"].splitlines() == expected
    assert result["problems"] == expected and result["sources"] == [str(path)]
    assert result["changed"] is False


def test_a_sound_inventory_passes_under_a_limit_in_check_mode(write, tmp_path):
    path = write("hosts.yml", GOOD)
    result = check_play(tmp_path, path, "--limit", "lab-2", "--check")
    assert not result.get("failed") and not result["changed"]
    assert result["msg"] == "hosts.yml: ok (2 hosts, 0 groups)"
    assert result["problems"] == [] and "warnings" not in result


def test_only_the_inventory_is_checked_not_extra_vars_or_cached_facts(write, tmp_path):
    """As `homeforge inventory check` reads it: a fact an earlier run cached (AWX's fact
    cache, a jsonfile cache) or an extra variable of the job is no inventory variable."""
    path = write("hosts.yml", GOOD)
    write("facts/t_lab-1", json.dumps({"nvidia_driver_loaded": True}))
    cache = {
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
        "ANSIBLE_CACHE_PLUGIN_PREFIX": "t_",
    }
    result = check_play(tmp_path, path, "-e", "wireguard_port=not-a-port", **cache)
    assert not result.get("failed") and result["problems"] == [], result["msg"]
    assert inventory_check(tmp_path, path) == []


def test_warnings_are_returned_and_fail_nothing(write, tmp_path):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            ansible_connection: local
            homeforge_ingress: traefik
            ingress_traefik_ollama_host: ollama.example.org
            ingress_traefik_ollama_public: true
          children:
            server: {hosts: {s1: {ansible_host: 192.0.2.10}}}
        """,
    )
    result = check_play(tmp_path, path)
    assert not result.get("failed")
    assert [w for w in result["warnings"] if "ingress_traefik_ollama_public" in w] == [
        "hosts.yml: host s1: ingress_traefik_ollama_public: true: Ollama at ollama.example.org"
        " is open to every client that reaches the ingress (its API has no authentication:"
        " anyone can pull and delete models and use the GPUs)"
    ]


def test_the_homeforge_cli_skips_it(write, tmp_path):
    path = write("hosts.yml", BAD)  # checked by the CLI before its run, not by the play
    result = check_play(tmp_path, path, HOMEFORGE_CHECKED="1")
    assert result["skipped"] and "problems" not in result


def test_without_the_homeforge_package_one_line_names_it(write, tmp_path):
    path = write("hosts.yml", GOOD)
    shadow = write(
        "shadow/homeforge/__init__.py",
        "raise ModuleNotFoundError(\"No module named 'homeforge'\", name='homeforge')\n",
    )
    result = check_play(tmp_path, path, PYTHONPATH=str(shadow.parent.parent))
    assert result["failed"]
    assert result["msg"] == (
        f"Python package homeforge is not importable by {sys.executable}: pip install homeforge"
        " on the controller; for AWX or Ansible Automation Platform, use an execution"
        " environment built from homeforge's execution-environment.yml"
    )


def _encrypt(text: str, vault_id: str, password: str) -> str:
    return (
        VaultLib([(vault_id, VaultSecret(password.encode()))])
        .encrypt(text, None, vault_id)
        .decode()
    )


def test_every_vault_id_of_the_play_opens_the_inventory(write, tmp_path):
    """A group_vars file vaulted whole with one id, a `!vault` value with another (AWX
    passes one vault credential per id): both open, and the line names the file."""
    directory = tmp_path / "inv"
    write("inv/hosts.yml", GOOD)
    secret = textwrap.indent(_encrypt("s3cret-become", "prod", "prod-pass"), "  ")
    write("inv/host_vars/lab-2.yml", f"ansible_become_password: !vault |\n{secret}\n")
    group_vars = write("inv/group_vars/all.yml", f"wireguard_interface: '{HOSTILE}'\n")
    group_vars.write_text(_encrypt(group_vars.read_text(), "dev", "dev-pass"))
    write("dev-pass", "dev-pass\n")
    write("prod-pass", "prod-pass\n")
    ids = ["--vault-id", f"dev@{tmp_path}/dev-pass", "--vault-id", f"prod@{tmp_path}/prod-pass"]
    result = check_play(tmp_path, directory, *ids)
    lines = result["msg"].splitlines()
    assert result["failed"] and lines == result["problems"]
    assert lines[0] == (
        f"inv/group_vars/all.yml: host lab-1: wireguard_interface: '{HOSTILE}':"
        " an interface name uses only letters, digits and _=+.-"
    )
    assert all(line.startswith("inv/group_vars/all.yml: host lab-") for line in lines)
    assert "s3cret" not in json.dumps(result)
