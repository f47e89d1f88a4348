"""One converge, as ``homeforge apply`` and ``homeforge mesh apply`` run it.

Every selected host must answer before anything changes; the fast path probes them
(:mod:`homeforge.fastpath`) and leaves out those a run would not change; one Ansible
run converges the others, and those that converged cleanly get a new stamp. When that
run changed the inputs of hosts it left out (a new WireGuard key changes its peers'),
a second round converges them. A model several hosts of the mesh want crosses the
uplink once: the run leaves it to :mod:`homeforge.models.spread`, which pulls it on one
host and seeds the others. The caller sees the progress through a
:class:`ConvergeView` and gets one :class:`ConvergeResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from homeforge import paths
from homeforge.fastpath import CONVERGED, UNCHANGED, FastPath, Probe, targets
from homeforge.fastpath.watch import WatchList
from homeforge.models import spread
from homeforge.remote import Remote
from homeforge.runner import (
    ApplyRequest,
    Failure,
    HostStats,
    RunResult,
    fact_cache_dir,
    forget_facts,
    require_reachable,
    run_playbook,
)
from homeforge.runner.extravars import check_extra_vars
from homeforge.wireguard import live

EventHandler = Callable[[dict[str, Any]], None]
ROUNDS = 2  # a second round when the first changed the inputs of hosts it left out


class ConvergeView(Protocol):
    """How a converge is shown while it goes on (:mod:`homeforge.display.progress` has
    the live table and the JSON lines)."""

    def probed(self, host: str, probe: Probe) -> None:
        """A host's probe is done (called for every selected host, before any run)."""

    def running(
        self, request: ApplyRequest, hosts: list[str], skipped: int
    ) -> AbstractContextManager[EventHandler | None]:
        """Around one Ansible run on ``hosts`` (``skipped`` selected hosts left out as
        unchanged): gives the handler that sees the run's events, or None."""


class QuietView:
    """A :class:`ConvergeView` that shows nothing."""

    def probed(self, host: str, probe: Probe) -> None:
        """Nothing to show."""

    @contextlib.contextmanager
    def running(
        self, request: ApplyRequest, hosts: list[str], skipped: int
    ) -> Iterator[EventHandler | None]:
        """No handler."""
        yield None


@dataclass
class ConvergeResult:
    """What one converge did: the Ansible runs of its rounds merged into one ``run``
    (None when every host was unchanged), per host stats (empty for a host left out),
    outcomes (``unchanged (probe)``, ``converged``, ``checked`` or ``failed``), why each
    host that ran was converged and the roles it ran (all of its roles, or only those a
    drift needs: :mod:`homeforge.fastpath.targets`), the stamps that could not be
    written, and the models brought host to host after the run."""

    run: RunResult | None
    probe_elapsed: float  # seconds the fast path's probes took
    stats: dict[str, HostStats] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    targeted: set[str] = field(default_factory=set)  # hosts that ran only what drifted
    stamp_warnings: list[str] = field(default_factory=list)
    models: list[spread.Spread] = field(default_factory=list)  # models brought host to host

    @property
    def status(self) -> str:
        """runner's status of the runs ("successful" when none was needed)."""
        return self.run.status if self.run else "successful"

    @property
    def rc(self) -> int:
        """The runs' return code (0 when none was needed)."""
        return self.run.rc if self.run else 0

    @property
    def elapsed(self) -> float:
        """Seconds the runs took, or the probes when no run was needed."""
        return self.run.elapsed if self.run else self.probe_elapsed

    @property
    def artifacts(self) -> Path | None:
        """The last run's private data dir; None when no Ansible run was needed."""
        return self.run.artifacts if self.run else None

    @property
    def failures(self) -> list[Failure]:
        """The failed tasks of every round."""
        return self.run.failures if self.run else []

    @property
    def warnings(self) -> list[str]:
        """Ansible's warnings, then one line per host whose stamp was not written."""
        return (self.run.warnings if self.run else []) + self.stamp_warnings

    @property
    def ok(self) -> bool:
        """The runs succeeded, every host is healthy and has the models it wants."""
        healthy = all(s.healthy for s in self.stats.values())
        return self.status == "successful" and healthy and all(m.ok for m in self.models)

    @property
    def changed(self) -> int:
        """Changed tasks, all hosts together."""
        return sum(s.changed for s in self.stats.values())


def converge(
    request: ApplyRequest, full: bool = False, view: ConvergeView | None = None
) -> ConvergeResult:
    """Preflight (every host reachable), probe (the fast path; ``full`` skips it), run the
    hosts that need it, stamp the hosts that converged cleanly, and a second round for
    the hosts whose inputs the first changed. ``view`` shows it as it goes."""
    view = view or QuietView()
    hosts = request.inventory.select(request.limit)
    check_extra_vars(request.extra_vars)  # bad input stops here, before any host is touched
    request.inventory.require_vault()
    require_reachable(request.inventory, hosts)
    seeding = spread.applies(request.playbook, bool(request.tags or request.skip_tags))
    if seeding:  # the models several hosts want: the role leaves them to spread() below
        extra = [*request.extra_vars, *spread.extra_vars(request.inventory)]
        request = dataclasses.replace(request, extra_vars=extra)
    stamp_warnings: list[str] = []
    with Remote(request.inventory) as remote:
        fast = FastPath(request.inventory, request.playbook, hosts, request.extra_vars)
        with _converge_lease(
            request, remote, [h for h in hosts if fast.over_ssh(h)], stamp_warnings
        ):
            result = _converge(request, hosts, full, view, fast, remote, stamp_warnings)
            if seeding and _finished(result):
                healthy = {h for h in hosts if _clean(result, h)}
                done = spread.spread(request.inventory, hosts, healthy, remote, request.check)
                _seeded(result, done, request.check)
    return result


def _finished(result: ConvergeResult) -> bool:
    """No run was needed, or the runs reached their end (every host has its stats)."""
    return result.run is None or bool(result.run.stats)


def _clean(result: ConvergeResult, host: str) -> bool:
    """The host's converge (or check) went through without a failed task."""
    stats = result.stats.get(host)
    return (
        result.outcomes.get(host) != "failed"
        and (stats is None or stats.healthy)
        and not any(f.host == host for f in result.failures)
    )


def _seeded(result: ConvergeResult, done: list[spread.Spread], check: bool) -> None:
    """What :func:`homeforge.models.spread.spread` did, in the result: a change on each
    host it brought a model to (a host the probe found unchanged is converged now)."""
    result.models = done
    for item in done:
        for host in item.changed_hosts:
            result.stats.setdefault(host, HostStats()).changed += 1
            if result.outcomes.get(host) == UNCHANGED:
                result.outcomes[host] = "checked" if check else CONVERGED
                result.reasons[host] = f"model {item.model} was missing"
                result.roles[host] = []


# A converge holds the lease as long as this: longer runs are rare, and a run that died
# on this controller is taken over at once (another controller's: --break-lease).
CONVERGE_LEASE_S = 4 * 3600


@contextlib.contextmanager
def _converge_lease(
    request: ApplyRequest, remote: Remote, hosts: list[str], notes: list[str]
) -> Iterator[None]:
    """Every host's converge lease (``/var/lib/homeforge/leases/converge.json``) while the
    run changes hosts and their stamps: a second controller's apply is refused, naming
    the holder, instead of overlapping and stamping what this run wrote. Check mode
    changes nothing and takes none."""
    from homeforge.cutover.lease import HostLeases

    if request.check or not hosts:
        yield
        return
    leases = HostLeases(
        remote,
        "converge",
        hosts,
        str(request.inventory.path),
        f"apply {request.playbook.stem}",
        notes.append,
        force=request.break_lease,
        ttl=CONVERGE_LEASE_S,
    )
    leases.acquire(None)
    try:
        yield
    finally:
        leases.release(None)


def _converge(
    request: ApplyRequest,
    hosts: list[str],
    full: bool,
    view: ConvergeView,
    fast: FastPath,
    remote: Remote,
    stamp_warnings: list[str],
) -> ConvergeResult:
    """The probe and the rounds of one converge (see :func:`converge`)."""
    # A run limited by tags is partial: it may run but never vouch for a host.
    partial = bool(request.tags or request.skip_tags)
    stamping = not (request.check or partial)
    if full or partial:
        fast.bypass(remote, request.check)
    else:
        fast.probe(remote, request.check)
    for host in hosts:
        view.probed(host, fast.probes[host])
    forget_facts([h for h in fast.to_run if fast.probes[h].facts_stale])
    to_run, result, done = fast.to_run, None, []
    targeted: dict[str, list[str]] = {}
    for _round in range(ROUNDS):
        if not to_run:
            break
        plan = None if partial else fast.target(to_run)
        facts = targets.set_facts(fact_cache_dir(), to_run) if plan else {}
        ran = _run(request, hosts, to_run, view, plan)
        if plan:
            targeted.update({h: plan.per_host[h] for h in to_run})
        if stamping:
            stamp_warnings += _stamp(fast, remote, ran, to_run)
        result = ran.result if result is None else _merged(result, ran.result)
        done += to_run
        after = targets.set_facts(fact_cache_dir(), to_run) if plan else {}
        moved = _facts_moved(to_run, facts, after)
        for host in moved:
            targeted.pop(host, None)
        to_run = fast.changed_by_run(remote, done, moved) if stamping and ran.result.ok else []
    converged = _outcomes(request, hosts, fast, result, stamp_warnings)
    for host in converged.reasons:
        converged.roles[host] = targeted.get(host, sorted(fast.roles.get(host, ())))
    converged.targeted = set(targeted) & set(converged.reasons)
    return converged


def _facts_moved(to_run: list[str], before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The hosts of a targeted round to run again, whole: all of them when a host's kept
    facts moved (WireGuard's address: a role of another host of the round that reads it
    across hosts, such as the NFS provisioner or the gateway, may not have run), else
    none. (Hosts outside the round whose inputs moved are :meth:`FastPath.changed_by_run`'s.)"""
    moved = [h for h, kept in after.items() if kept != before.get(h)]
    return list(to_run) if moved else []


def _outcomes(
    request: ApplyRequest,
    hosts: list[str],
    fast: FastPath,
    run: RunResult | None,
    stamp_warnings: list[str],
) -> ConvergeResult:
    """Every selected host's outcome, and why each host that ran was converged."""
    result = ConvergeResult(
        run, fast.elapsed, dict(run.stats) if run else {}, stamp_warnings=stamp_warnings
    )
    for host in hosts:
        result.stats.setdefault(host, HostStats())
        probe = fast.probes[host]
        if probe.unchanged:
            result.outcomes[host] = UNCHANGED
            continue
        healthy = result.stats[host].healthy and not any(f.host == host for f in result.failures)
        result.outcomes[host] = "checked" if request.check else CONVERGED if healthy else "failed"
        result.reasons[host] = probe.reason
    return result


def _merged(first: RunResult, second: RunResult) -> RunResult:
    """Two rounds of one converge as one run: the second's hosts and outcome added."""
    second.stats = {**first.stats, **second.stats}
    second.failures = first.failures + second.failures
    second.warnings = sorted(set(first.warnings + second.warnings))
    second.elapsed += first.elapsed
    if first.status != "successful":
        second.status, second.rc = first.status, first.rc
    return second


@dataclass
class _Round:
    """One Ansible run of a converge, with what the stamps need from its events."""

    result: RunResult
    watch: WatchList
    plays: list[str]
    plan: targets.Plan | None = None


def _run(
    request: ApplyRequest,
    selected: list[str],
    hosts: list[str],
    view: ConvergeView,
    plan: targets.Plan | None = None,
) -> _Round:
    """One Ansible run limited to ``hosts``, its watch list read from its events; with
    ``plan``, only the plays a drift needs (a playbook of their own, removed after)."""
    if plan is None:
        return _run_playbook(request, selected, hosts, view)
    with tempfile.TemporaryDirectory(prefix="targeted-", dir=paths.state_dir()) as tmp:
        targeted = dataclasses.replace(
            request, playbook=plan.write(Path(tmp), request.playbook.name)
        )
        ran = _run_playbook(targeted, selected, hosts, view)
    ran.plan = plan
    return ran


def _run_playbook(
    request: ApplyRequest,
    selected: list[str],
    hosts: list[str],
    view: ConvergeView,
) -> _Round:
    """One Ansible run of ``request`` limited to ``hosts``, its watch list read from its
    events."""
    request = dataclasses.replace(request, extra_vars=list(request.extra_vars))
    if len(hosts) < len(selected):
        request.limit = ",".join(hosts)
    if request.limit:
        known = live.known_facts(request.inventory, hosts)
        if known:
            request.extra_vars.append(json.dumps({"wireguard_known_facts": known}))
    watch = WatchList(request.inventory)
    plays: list[str] = []

    def collect(event: dict[str, Any]) -> None:
        if event.get("event") == "playbook_on_play_start":
            plays.append(str((event.get("event_data") or {}).get("name", "")))
        watch.add_event(event)

    cancelled = threading.Event()
    try:
        with view.running(request, hosts, len(selected) - len(hosts)) as shown:
            result = run_playbook(request, _both(collect, shown), cancelled)
    except KeyboardInterrupt:
        cancelled.set()
        raise
    return _Round(result, watch, plays)


def _stamp(fast: FastPath, remote: Remote, ran: _Round, hosts: list[str]) -> list[str]:
    """Stamps for the hosts of a run that converged cleanly; a line per stamp not written."""
    last_play = ran.plan.last_play if ran.plan else ""
    stampable = fast.stampable(ran.result, hosts, ran.plays, last_play)
    fast.refresh(remote)  # the inputs as the run left them (its facts, files hosts copy)
    return [
        f"{host}: no stamp written ({problem}); the next apply converges it"
        for host, problem in fast.write(remote, stampable, ran.watch, ran.plan).items()
    ]


def _both(first: EventHandler, second: EventHandler | None) -> EventHandler:
    if second is None:
        return first

    def handle(event: dict[str, Any]) -> None:
        first(event)
        second(event)

    return handle
