"""Models several hosts want cross the uplink once: ``homeforge apply``'s part of seeding.

When the inventory asks for one model on more than one Ollama host of the WireGuard
mesh, a converge does not let each host pull it from the registry. The ollama role
leaves those models to the converge (:func:`deferred`, passed to the role as
``ollama_seeded_models``), and after the Ansible run :func:`spread` makes every
selected host that wants one have it:

- from a host that already has it (the hosts this run converged cleanly first, then
  any other that wants it, selected or not; the next one when a host cannot offer it),
  or else pulled once from the registry, on the first selected host that lacks it
  (:func:`homeforge.models.pulls.run`: the role's own module, through
  ``playbooks/models.yml``);
- then seeded host to host over the mesh (:func:`homeforge.models.seed`: every blob and
  the manifest checked against the source's digest);
- a target the seeding fails on (no source could offer it, a fetch broke), or whose
  source's pull failed, pulls from the registry itself, and the converge says why in
  one line; a host that still lacks it, or whose Ollama cannot be asked, fails it.

Every converge where a selected host shares a model lists those hosts' models again,
so a seeded model removed by hand comes back even when the fast path finds nothing else
to do (the role does not watch what it leaves to the converge). A host outside the mesh, or whose ``ollama_models``
is not a plain list, keeps pulling for itself; so does every host when the run is
limited by tags. ``--check`` lists and reports; it changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from homeforge.errors import HomeforgeError
from homeforge.fastpath.inputs import playbook_files
from homeforge.inventory.model import Inventory
from homeforge.models import seed
from homeforge.models.pulls import run as pull
from homeforge.module_utils import load as load_module_utils
from homeforge.remote import Remote, fan_out, modelops
from homeforge.roles import role_default
from homeforge.wireguard.settings import MeshSettings

GROUP = "ollama"
VARIABLE = "ollama_seeded_models"  # the ollama role's: per host, the models it leaves to us


def deferred(inv: Inventory) -> dict[str, dict[str, str]]:
    """Per model (its short name, as Ollama lists it) wanted by two or more Ollama hosts
    of the mesh in host mode: each such host and the name its inventory gives. Read
    from the inventory alone, so it is the same for every converge of it."""
    ollama = load_module_utils("ollama")
    members = inv.group_members(GROUP)
    if not members:
        return {}
    mesh = MeshSettings.of(inv)
    wanting: dict[str, dict[str, str]] = {}
    for host in members:
        hv = inv.hostvars[host]
        mode = hv.get("ollama_mode", role_default("ollama", "ollama_mode"))
        names = hv.get("ollama_models", [])
        if mode != "host" or not mesh.is_member(host) or not _plain_names(names):
            continue
        for name in names:
            try:
                short = ollama.short_name(name)
            except ollama.ModelNameError:
                continue  # inventory check names it; the role refuses it
            wanting.setdefault(short, {}).setdefault(host, name)
    return {model: hosts for model, hosts in wanting.items() if len(hosts) > 1}


def _plain_names(names: object) -> bool:
    return isinstance(names, list) and all(isinstance(n, str) and "{" not in n for n in names)


def role_variable(plan: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """The role's ``ollama_seeded_models``: per host, the names it leaves to the converge."""
    out: dict[str, list[str]] = {}
    for hosts in plan.values():
        for host, name in hosts.items():
            out.setdefault(host, []).append(name)
    return {h: sorted(v) for h, v in sorted(out.items())}


def extra_vars(inv: Inventory) -> list[str]:
    """The extra variable a converge passes (none when no model is wanted twice)."""
    plan = deferred(inv)
    return [json.dumps({VARIABLE: role_variable(plan)}, sort_keys=True)] if plan else []


@dataclass
class Spread:
    """What a converge did for one model several hosts want: where it came from
    (``source``; ``pulled`` when it was pulled there from the registry), the hosts it
    was seeded to, the hosts that pulled it themselves after a failed seeding (with
    why), and the hosts that still lack it (with why)."""

    model: str
    source: str = ""
    pulled: bool = False
    seeded: list[str] = field(default_factory=list)
    fell_back: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    size: int = 0
    check: bool = False

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def changed_hosts(self) -> list[str]:
        """The hosts this changed (or, in check mode, would change)."""
        return sorted({*([self.source] if self.pulled else []), *self.seeded, *self.fell_back})

    def line(self) -> str:
        """One line for the recap."""
        would = "would be " if self.check else ""
        parts = []
        if self.pulled:
            parts.append(f"{would}pulled once from the registry on {self.source}")
        if self.seeded:
            size = f", {self.size / 1e6:.1f} MB each" if self.size else ""
            parts.append(
                f"{would}seeded from {self.source} to {', '.join(self.seeded)} (over the mesh{size})"
            )
        for host, why in sorted(self.fell_back.items()):
            parts.append(f"{host} pulled it from the registry: {why}")
        for host, why in sorted(self.missing.items()):
            parts.append(f"{host} does not have it: {why}")
        return f"model {self.model}: " + "; ".join(parts)

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "source": self.source,
            "pulled": self.pulled,
            "seeded": self.seeded,
            "fell_back": self.fell_back,
            "missing": self.missing,
            "ok": self.ok,
        }


def spread(
    inv: Inventory, selected: list[str], healthy: set[str], remote: Remote, check: bool
) -> list[Spread]:
    """After a converge: every model several hosts want, on every ``healthy`` selected
    host that wants it (see the module's docstring). One :class:`Spread` per model that
    needed something; an unexpected error is that model's line, not a traceback."""
    ready = [h for h in selected if h in healthy]
    plan = {m: hs for m, hs in deferred(inv).items() if any(h in ready for h in hs)}
    if not plan:
        return []
    ollama = load_module_utils("ollama")
    asked = sorted({h for hosts in plan.values() for h in hosts})
    listed = fan_out(lambda h: remote.call(h, modelops.ollama_tags)["models"], asked)
    out = []
    for model, hosts in sorted(plan.items()):
        has = {
            h: ollama.find(listed[h], model) is not None
            for h in hosts
            if isinstance(listed[h], list)
        }
        # sources this converge found healthy first, then the others (outside --limit)
        holders = sorted((h for h in hosts if has.get(h)), key=lambda h: h not in ready)
        # a host whose Ollama cannot be asked: in check mode it is new (predicted)
        unasked = {h: listed[h] for h in hosts if h in ready and h not in has and not check}
        targets = [h for h in hosts if h in ready and not has.get(h) and h not in unasked]
        if not (targets or unasked):
            continue
        try:
            done = _bring(inv, model, holders, targets, check) if targets else Spread(model)
        except Exception as exc:  # after a converge: a line in its recap, never a traceback
            why = f"homeforge could not bring it: {type(exc).__name__}: {_first_line(str(exc))}"
            done = Spread(model, check=check, missing=dict.fromkeys(targets, why))
        for host, error in unasked.items():
            done.missing[host] = f"its Ollama could not be asked: {_first_line(str(error))}"
        out.append(done)
    return out


def _bring(
    inv: Inventory, model: str, holders: list[str], targets: list[str], check: bool
) -> Spread:
    """``model`` onto ``targets``: seeded from the first holder whose offer starts, or
    pulled on the first target and seeded from there; the registry for the rest."""
    done = Spread(model, check=check)
    if not holders:
        done.source, done.pulled, targets = targets[0], True, targets[1:]
    if check:
        done.source = done.source or holders[0]
        done.seeded = list(targets)
        return done
    if done.pulled:
        why = _pull(inv, model, [done.source]).get(done.source)
        if why:
            done.missing[done.source] = f"the pull failed: {why}"
            done.pulled = False
            _registry(inv, model, done, dict.fromkeys(targets, f"the pull on {done.source} failed"))
            return done
        holders = [done.source]
    if targets:
        _registry(inv, model, done, _seed(inv, model, done, holders, targets))
    return done


def _seed(
    inv: Inventory, model: str, done: Spread, holders: list[str], targets: list[str]
) -> dict[str, str]:
    """Seed ``targets`` from the first holder whose offer starts (``done.source``); the
    targets it failed on, with why."""
    refused = []
    done.source = holders[0]
    for holder in holders:
        try:
            result = seed(inv, model, holder, targets)
        except HomeforgeError as exc:
            refused.append(_first_line(str(exc)))
            continue
        done.source, done.size = holder, result.size
        failed = {}
        for host, reply in result.targets.items():
            if isinstance(reply, dict):
                done.seeded.append(host)
            else:
                failed[host] = f"seeding failed ({_first_line(reply)})"
        return failed
    return dict.fromkeys(targets, f"seeding failed ({'; '.join(refused)})")


def _registry(inv: Inventory, model: str, done: Spread, failed: dict[str, str]) -> None:
    """The hosts seeding could not serve pull from the registry themselves."""
    if not failed:
        return
    still = _pull(inv, model, sorted(failed))
    for host, why in failed.items():
        if still.get(host):
            done.missing[host] = f"{why}, then its own pull failed: {still[host]}"
        else:
            done.fell_back[host] = why


def _pull(inv: Inventory, name: str, hosts: list[str]) -> dict[str, str]:
    """Pull ``name`` from the registry on ``hosts`` (the role's module); per host, why it
    failed (hosts that have it now are left out)."""
    try:
        outcome = pull(inv, name, "present", hosts)
    except HomeforgeError as exc:
        return {h: _first_line(str(exc)) for h in hosts}
    return {
        o.host: o.error or f"Ollama lists no {name} after the pull"
        for o in outcome.outcomes
        if o.state != "present"
    }


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no reason given"])[0]


def applies(playbook: Path, tags: bool) -> bool:
    """Whether a converge of ``playbook`` does this: one of its plays (or of a playbook it
    imports) applies the ollama role whole, in ``roles:``, and no tag limits the run (a
    partial run may skip the role's model tasks). ``playbooks/models.yml`` includes only
    the role's model tasks, for one model: it pulls as asked."""
    if tags:
        return False
    for path in playbook_files(playbook):
        try:
            data = yaml.safe_load(path.read_text()) or []
        except (OSError, yaml.YAMLError):
            continue
        for play in data if isinstance(data, list) else []:
            roles = play.get("roles") if isinstance(play, dict) else None
            for role in roles if isinstance(roles, list) else []:
                name = role.get("role", role.get("name")) if isinstance(role, dict) else role
                if isinstance(name, str) and name.split(".")[-1] == GROUP:
                    return True
    return False
