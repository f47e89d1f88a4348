"""Converge only what drifted: the plays a drift needs, and the stamp they leave.

Every watch item records the role of the task that reported it (``role``; none for a
task outside a role or one delegated to another host), and whether that task only read
it (``reads``: a ``stat``, a ``slurp``). When the probes find drift on the hosts to run,
their inputs unchanged, the drifted items name the roles that must run again (an item
two roles both manage names both). To those come the roles that depend on them on the
same host, **derived from the last stamp**: a role that reads an item one of them
writes (a ``stat`` of a file another role installs) runs too, and so on until nothing
is added. Two roles that both only write an item (both make sure ``iptables`` is
installed) do not depend on each other. What roles share across hosts is an input, and
a change there is not drift: it converges in full.

The run is a playbook of its own: a first play that only makes sure the facts are there
(gathered as the playbook's first play gathers them; the fact cache usually answers),
then every play of the playbook whose roles, or the roles they include, are among those
to run, unchanged (host pattern, conditions, facts). Whole plays keep every role that
includes another (``k3s_agent`` and ``k3s_common``) as a full run would run it.

Its stamp is the new run's items for the roles that ran on that host, and the last
stamp's items for the others: the probe found those as converged, and the host refuses
the stamp when one is not so any more when it is written. Roles also pass facts they
keep (``set_fact`` with ``cacheable``: WireGuard's address, which K3s and the gateway
read on the same host); a targeted run that changes them is followed, in the same
apply, by a whole run of that host.

The same goes for a host whose inputs changed only in roles' content (``inputs changed:
role ollama``, a role edited) or in inventory variables (``variable ollama_keep_alive``,
``other hosts' variable ollama_models``): those roles run, and the roles of the host
that read those variables (:mod:`homeforge.fastpath.readers`), with the roles that
read what they write; the new stamp has the new inputs. A host none of whose roles
reads what changed runs only the facts play, and gets the new inputs in its stamp.

A host takes the whole playbook instead when its host item drifted (its facts are
gathered anew), a controller file changed, a drifted item names no role, any other
input changed (groups, plugins, extra variables, a connection variable...), or its stamp
predates roles in items; so does every host of a round where one host does. Only playbooks homeforge ships are
targeted: one elsewhere may have ``group_vars``, relative files or an ``ansible.cfg``
beside it, which the copy would lose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from homeforge import paths
from homeforge.fastpath.inputs import (
    OTHERS_PART,
    ROLE_REF,
    VARIABLE_PART,
    _pattern_hosts,
    role_closure,
)
from homeforge.inventory.model import Inventory

# what a watch item is, whoever reported it: the fields that say what the run asked of it
# (effects.REPORTED, unit wants) and its digest are not part of it
_NOT_IDENTITY = {"role", "reads", "digest", "found", "active", "enabled"}


def identity(item: dict[str, Any]) -> str:
    """The thing an item watches (kind and name or path), whatever role reported it."""
    keep = {k: v for k, v in item.items() if k not in _NOT_IDENTITY and not k.startswith("want")}
    return json.dumps(keep, sort_keys=True)


def roles_to_run(drifted: list[dict[str, Any]], stamp: list[dict[str, Any]]) -> set[str] | None:
    """The roles a host's drift needs: those of the drifted items and, from its last
    stamp, every role that reads an item one of them writes. None when a drifted item
    names no role (only the whole playbook can bring it back)."""
    roles = {item.get("role") for item in drifted}
    if not drifted or not all(isinstance(r, str) and r for r in roles):
        return None
    return followed(roles, stamp)


ROLE_PART = "role "  # inputs.digests: one part per role of the host, by its content


def variable_of(part: str) -> str | None:
    """The variable an inputs part stands for (``variable ollama_models``, ``other hosts'
    variable ansible_host``), else None."""
    for prefix in (VARIABLE_PART, OTHERS_PART):
        if part.startswith(prefix):
            return part[len(prefix) :]
    return None


def roles_changed(
    parts: list[str],
    stamp: list[dict[str, Any]],
    readers_of: Callable[[str], set[str] | None] | None = None,
) -> set[str] | None:
    """The roles a change of inputs needs when only roles' content (``role ollama``: a
    task, a template, a default edited) or inventory variables changed: those roles,
    the roles that read those variables (``readers_of(name)``, of the host's own roles:
    :func:`homeforge.fastpath.readers.readers`), and every role that reads what they
    write. None when another part changed (groups, plugins, homeforge itself...) or a
    variable's readers are not known: any role may read it."""
    if not parts:
        return None
    roles: set[str] = set()
    for part in parts:
        if part.startswith(ROLE_PART):
            roles.add(part[len(ROLE_PART) :])
            continue
        name = variable_of(part)
        found = readers_of(name) if name is not None and readers_of is not None else None
        if found is None:
            return None
        roles |= found
    return followed(roles, stamp)


def followed(roles: set[str], stamp: list[dict[str, Any]]) -> set[str]:
    """``roles`` and, from a host's last stamp, every role that reads an item one of them
    writes, until nothing is added."""
    writes: dict[str, set[str]] = {}
    reads: dict[str, set[str]] = {}
    for item in stamp:
        if item.get("role"):
            into = reads if item.get("reads") else writes
            into.setdefault(item["role"], set()).add(identity(item))
    wanted = set(roles)
    while True:
        written = set().union(*(writes.get(r, set()) for r in wanted))
        more = {r for r, ids in reads.items() if r not in wanted and ids & written}
        if not more:
            return wanted
        wanted |= more


@dataclass
class Plan:
    """A targeted run: its playbook's plays, the roles they apply (with the roles those
    include), which of them each host takes as named in the plays (``per_host``), and
    each host's roles with those they include (``ran``: its stamp keeps the last one's
    items of every other role)."""

    plays: list[dict[str, Any]]
    roles: set[str]
    per_host: dict[str, list[str]] = field(default_factory=dict)
    ran: dict[str, set[str]] = field(default_factory=dict)

    @property
    def last_play(self) -> str:
        """The name Ansible reports for the last play (its name, else its pattern)."""
        last = self.plays[-1]
        return str(last.get("name") or last.get("hosts") or "")

    def write(self, directory: Path, name: str) -> Path:
        """The playbook as a file ``name`` in ``directory`` (a private one)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / name
        header = "# Generated by homeforge for one targeted converge; removed after it.\n"
        path.write_text(header + yaml.safe_dump(self.plays, sort_keys=False))
        return path


def plan(inv: Inventory, playbook: Path, roles: set[str], hosts: list[str]) -> Plan | None:
    """The plays of ``playbook`` that apply one of ``roles`` (or a role that includes one),
    after a play that gathers facts like its first. None (only the whole playbook is then
    safe) unless the playbook is one homeforge ships (a playbook elsewhere may have
    ``group_vars``, relative files or an ``ansible.cfg`` beside it, which a copy in
    another directory would lose), a plain list of plays with plain host patterns, and
    its plays run every role asked for (a role of another collection, a play in an
    imported playbook, are not looked for)."""
    root = paths.content_root()
    if playbook.resolve().parent != (root / "playbooks").resolve():
        return None
    try:
        data = yaml.safe_load(playbook.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, list):
        return None
    kept, applied, facts = [], set(), None
    per_host: dict[str, list[str]] = {h: [] for h in hosts}
    ran: dict[str, set[str]] = {h: set() for h in hosts}
    for play in data:
        if not isinstance(play, dict):
            return None
        if any(k in play for k in ("import_playbook", "ansible.builtin.import_playbook")):
            continue  # check.yml: the inputs are those of the last clean converge
        pattern = play.get("hosts")
        if not isinstance(pattern, str) or "{{" in pattern:
            return None
        named = set(ROLE_REF.findall(json.dumps(play)))
        if facts is None and play.get("gather_facts", True):
            facts = {k: play[k] for k in ("gather_subset",) if k in play}
        closure = role_closure(root, named)
        if not closure & roles:
            continue
        kept.append(play)
        applied |= closure
        members = _pattern_hosts(inv, pattern)
        for host in hosts:
            if host in members:
                per_host[host] += sorted(named - set(per_host[host]))
                ran[host] |= closure
    if (not kept and roles) or not roles <= applied:
        return None
    first = {"name": "Facts for a targeted converge", "hosts": "all", "gather_facts": True}
    return Plan([{**first, **(facts or {}), "tasks": []}, *kept], applied, per_host, ran)


def kept_items(stamp: list[dict[str, Any]], ran: set[str]) -> list[dict[str, Any]]:
    """The last stamp's items a targeted run leaves to stand: those of roles it did not
    run, and those no role reported, with their recorded digests (not the host item,
    which every stamp starts with)."""
    return [item for item in stamp if item.get("kind") != "host" and item.get("role") not in ran]


# what fact gathering itself keeps beside the ansible_* facts
GATHERED = {"gather_subset", "module_setup", "discovered_interpreter_python"}


def set_facts(cache: Path, hosts: list[str]) -> dict[str, Any]:
    """Per host, the facts roles set and keep (``set_fact`` with ``cacheable``, such as
    ``wireguard_facts``) from the controller's fact cache. A targeted run that changes
    them may change what roles it did not run read (K3s's node address is WireGuard's):
    those hosts then run again, whole."""
    found: dict[str, Any] = {}
    for host in hosts:
        try:
            facts = json.loads((cache / host).read_text())
        except (OSError, ValueError):
            facts = {}
        found[host] = {
            k: v for k, v in facts.items() if not k.startswith("ansible_") and k not in GATHERED
        }
    return found
