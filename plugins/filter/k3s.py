# Copyright: homeforge maintainers
# Apache License 2.0
"""Filters for the K3s roles."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: k3s_ready_nodes
short_description: Names of the nodes whose Ready condition is True, from C(kubectl get nodes -o json)
description:
  - Takes the JSON text (or the parsed NodeList) that C(kubectl get nodes -o json) prints, or
    one Node (C(kubectl get node NAME -o json)), and returns the names of the nodes whose
    C(Ready) condition has status C(True).
  - Text that is not a NodeList gives an empty list (the cluster is not answering yet).
options:
  _input:
    description: C(kubectl get nodes -o json) output, text or parsed.
    type: raw
    required: true
"""

EXAMPLES = r"""
ready: "{{ nodes.stdout | homeforge.homelab.k3s_ready_nodes }}"
"""

RETURN = r"""
_value:
  description: Node names, in the order listed.
  type: list
  elements: str
"""

import json


def k3s_ready_nodes(data):
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return []
    if not isinstance(data, dict):
        return []
    ready = []
    for item in [data] if data.get("kind") == "Node" else data.get("items") or []:
        if not isinstance(item, dict):
            continue
        conditions = (item.get("status") or {}).get("conditions") or []
        if any(
            isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
            for c in conditions
        ):
            ready.append(str((item.get("metadata") or {}).get("name", "")))
    return ready


class FilterModule:
    def filters(self):
        return {"k3s_ready_nodes": k3s_ready_nodes}
