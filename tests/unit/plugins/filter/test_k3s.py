"""The k3s_ready_nodes filter, on NodeList shapes as kubectl prints them."""

from __future__ import annotations

import json

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
