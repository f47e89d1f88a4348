"""K3s secrets given in k3s_server_config / k3s_agent_config (agent-token, etcd-s3-secret-key,
...) reach the 0600 config.yaml and nothing else: not the run's output, not --diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.unit.plugins.support import COLLECTIONS

SECRET = "agent-token-canary-" + "8c41d2"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def config_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    """k3s_common's config step in check mode with --diff on this host, as the JSON callback
    reports it."""
    inventory = {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                }
            }
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    settings = {"node-name": "localhost", **config}
    playbook = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "homeforge.homelab.k3s_common",
                        "tasks_from": "config",
                    },
                    "vars": {
                        "k3s_common_kind": "agent",
                        "k3s_common_settings": settings,
                        "k3s_common_config": config,
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "hosts.yml", "play.yml", "--check", "--diff"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        },
    )


def _config_task(done: subprocess.CompletedProcess) -> dict:
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    (task,) = [
        t
        for t in tasks
        if t["task"]["name"].endswith("Configuration (/etc/rancher/k3s/config.yaml)")
    ]
    return task["hosts"]["localhost"]


def test_a_config_without_secrets_is_diffed(tmp_path):
    done = config_run(tmp_path, {"disable": ["traefik"], "node-label": ["gpu=true"]})
    result = _config_task(done)
    assert not result.get("failed"), result
    assert "gpu=true" in json.dumps(result.get("diff"))


def test_a_secret_in_the_config_is_neither_logged_nor_diffed(tmp_path):
    done = config_run(tmp_path, {"agent-token": SECRET, "disable": ["traefik"]})
    result = _config_task(done)
    assert not result.get("failed"), result
    assert SECRET not in done.stdout and SECRET not in done.stderr
    assert result.get("censored")  # no_log


def test_the_role_hides_exactly_the_flags_the_checks_call_secret():
    """The config step names the secret flags in Jinja (it cannot import Python); they must
    stay the list inventory check masks (module_utils/k3s.py SECRET_FLAGS)."""
    import re

    from homeforge.module_utils import load

    task = (Path(__file__).resolve().parents[2] / "roles/k3s_common/tasks/config.yml").read_text()
    listed = re.search(r"intersect\(\[([^\]]*)\]\)", task, re.S).group(1)
    assert set(re.findall(r"'([a-z0-9-]+)'", listed)) == set(load("k3s").SECRET_FLAGS)
