"""The K3s filters: k3s_ready_nodes on NodeList shapes as kubectl prints them, and k3s_ships_nvidia_runtimeclass."""

from __future__ import annotations

import json

import pytest
from ansible_collections.homeforge.homelab.plugins.filter.k3s import k3s_ready_nodes


def _node(name, status, extra=None):
    condition = {"type": "Ready", "status": status, "reason": "KubeletReady", **(extra or {})}
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, condition]},
    }


def test_only_nodes_with_ready_true_are_listed():
    nodes = {
        "kind": "List",
        "items": [_node("s1", "True"), _node("a1", "False"), _node("a2", "Unknown")],
    }
    assert k3s_ready_nodes(json.dumps(nodes)) == ["s1"]
    assert k3s_ready_nodes(nodes) == ["s1"]


def test_anything_else_is_no_node():
    for junk in (
        "",
        "The connection to the server was refused",
        "[]",
        '{"items": [1, {}]}',
        None,
        3,
    ):
        assert k3s_ready_nodes(junk) == []


def test_one_node_as_kubectl_get_node_name_prints_it():
    assert k3s_ready_nodes(json.dumps({"kind": "Node", **_node("a1", "True")})) == ["a1"]
    assert k3s_ready_nodes({"kind": "Node", **_node("a1", "False")}) == []


def test_the_runtimeclass_filter_answers_by_release_and_refuses_what_is_no_version():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.homeforge.homelab.plugins.filter.k3s_ships_nvidia_runtimeclass import (
        k3s_ships_nvidia_runtimeclass,
    )

    assert k3s_ships_nvidia_runtimeclass("v1.27.9+k3s1") is True
    assert k3s_ships_nvidia_runtimeclass("v1.27.8+k3s2") is False
    with pytest.raises(AnsibleFilterError, match="not a K3s release version"):
        k3s_ships_nvidia_runtimeclass("latest")
