"""The wireguard_mesh filter (filter/mesh.py): reads only mesh keys, names errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.filter import mesh as mesh_filter

from tests.unit.plugins.support import COLLECTIONS

KEY_A = "u+BXBhkx/1lq8P0vY0W4QzdN8QV7m0l5UhxjQ0h3jn8="
KEY_B = "2k9TQqd3VJpV8tKzNn7o3y6kX1n0rVQ0QpG8k3sU3Xk="


class OnlyMeshKeys(Mapping):
    """Host variables that fail if anything but a mesh key is read (templating is costly)."""

    def __init__(self, data):
        self.data = data

    def __getitem__(self, key):
        if key not in mesh_filter.MESH_KEYS:
            raise AssertionError(f"the filter read {key}")
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def hostvars():
    return {
        "a": OnlyMeshKeys(
            {"ansible_host": "192.0.2.1", "wireguard_public_key": KEY_A, "secret": "x"}
        ),
        "b": OnlyMeshKeys(
            {"ansible_host": "192.0.2.2", "wireguard_public_key": KEY_B, "wireguard_port": 51821}
        ),
    }


def test_filter_is_registered():
    assert mesh_filter.FilterModule().filters() == {"wireguard_mesh": mesh_filter.wireguard_mesh}


def test_plans_from_host_variables_reading_only_mesh_keys():
    plan = mesh_filter.wireguard_mesh(hostvars(), ["a", "b"], "10.77.0.0/24")
    assert set(plan) == {"a", "b"}
    (peer,) = plan["a"]["peers"]
    assert peer["name"] == "b" and peer["endpoint"] == "192.0.2.2:51821"
    assert peer["public_key"] == KEY_B


def test_need_keys_false_tolerates_unknown_keys():
    plain = {"a": {"ansible_host": "192.0.2.1"}, "b": {"ansible_host": "192.0.2.2"}}
    with pytest.raises(AnsibleFilterError, match="wireguard mesh: host a: wireguard_public_key"):
        mesh_filter.wireguard_mesh(plain, ["a", "b"], "10.77.0.0/24")
    plan = mesh_filter.wireguard_mesh(plain, ["a", "b"], "10.77.0.0/24", False)
    assert plan["a"]["peers"][0]["public_key"] == ""


def test_mesh_errors_become_filter_errors_naming_host_and_key():
    with pytest.raises(AnsibleFilterError, match=r"wireguard mesh: host a: wireguard_relay"):
        mesh_filter.wireguard_mesh(
            {"a": {"wireguard_reachable": False, "wireguard_public_key": KEY_A}},
            ["a"],
            "10.77.0.0/24",
        )


def test_filter_by_its_fully_qualified_name_in_a_play(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n"
        f"      ansible_connection: local\n      wireguard_public_key: {KEY_A}\n"
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.debug:\n"
        "        msg: \"{{ hostvars | homeforge.homelab.wireguard_mesh(['localhost'],"
        " '10.77.0.0/24') }}\"\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_STDOUT_CALLBACK": "json",
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    plan = result["msg"]
    assert plan["localhost"]["prefix"] == 24 and plan["localhost"]["peers"] == []
