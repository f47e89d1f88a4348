"""The converge fast path: skip hosts a run would not change, without trusting luck.

``homeforge apply`` starts with one probe per host, in parallel, over
:class:`homeforge.remote.Remote`: the controller sends the host's **inputs digest**
(:mod:`homeforge.fastpath.inputs`), the host compares it with the **stamp** its last
clean converge left and recomputes the digest of everything that run manages
(:mod:`homeforge.remote.stampops`). A host where both match is reported as
"unchanged (probe)" and Ansible does not run for it; the others converge as usual,
limited to them. After the run each host that finished cleanly gets a new stamp,
its watch list read from the run's own events (:mod:`homeforge.fastpath.watch`).

Rules that keep it correct:

- every ``apply`` first removes the stamps of the hosts it runs on (a probe that does
  not match does so in the same round trip), so a failed or interrupted run leaves none;
- stamps are written only after a run that reached its end on that host with no
  failure, none rescued or ignored, and at least one task run (with no failure
  anywhere, when the playbook or its roles use ``serial``, ``any_errors_fatal`` or
  ``max_fail_percentage``, which stop healthy hosts early), never in check mode or with
  ``--tags``/``--skip-tags`` (a partial run); the host refuses one when a unit is not
  as the run asked;
- a stamp records the inputs the run started with; only the facts the run left in the
  controller's cache are taken from after it;
- a run with a task whose effect cannot be watched writes a stamp that says so, and
  that host always converges, with the task named in the recap;
- ``--full`` bypasses the probe; ``--check`` uses it to answer "nothing would change".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from homeforge import paths
from homeforge.fastpath import inputs, peers, readers, targets
from homeforge.fastpath.watch import WatchList
from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, fan_out, stampops
from homeforge.runner import HostStats, RunResult

UNCHANGED = "unchanged (probe)"
SSH_CONNECTIONS = ("ssh", "paramiko", "smart")
CONVERGED = "converged"
# What a probe's outcome means, as the recap says it.
REASONS = {
    "never": "never converged",
    "ineligible": "not eligible",
    "inputs": "inputs changed",
    "drift": "drift",
    "error": "probe failed",
    "full": "--full",
}


@dataclass
class Probe:
    outcome: str  # unchanged | never | ineligible | inputs | drift | error | full
    detail: str = ""
    facts_stale: bool = False  # the host itself drifted: gather its facts anew
    # the items whose drift (inputs unchanged) caused the converge, with their recorded
    # digests: the converge must bring them back before the host is stamped again
    drifted: list = field(default_factory=list)
    # on drift or changed inputs, the last stamp's items: what a targeted converge keeps
    # of the roles it leaves; with changed inputs, which parts changed
    stamp: list = field(default_factory=list)
    parts: list = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return self.outcome == "unchanged"

    @property
    def reason(self) -> str:
        label = REASONS.get(self.outcome, self.outcome)
        return f"{label}: {self.detail}" if self.detail and self.outcome != "full" else label


def stamp_name(playbook: Path) -> str:
    return playbook.stem


def _clean(stats: HostStats) -> bool:
    ran = stats.ok + stats.changed + stats.skipped > 0
    return ran and stats.healthy and stats.rescued == 0 and stats.ignored == 0


class FastPath:
    """One apply's probes and stamps."""

    def __init__(self, inv: Inventory, playbook: Path, hosts: list[str], extra_vars: list[str]):
        self.inv = inv
        self.playbook = playbook
        self.hosts = hosts
        self.extra_vars = list(extra_vars)
        self.name = stamp_name(playbook)
        self.roles = inputs.closures(inv, playbook, hosts)
        self.digests = inputs.digests(inv, playbook, hosts, self.extra_vars, self.roles)
        self.before = self.digests
        # the files each host's run copies from another host (peers.PEER_FILES)
        self.peer_reads = peers.reads(inv, self.roles)
        # Where a failure can stop other hosts early, their "no failure" proves nothing.
        self.all_or_nothing = inputs.stops_other_hosts(playbook)
        self.last_play = inputs.last_play(playbook)
        self.probes: dict[str, Probe] = {}
        self.elapsed = 0.0

    def probe(self, remote: Remote, check: bool) -> dict[str, Probe]:
        """Probe every host; outside check mode a host that does not match loses its stamps."""
        started = time.monotonic()
        for host, why in self._read_peers(remote).items():
            self.probes[host] = Probe("error", why)
        for host in self.hosts:
            if host in self.probes:
                continue
            if not self.over_ssh(host):
                self.probes[host] = Probe("ineligible", self._not_ssh(host))
            elif key := inputs.unresolvable(self.inv.hostvars[host]):
                self.probes[host] = Probe(
                    "ineligible", f"{key} is a lookup (its value is only known when Ansible runs)"
                )
        asked = [h for h in self.hosts if h not in self.probes]

        def one(host: str) -> dict:
            return remote.call(
                host,
                stampops.stamp_check,
                timeout=60,
                playbook=self.name,
                inputs=self.digests[host],
                clear=not check,
            )

        stale: list[str] = []  # matched on the host, not on the controller
        errored: list[str] = []  # the probe failed: its stamp may still be there
        for host, reply in fan_out(one, asked, workers=32).items():
            if isinstance(reply, BaseException):
                self.probes[host] = Probe("error", str(reply))
                errored.append(host)
                continue
            self.probes[host] = Probe(
                reply["outcome"],
                reply.get("detail", ""),
                bool(reply.get("facts_stale")),
                list(reply.get("drifted") or []),
                list(reply.get("stamp") or []),
                list(reply.get("parts") or []),
            )
            changed = [
                item["path"]
                for item in reply.get("local") or []
                if stampops.local_digest(item["path"]) != item["digest"]
            ]
            if changed:
                detail = f"changed since the last converge: controller file {changed[0]}"
                self.probes[host] = Probe("drift", detail)
                stale.append(host)
        if not check:
            self.clear(
                remote, stale + [h for h in self.hosts if h not in asked and self.over_ssh(h)]
            )
            # Best effort: a host whose probe could not run (no python3 yet) may still be
            # converged by Ansible, which then makes it what the next probe can read.
            self.clear(remote, errored, strict=False)
        self.elapsed = time.monotonic() - started
        return self.probes

    def over_ssh(self, host: str) -> bool:
        """Stamps are read and written over SSH: a host Ansible reaches another way
        (``ansible_connection: local``, a container connection) is never probed."""
        return self.inv.hostvars[host].get("ansible_connection", "ssh") in SSH_CONNECTIONS

    def _not_ssh(self, host: str) -> str:
        connection = self.inv.hostvars[host].get("ansible_connection")
        return f"ansible_connection {connection} (the probe needs SSH)"

    def bypass(self, remote: Remote, check: bool) -> None:
        """--full (or a partial run): every host runs; outside check mode stamps go first."""
        self._read_peers(remote)
        for host in self.hosts:
            self.probes[host] = Probe("full")
        if not check:
            self.clear(remote, [h for h in self.hosts if self.over_ssh(h)])

    @property
    def to_run(self) -> list[str]:
        return [h for h in self.hosts if not self.probes.get(h, Probe("never")).unchanged]

    def _read_peers(self, remote: Remote) -> dict[str, str]:
        """Put the digests of the files each host copies from another host into its
        inputs (read on the sources now); per host whose source could not be read, why."""
        if not self.peer_reads:
            return {}

        def peek(source: str, paths: list[str]):
            if not self.over_ssh(source):
                return OSError(self._not_ssh(source))
            try:
                return remote.call(source, stampops.peek, timeout=60, paths=paths)
            except Exception as exc:
                return exc

        found, problems = peers.parts(self.peer_reads, peek)
        self.digests = {
            host: {**parts, **({peers.PART: found[host]} if host in found else {})}
            for host, parts in self.digests.items()
        }
        return problems

    def refresh(self, remote: Remote) -> None:
        """The inputs as a run left them: only what it can change, the facts it left in
        the controller's cache and the files hosts copy from others, is read again.
        Roles, plugins, variables and files edited while it ran keep their digests from
        before it, so the stamp cannot vouch for an edit the run never applied."""
        self.before = self.digests
        now = inputs.digests(self.inv, self.playbook, self.hosts, self.extra_vars, self.roles)
        self.digests = {
            host: {
                **parts,
                **{k: now[host][k] for k in inputs.RUN_CHANGES if k in now[host]},
            }
            for host, parts in self.before.items()
        }
        self._read_peers(remote)

    def changed_by_run(
        self, remote: Remote, ran: list[str], facts_moved: list[str] = ()
    ) -> list[str]:
        """The hosts a run left out whose inputs it changed (a host that came back with a
        new WireGuard key changes its peers' inputs), and those of a targeted run whose
        roles set facts other roles of theirs read (``facts_moved``): they lose their
        stamps and run too, whole."""
        again = [h for h in self.hosts if h not in ran and self.digests[h] != self.before[h]]
        for host in again:
            now, before = self.digests[host], self.before[host]
            parts = sorted(k for k in now if now[k] != before.get(k))
            self.probes[host] = Probe("inputs", f"{', '.join(parts)} (changed by this run)")
        for host in facts_moved:
            self.probes[host] = Probe("inputs", "facts its roles set (changed by this run)")
        again += [h for h in facts_moved if h not in again]
        self.clear(remote, [h for h in again if self.over_ssh(h)])
        return again

    @staticmethod
    def clear(remote: Remote, hosts: list[str], strict: bool = True) -> None:
        if not hosts:
            return
        failed = {
            host: err
            for host, err in fan_out(
                lambda h: remote.call(h, stampops.stamp_clear, timeout=60), hosts
            ).items()
            if isinstance(err, BaseException)
        }
        if failed and strict:  # a stamp left behind could hide this run's changes: stop here
            raise next(iter(failed.values()))

    def stampable(
        self, result: RunResult, hosts: list[str], plays: list[str], last_play: str = ""
    ) -> list[str]:
        """The hosts of a run that may get a stamp: the run reached the playbook's last
        play (Ansible stops early when every host of a play failed, yet still reports
        final stats), and they had no failure (all of them none, when a play can stop
        healthy hosts early), no failure rescued or ignored (the state it left is not one a
        clean converge makes), and ran at least one task (a host a ``serial`` batch never
        reached has empty stats). ``last_play`` is a targeted run's own."""
        last_play = last_play or self.last_play
        if not result.completed or not last_play or last_play not in plays:
            return []
        if self.all_or_nothing and not result.ok:
            return []
        return [h for h in hosts if h in result.stats and _clean(result.stats[h])]

    def _must_repair(self, host: str, plan: targets.Plan | None) -> list:
        """The drifted items a converge of ``host`` must bring back before its stamp: those
        that caused it, or that a targeted run of changed roles took on; a whole run for
        changed inputs may stop managing them."""
        probe = self.probes.get(host)
        if probe is None or (probe.outcome != "drift" and plan is None):
            return []
        return probe.drifted

    def target(self, hosts: list[str]) -> targets.Plan | None:
        """The targeted run for ``hosts`` (see :mod:`homeforge.fastpath.targets`), or None
        when one of them needs the whole playbook."""
        wanted: set[str] = set()
        for host in hosts:
            probe = self.probes.get(host)
            if not probe or probe.facts_stale or not any(i.get("role") for i in probe.stamp):
                return None  # a stamp from before items named their role: all of them run
            if any(
                i.get("kind") == "local" and stampops.local_digest(i["path"]) != i.get("digest")
                for i in probe.stamp
            ):
                return None  # a controller file the host's roles copy changed
            if probe.outcome == "drift":
                roles = targets.roles_to_run(probe.drifted, probe.stamp)
            elif probe.outcome == "inputs":
                roles = targets.roles_changed(probe.parts, probe.stamp, self._readers(host))
                if roles is not None and probe.drifted:  # drifted too, since then
                    more = targets.roles_to_run(probe.drifted, probe.stamp)
                    roles = None if more is None else roles | more
            else:
                return None
            if roles is None:
                return None
            wanted |= roles
        return targets.plan(self.inv, self.playbook, wanted, hosts) if hosts else None

    def _readers(self, host: str):
        """``name`` -> the roles of ``host`` that read variable ``name`` (None: unknown)."""
        closure, values = self.roles.get(host, set()), readers.host_values(self.inv, host)

        def of(name: str) -> set[str] | None:
            found = readers.readers(paths.content_root(), self.playbook, name, values)
            return None if found is None else found & closure

        return of

    def write(
        self,
        remote: Remote,
        hosts: list[str],
        watch: WatchList,
        plan: targets.Plan | None = None,
    ) -> dict[str, str]:
        """A stamp on each host that converged cleanly, with the inputs as they are after
        the run (the fact cache has what the run learnt); after a targeted run (``plan``)
        with the last stamp's items of the roles it left alone. Per host what went wrong."""

        def one(host: str) -> dict:
            entry = watch.host(host)
            items = [{"kind": "host"}, *entry.ordered()]
            for item in items:
                if item["kind"] == "local":
                    item["digest"] = stampops.local_digest(item["path"])
            kept = targets.kept_items(self.probes[host].stamp, plan.ran[host]) if plan else []
            for item in kept:
                if item["kind"] == "local" and stampops.local_digest(item["path"]) != item.get(
                    "digest"
                ):
                    raise OSError(f"controller file {item['path']} changed during the run")
            return remote.call(
                host,
                stampops.stamp_write,
                timeout=120,
                playbook=self.name,
                inputs=self.digests[host],
                watch=items,
                eligible=entry.eligible,
                reason=entry.reason,
                drifted=self._must_repair(host, plan),
                kept=kept,
            )

        return {
            host: str(reply)
            for host, reply in fan_out(one, [h for h in hosts if self.over_ssh(h)], 32).items()
            if isinstance(reply, BaseException)
        }
