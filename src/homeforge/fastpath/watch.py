"""What a run manages, per host, read from the run's own events.

Every task result ansible-runner reports names its module and, in ``invocation``, the
arguments the module ran with, templated. :func:`WatchList.add_event` turns each
result into **watch items** (see :mod:`homeforge.remote.stampwatch` for what each kind
observes): ``template``/``copy``/``file`` paths, package names, units, sysctl keys,
firewall chains, the WireGuard interface's peers, users and groups, and what
homeforge's own modules manage (a table of one function per module:
:mod:`homeforge.fastpath.effects`). A new role therefore needs no declarations. Each
item names the role of the task that reported it, so a drift can re-run only the roles
it needs (:mod:`homeforge.fastpath.targets`).

Some tasks only look (``stat``, ``slurp``, ``assert``, ``set_fact``, a ``command`` its
role marks ``changed_when: false``...); what they read is watched when it is on the
host (a ``stat``'s path), and nothing else is recorded. A task whose effect cannot be
observed on the host (a ``command`` that may change something, a call to a cloud or
Kubernetes API, a module that table does not know) makes its host **not eligible**
for the fast path, with the task named, until the role turns it into something
watchable (a ``creates:`` path, a read followed by a conditional write), or declares
that its effect lives off the host (``vars: {homeforge_unwatched: WHY}``, such as a node
label in the Kubernetes API: only ``apply --full`` re-checks those).

So does an API read whose answer goes into the host's configuration (``eks_cluster_info``);
a ``run_once`` task counts for every host of its play. A unit item carries what the last
task on it asked (``active``, ``enabled``): the stamp is refused when the unit is not so.
Tasks delegated to another inventory host count for that host; tasks delegated to the
controller (``localhost``) are not watched there: a fetched file is the controller's.
Handlers are consequences of the changes that notified them and add nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from homeforge.fastpath.effects import (
    COMMANDS,
    NO_EFFECT,
    READ_METHODS,
    action_of,
    result_items,
    short,
)
from homeforge.inventory.model import Inventory

# API reads whose answer the run writes on the host: not eligible (the inventory may say it)
API_READS = {
    "eks_cluster_info": "reads the cluster's endpoint and CA from the EKS API "
    "(set eks_node_api_endpoint and eks_node_certificate_authority to skip it)",
}
ItemKey = tuple
READS = ("stat", "slurp", "wait_for")  # their items are what the task read, not wrote


@dataclass
class HostWatch:
    items: dict[ItemKey, dict[str, Any]] = field(default_factory=dict)
    unwatchable: list[str] = field(default_factory=list)
    # no_log writes by task file, waiting for a stat in the same file to name their path
    secret_writes: dict[str, list[str]] = field(default_factory=dict)
    # unit -> what the run's last task on it asked for ({"active": bool, "enabled": bool}):
    # the stamp is refused when the unit is not so once the run is over
    unit_wants: dict[str, dict[str, bool]] = field(default_factory=dict)
    # file -> what the run's last task on it reported of it (effects.REPORTED): the stamp is
    # refused when the file is not so once the run is over (an edit during the run)
    file_wants: dict[str, dict[str, Any]] = field(default_factory=dict)
    # problems of run_once tasks of the plays this host took part in
    shared: list[str] = field(default_factory=list)
    # the role of the task whose result is being read, and whether that task only reads
    # (a stat): what a drift re-runs, and which roles follow it (targets)
    role: str = ""
    reads: bool = False

    def add(self, kind: str, **fields: Any) -> None:
        fields = {"role": self.role, "reads": self.reads or None, **fields}
        item = {"kind": kind, **{k: v for k, v in fields.items() if v not in (None, "")}}
        self.items.setdefault(tuple(sorted(item.items())), item)

    @property
    def problems(self) -> list[str]:
        unnamed = [
            f"{where}: writes a secret (no_log) and no stat after it in {Path(file).name} "
            "names what it wrote"
            for file, wheres in self.secret_writes.items()
            for where in wheres
        ]
        return self.unwatchable + self.shared + unnamed

    @property
    def eligible(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return self.problems[0] if self.problems else ""

    def ordered(self) -> list[dict[str, Any]]:
        items = sorted(self.items.values(), key=lambda i: json.dumps(i, sort_keys=True))
        wants = {"unit": ("name", self.unit_wants), "file": ("path", self.file_wants)}
        out = []
        for item in items:
            key, found = wants.get(item["kind"], ("", {}))
            out.append({**item, **found.get(item.get(key), {})})
        return out


@lru_cache(maxsize=256)
def _task_source(task_path: str) -> dict[str, Any]:
    """The task as written in its role (``file.yml:LINE``): what it declares about itself,
    such as ``changed_when``, which the events do not carry."""
    file, _, line = task_path.rpartition(":")
    try:
        lines = Path(file).read_text().splitlines()
        start = int(line) - 1
    except (OSError, ValueError):
        return {}
    if not 0 <= start < len(lines):
        return {}
    first = lines[start]
    indent = len(first) - len(first.lstrip())
    block = [first]
    for text in lines[start + 1 :]:
        stripped = text.strip()
        if stripped and (len(text) - len(text.lstrip())) <= indent:
            break
        block.append(text)
    try:
        parsed = yaml.safe_load("\n".join(t[indent:] for t in block))
    except yaml.YAMLError:
        return {}
    return parsed[0] if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict) else {}


def _reads(action: str, data: dict[str, Any]) -> bool:
    """Whether a task whose arguments are hidden (no_log) or that ran on the controller
    only reads: ``uri`` by the method its role wrote (templated: taken as a write)."""
    if action == "uri":
        source = _task_source(str(data.get("task_path", "")))
        spec = next((v for k, v in source.items() if short(k) == "uri"), None)
        method = spec.get("method", "GET") if isinstance(spec, dict) else None
        return isinstance(method, str) and method.upper() in READ_METHODS
    return action in NO_EFFECT or action in ("stat", "slurp")


def _declared_unwatched(data: dict[str, Any]) -> bool:
    """A task whose effect lives off the host (the Kubernetes API) may say so with
    ``vars: {homeforge_unwatched: WHY}``: it does not make its host ineligible, and only
    ``apply --full`` re-checks what it did."""
    declared = (_task_source(str(data.get("task_path", ""))).get("vars") or {}).get(
        "homeforge_unwatched"
    )
    return isinstance(declared, str) and bool(declared.strip())


class WatchList:
    """Watch items per inventory host, built from a run's events."""

    def __init__(self, inv: Inventory):
        self.inv = inv
        self.hosts: dict[str, HostWatch] = {}
        self._play = 0
        self._play_hosts: dict[int, set[str]] = {}
        self._play_problems: dict[int, list[str]] = {}
        self._by_address = {}
        for host in inv.hosts:
            self._by_address.setdefault(inv.address(host), host)
            self._by_address.setdefault(host, host)

    def host(self, name: str) -> HostWatch:
        entry = self.hosts.setdefault(name, HostWatch())
        entry.shared = [
            problem
            for play, problems in self._play_problems.items()
            if name in self._play_hosts.get(play, ())
            for problem in problems
        ]
        return entry

    def _target(self, host: str, res: dict[str, Any]) -> str | None:
        """The inventory host a result's effects are on; None for the controller."""
        delegated = res.get("_ansible_delegated_vars")
        if not delegated:
            return host
        if delegated.get("ansible_connection") == "local":
            return None
        address = str(
            delegated.get("ansible_host") or delegated.get("ansible_delegated_host") or ""
        )
        if address in ("localhost", "127.0.0.1", "::1"):
            return None
        return self._by_address.get(address, host)

    def add_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self._play += 1
        if str(kind).startswith("runner_on_") and data.get("host"):
            self._play_hosts.setdefault(self._play, set()).add(str(data["host"]))
        if kind not in ("runner_on_ok", "runner_on_failed"):
            return
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            return  # the run failed on this host: no stamp is written for it
        if "/handlers/" in str(data.get("task_path", "")):
            return
        host = data.get("host")
        if not host:
            return
        res = data.get("res") or {}
        results = res.get("results") if isinstance(res.get("results"), list) else [res]
        action = action_of(data)
        where = f"task '{data.get('task', '?')}'" + (
            f" (role {data['role']})" if data.get("role") else ""
        )
        task_file = str(data.get("task_path", "")).rpartition(":")[0]
        for one in results:
            if not isinstance(one, dict) or one.get("skipped"):
                continue
            target = self._target(host, one)
            if _declared_unwatched(data):
                continue
            if action in API_READS:  # wherever it ran, with or without no_log
                self._unwatchable(host, where, f"{action} {API_READS[action]}", data)
                continue
            if one.get("censored") or (one.get("_ansible_no_log") and "invocation" not in one):
                # no_log: no arguments to read. Reads need none; a write waits for a stat.
                if not _reads(action, data) and not (action in COMMANDS and self._only_looks(data)):
                    self.host(target or host).secret_writes.setdefault(task_file, []).append(where)
                continue
            if target is None:
                if not _reads(action, data) and not (action in COMMANDS and self._only_looks(data)):
                    self._unwatchable(
                        host,
                        where,
                        f"{action} on the controller (its effect is not on the host)",
                        data,
                    )
                continue
            watch = self.host(target)
            # delegated: only a run of the delegating host repairs it, never the role alone
            watch.role = str(data.get("role") or "") if target == host else ""
            watch.reads = action in READS
            if action == "stat":
                watch.secret_writes.pop(task_file, None)
            if action in COMMANDS and self._only_looks(data):
                continue  # the role says it only looks
            problem = result_items(watch, action, one, data)
            if problem:
                self._unwatchable(host, where, problem, data)
                if target != host:
                    self.host(target).unwatchable.append(f"{where} from {host}: {problem}")

    def _unwatchable(self, host: str, where: str, problem: str, data: dict[str, Any]) -> None:
        """The host cannot take the fast path; with ``run_once``, no host of the play can
        (the one result reported stands for all of them)."""
        line = f"{where}: {problem}"
        if _task_source(str(data.get("task_path", ""))).get("run_once") is True:
            self._play_problems.setdefault(self._play, []).append(line)
        else:
            self.host(host).unwatchable.append(line)

    @staticmethod
    def _only_looks(data: dict[str, Any]) -> bool:
        """A command its role marks ``changed_when: false``: it reads, it never changes."""
        return _task_source(str(data.get("task_path", ""))).get("changed_when") is False
