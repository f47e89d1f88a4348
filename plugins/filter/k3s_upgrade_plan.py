# Copyright: homeforge maintainers
# Apache License 2.0
"""The K3s upgrade plan: each node's running version against the target, one minor at a time."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: k3s_upgrade_plan
short_description: Each node's step from the version it runs to the target K3s release
description:
  - Takes the JSON text (or the parsed NodeList) that C(kubectl get nodes -o json) prints and
    returns, for each host asked about, the version its kubelet reports (what runs, not the
    binary on disk), the target, and the step (C(upgrade), C(current), or a refusal).
  - Kubernetes upgrades one minor version at a time. A target more than one minor above a
    node's running version goes through the newest release of each minor in between that
    O(pinned) lists (the releases the collection pins digests of, or with O(airgap) the
    releases the airgap directory holds); a minor in between with none is refused
    (C(skip)), as is a target below the running version (C(downgrade)).
    A node the cluster does not list yet is C(new) (site.yml installs it).
  - Every entry carries the cluster's C(steps), the releases every node goes through in
    order, one minor at a time, ending with the target; upgrade.yml runs one step at a time
    across the cluster.
  - Each refusal carries one line naming the node, both versions and what to do.
options:
  _input:
    description: C(kubectl get nodes -o json) output, text or parsed.
    type: raw
    required: true
  target:
    description: The K3s release to move to, such as C(v1.36.4+k3s1).
    type: str
    required: true
  hosts:
    description: The node names to plan for.
    type: list
    elements: str
    required: true
  pinned:
    description: >-
      Releases a node may go through on the way: the role's pinned digests, or the releases
      of the airgap directory.
    type: list
    elements: str
    default: []
  airgap:
    description: >-
      The airgap directory O(pinned) was read from, or empty when it lists the pinned
      releases; it names where a missing minor's release must go in the refusal.
    type: str
    default: ''
"""

EXAMPLES = r"""
plan: "{{ nodes.stdout | homeforge.homelab.k3s_upgrade_plan(k3s_version, ansible_play_hosts, pinned) }}"
airgap_plan: "{{ nodes.stdout | homeforge.homelab.k3s_upgrade_plan(k3s_version, ansible_play_hosts, held, airgap='/srv/k3s') }}"
steps: "{{ plan[0].steps }}"
problems: "{{ plan | selectattr('problem') | map(attribute='problem') | list }}"
"""

RETURN = r"""
_value:
  description: One entry per host, in the order given.
  type: list
  elements: dict
  contains:
    host: {description: The node name., type: str}
    running: {description: The kubelet version the node reports, or an empty string., type: str}
    target: {description: The target release., type: str}
    step: {description: "C(upgrade), C(current), C(new), C(skip) or C(downgrade)", type: str}
    problem: {description: One line when the step is refused, else an empty string., type: str}
    via: {description: The releases this node goes through before the target., type: list, elements: str}
    steps: {description: "The cluster's steps in order, the target last (empty when a node is refused or none moves).", type: list, elements: str}
"""

import json
import re

from ansible.errors import AnsibleFilterError

VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:\+k3s(\d+))?$")


def _parse(version):
    match = VERSION.match(str(version))
    return tuple(int(g or 0) for g in match.groups()) if match else None


def _running(data):
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    items = data.get("items") if isinstance(data, dict) else None
    return {
        str((item.get("metadata") or {}).get("name", "")): str(
            ((item.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
        )
        for item in items or []
        if isinstance(item, dict)
    }


def _step(host, running, target, wanted, pinned, airgap=""):
    """(step, problem, via) for one node."""
    now = _parse(running)
    if not running:
        return "new", "", []
    if now is None:
        return (
            "skip",
            f"k3s: {host} runs {running}, which is not a K3s version: upgrade it by hand",
            [],
        )
    if now == wanted:
        return "current", "", []
    if now > wanted:
        return (
            "downgrade",
            (
                f"k3s: {host} runs {running}, newer than k3s_version {target}: K3s does not downgrade"
                " (set k3s_version to the running release or a newer one)"
            ),
            [],
        )
    via, missing = [], []
    for minor in range(now[1] + 1, wanted[1]) if now[0] == wanted[0] else ():
        found = sorted((v for v in pinned if v[:2] == (now[0], minor)), reverse=True)
        if found:
            via.append(found[0])
        else:
            missing.append(f"v{now[0]}.{minor}")
    if now[0] != wanted[0] or missing:
        return "skip", _skip_problem(host, running, target, missing, now, airgap), []
    return "upgrade", "", [_format(v) for v in via]


def _skip_problem(host, running, target, missing, now, airgap):
    """The refusal of a path with a minor no release is known for, saying where one goes
    (the first such minor; the next one when the target is of another major version)."""
    lacking = ", ".join(missing) or "another major version"
    first = missing[0] if missing else f"v{now[0]}.{now[1] + 1}"
    head = (
        f"k3s: {host} runs {running}; {target} skips minor versions, and Kubernetes upgrades"
        " one minor at a time"
    )
    if airgap:
        return (
            f"{head} through a release of each from k3s_artifacts_dir: {airgap} holds none for"
            f" {lacking} (add each as a directory named by its version, such as"
            f" {airgap}/{first}.N+k3sM/)"
        )
    return (
        f"{head} through a pinned release of each: none is pinned for {lacking}"
        f" (`homeforge apply upgrade -e k3s_version={first}.N+k3sM"
        " -e k3s_sha256=...` first, then the next minor)"
    )


def _format(version):
    major, minor, patch, revision = version
    return f"v{major}.{minor}.{patch}+k3s{revision}"


def k3s_upgrade_plan(data, target, hosts, pinned=(), airgap=""):
    wanted = _parse(target)
    if wanted is None:
        raise AnsibleFilterError(
            f"k3s_upgrade_plan: {target!r} is not a K3s version such as v1.36.4+k3s1"
        )
    releases = [v for v in (_parse(p) for p in pinned or ()) if v is not None]
    running = _running(data)
    plan = []
    for host in hosts:
        now = running.get(str(host), "")
        step, problem, via = _step(host, now, target, wanted, releases, str(airgap or ""))
        plan.append(
            {
                "host": str(host),
                "running": now,
                "target": target,
                "step": step,
                "problem": problem,
                "via": via,
            }
        )
    moving = [p for p in plan if p["step"] in ("upgrade", "new")]
    steps = []
    if moving and not any(p["problem"] for p in plan):
        steps = [_format(v) for v in sorted({_parse(v) for p in moving for v in p["via"]})]
        steps.append(target)
    for entry in plan:
        entry["steps"] = steps
    return plan


class FilterModule:
    def filters(self):
        return {"k3s_upgrade_plan": k3s_upgrade_plan}
