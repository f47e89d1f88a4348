"""``homeforge mesh cutover`` and ``rollback``: move a service's consumers onto the mesh and back.

Cutover, in order (each step stops the run when it fails):

1. preflight: read each service host's mesh address; from every consumer host,
   a fresh WireGuard handshake with each service host (a stale one gets a ping
   first); read each consumer's current values (its file, unit or Deployment
   must exist).
2. shadow: from each consumer host, the health request to every service host
   over the mesh, ``probes`` consecutive successes each.
   Nothing has changed so far; ``--check`` stops here and prints the changes.
3. switch each consumer to the mesh endpoints (and restart or reload it), then
   probe what it is now configured with.
4. exposure: close the service port to everything but the mesh (``firewall``,
   a persistent systemd unit) or bind the service to its mesh address (``bind``).
5. verify: every consumer's values read back, its endpoints answer, and (firewall)
   the port no longer answers on the service host's own address.
6. record: the journal's phase becomes ``cut-over``.

Before any change its previous value is written to the journal
(:mod:`homeforge.cutover.journal`), so the run can be resumed (run cutover
again) or undone (``rollback``) after a failure, a Ctrl-C or a crash. A failure
in steps 3-5 rolls back to the journaled values at once. One lock refuses a
second cutover or rollback while one runs. What each step changes is an adapter
per consumer kind and exposure mode (:mod:`homeforge.cutover.targets`).

Rollback reopens the exposure, probes the legacy endpoints from each consumer
(``--force`` skips that), restores every consumer's previous values, and verifies.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from homeforge.cutover.declaration import get
from homeforge.cutover.journal import Journal, exclusive
from homeforge.cutover.lease import leased
from homeforge.cutover.model import Consumer, Event, Plan, Service
from homeforge.cutover.rollback import RollbackSteps
from homeforge.cutover.targets import (
    ConsumerTarget,
    Context,
    Interrupted,
    StepFailed,
    checked_mesh_address,
    consumer_target,
    exposure_target,
    shown_value,
)
from homeforge.errors import BadInput
from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, RemoteError, fan_out_or_raise, meshops, probeops
from homeforge.wireguard.settings import MeshSettings


class Engine(RollbackSteps):
    def __init__(
        self,
        inv: Inventory,
        service: Service,
        iface: str,
        cidr: str,
        report: Callable[[Event], None] = lambda e: None,
    ):
        self.inv = inv
        self.service = service
        self.remote = Remote(inv)
        self.ctx = Context(inv, self.remote, service, iface, cidr)
        self.exposure = exposure_target(self.ctx)
        self.targets = {c.ident: consumer_target(self.ctx, c) for c in service.consumers}
        self.report = report
        self.plan = Plan()  # filled by preflight
        self._stop = threading.Event()
        self._started = time.monotonic()
        self.break_lease = False  # --break-lease: take over a stale lease on the hosts
        self.leases = None  # held while a run changes things (cutover.lease)
        self.journal: Journal | None = None

    # ------------------------------------------------------------------ helpers

    def _event(self, step: str, status: str, message: str, host: str = "") -> None:
        self.report(Event(step, status, message, host, round(time.monotonic() - self._started, 2)))

    def _checkpoint(self) -> None:
        if self._stop.is_set():
            raise Interrupted("interrupted")
        if self.leases:
            self.leases.renew(self.journal)

    @contextlib.contextmanager
    def _interrupts(self) -> Iterator[None]:
        """Ctrl-C stops the run between two steps; a second Ctrl-C stops it at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop.is_set():
                raise KeyboardInterrupt
            self._stop.set()
            self._event("interrupt", "warn", "stopping after the current step (Ctrl-C again: now)")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _consumer_hosts(self) -> list[str]:
        return list(dict.fromkeys(c.host for c in self.service.consumers))

    def _target(self, c: Consumer) -> ConsumerTarget:
        return self.targets[c.ident]

    def health_url(self, value: str) -> str | None:
        parts = urlsplit(value or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        return f"{parts.scheme}://{parts.netloc}{self.service.health_path}"

    def _probe(self, host: str, urls: list[str], step: str) -> None:
        service = self.service
        result = self.remote.call(
            host,
            probeops.probe,
            urls=urls,
            method=service.method,
            expect=service.expect,
            count=service.probes,
            interval=service.interval,
        )["urls"]
        bad = [
            f"{u}: {r['error']} ({r['errors']} of {r['tries']} failed)"
            for u, r in result.items()
            if not r["ok"]
        ]
        if bad:
            raise StepFailed(f"{step}: from {host}: " + "; ".join(bad))
        for url, r in result.items():
            message = f"{url}: {service.probes} consecutive successes, median {r['median_ms']} ms"
            self._event(step, "ok", message, host)

    # ------------------------------------------------------------------ steps

    def preflight(self) -> Plan:
        service = self.service
        plan = Plan()
        self.plan = plan
        for host in service.hosts:
            self._checkpoint()
            reply = self.remote.call(host, meshops.mesh_address, iface=self.ctx.iface)
            plan.addresses[host] = checked_mesh_address(host, reply.get("address"), self.ctx.cidr)
        shown = ", ".join(f"{h} {a}" for h, a in plan.addresses.items())
        self._event("preflight", "ok", f"mesh addresses: {shown}")
        for host in service.hosts:
            self.exposure.read(host)  # the unit to bind exists, or iptables is there
        self._check_handshakes(plan)
        for c in service.consumers:
            self._checkpoint()
            state = self._target(c).read()
            plan.current[c.ident] = state
            plan.desired[c.ident] = {
                v.name: service.mesh_url(plan.addresses[v.host], v.suffix) for v in c.variables
            }
            self._warn_unexpected(c, state, plan.desired[c.ident])
        return plan

    def _check_handshakes(self, plan: Plan) -> None:
        def handshakes(host: str) -> dict:
            wanted = [a for h, a in plan.addresses.items() if h != host]
            if not wanted:
                return {}
            reply = self.remote.call(
                host, meshops.handshakes, iface=self.ctx.iface, addresses=wanted
            )
            return reply["peers"]

        by_host = fan_out_or_raise(handshakes, self._consumer_hosts())
        names = {a: h for h, a in plan.addresses.items()}
        bad = [
            f"{host} -> {names[a]} ({a}): {r['error']}"
            for host, peers in by_host.items()
            for a, r in peers.items()
            if "error" in r
        ]
        if bad:
            raise StepFailed("preflight: " + "; ".join(bad))
        for host, peers in by_host.items():
            for address, r in peers.items():
                message = f"handshake with {names[address]} ({address}) {r['age']}s ago"
                self._event("preflight", "ok", message, host)

    def _warn_unexpected(self, c: Consumer, state: dict, desired: dict) -> None:
        effective = state.get("effective", state["values"])
        for v in c.variables:
            now = effective.get(v.name)
            legacy = self.service.hosts[v.host] + v.suffix if self.service.hosts[v.host] else None
            if legacy and now not in (desired[v.name], legacy):
                self._event(
                    "preflight",
                    "warn",
                    f"{c.kind} {c.target}: {v.name} is {now!r}, not the declared legacy "
                    f"{legacy!r}; rollback restores the value it has now",
                    c.host,
                )

    def shadow(self, plan: Plan) -> None:
        urls = [self.health_url(self.service.mesh_url(a)) for a in plan.addresses.values()]
        self._checkpoint()
        fan_out_or_raise(
            lambda host: self._probe(host, [u for u in urls if u], "shadow"),
            self._consumer_hosts(),
        )

    def _switch(self, c: Consumer, values: dict, step: str, settle: bool = False) -> None:
        self._checkpoint()
        target = self._target(c)
        changed = target.write(values, settle=settle)
        message = target.describe(values) + ("" if changed else " (already)")
        self._event(step, "change" if changed else "ok", message, c.host)

    def _verify_consumer(self, c: Consumer, expected: dict, step: str, probe: bool = True) -> None:
        values = self._target(c).read()["values"]
        wrong = [
            f"{k} is {values.get(k)!r}, expected {v!r}"
            for k, v in expected.items()
            if values.get(k) != v
        ]
        if wrong:
            raise StepFailed(f"{step}: {c.host} {c.kind} {c.target}: " + "; ".join(wrong))
        urls = list(
            dict.fromkeys(u for u in (self.health_url(v) for v in expected.values() if v) if u)
        )
        if urls and probe:
            self._probe(c.host, urls, step)

    def _verify_exposure(self) -> None:
        for host in self.service.hosts:
            line = self.exposure.verify(host)
            if line:
                self._event("verify", "ok", line, host)

    # ------------------------------------------------------------------ cutover

    def cutover(self, check: bool = False) -> dict:
        service = self.service
        with exclusive("cutover", service.name, self.inv.path), self._interrupts():
            journal = self._resumable_journal()
            try:
                plan = self.preflight()
                self.shadow(plan)
            except (StepFailed, RemoteError) as exc:
                raise StepFailed(f"{exc}; nothing was changed") from None
            if check:
                return self._would_cutover(plan)
            journal = self.journal = journal or Journal.new(service.name, self.inv.path)
            with leased(self, "cutover", journal):
                journal.set_phase("cutting-over")
                self._apply(journal, plan)
                return self._record(journal, "cutover", "cut-over", "cut over")

    def _resumable_journal(self) -> Journal | None:
        journal = Journal.load(self.service.name, self.inv.path)
        self._same_inventory(journal)
        if journal and journal.phase == "failed":
            raise BadInput(
                f"{journal.path}: the automatic rollback of {self.service.name} did not finish; "
                f"run 'homeforge mesh rollback {self.service.name}' first"
            )
        if journal is None or journal.phase not in ("cutting-over", "cut-over", "rolling-back"):
            return None
        self._event(
            "preflight",
            "info",
            f"journal {journal.path} ({journal.phase}): previous values kept from it",
        )
        return journal

    def _apply(self, journal: Journal, plan: Plan) -> None:
        """Switch, expose, verify; any failure is undone from the journal at once."""
        step = "switch"
        try:
            for c in self.service.consumers:
                # An entry left at "intent" by an interrupted run: the file may hold the new
                # values already while the consumer still runs with the old ones.
                prior = journal.entry(c.ident)
                settle = prior is not None and prior.get("state") == "intent"
                entry = journal.intend(
                    c.ident, c.host, "consumer", plan.current[c.ident], plan.desired[c.ident]
                )
                self._switch(c, plan.desired[c.ident], "switch", settle=settle)
                journal.mark(entry, "applied")
                self._verify_consumer(c, plan.desired[c.ident], "switch")
            step = "exposure"
            for host in self.service.hosts:
                self._checkpoint()
                desired = self.exposure.desired(host, plan.addresses[host])
                entry = journal.intend(
                    f"exposure:{host}", host, "exposure", self.exposure.read(host), desired
                )
                changed = self.exposure.write(host, desired)
                journal.mark(entry, "applied")
                message = self.exposure.describe(host, desired)
                self._event(step, "change" if changed else "ok", message, host)
            step = "verify"
            self._checkpoint()
            for c in self.service.consumers:
                self._verify_consumer(c, plan.desired[c.ident], "verify")
            self._verify_exposure()
        except Interrupted:
            journal.log(f"interrupted during {step}")
            name = self.service.name
            raise Interrupted(
                f"interrupted during {step}; journal {journal.path} holds every change: "
                f"'homeforge mesh rollback {name}' undoes it, "
                f"'homeforge mesh cutover {name}' resumes it"
            ) from None
        except Exception as exc:  # any failure after the first change: undo it
            self._undo_after_failure(journal, step, exc)

    def _undo_after_failure(self, journal: Journal, step: str, exc: Exception) -> None:
        journal.log(f"failed during {step}: {exc}")
        self._event(step, "fail", str(exc))
        self._event("rollback", "info", "rolling back automatically to the journaled values")
        try:
            self._restore(journal, verify_legacy=False)
        except Exception as undo_exc:  # reported; the journal keeps the rest
            journal.set_phase("failed", str(undo_exc))
            raise StepFailed(
                f"cutover failed during {step} ({exc}) and the automatic rollback failed too "
                f"({undo_exc}); journal {journal.path}: fix it and run "
                f"'homeforge mesh rollback {self.service.name}'"
            ) from None
        journal.set_phase("rolled-back", f"automatic rollback after: {exc}")
        raise StepFailed(
            f"cutover failed during {step}: {exc}; rolled back automatically"
        ) from None

    def _record(self, journal: Journal, action: str, phase: str, done: str) -> dict:
        """The last step: the journal's new phase, one line, and the result."""
        journal.set_phase(phase)
        elapsed = round(time.monotonic() - self._started, 2)
        self._event(
            "record", "ok", f"{self.service.name} {done} in {elapsed}s; journal {journal.path}"
        )
        return {
            "service": self.service.name,
            "action": action,
            "ok": True,
            "phase": phase,
            "elapsed_s": elapsed,
            "journal": str(journal.path),
        }

    def _value_changes(self, c: Consumer, now: dict, wanted: dict) -> list[str]:
        return [
            f"{c.host} {c.kind} {c.target}: {name}: {shown_value(now.get(name))} -> {shown_value(value)}"
            for name, value in wanted.items()
            if now.get(name) != value
        ]

    def _would_cutover(self, plan: Plan) -> dict:
        would = []
        for c in self.service.consumers:
            would += self._value_changes(c, plan.current[c.ident]["values"], plan.desired[c.ident])
        for host in self.service.hosts:
            desired = self.exposure.desired(host, plan.addresses[host])
            if self.exposure.read(host) != desired:
                would.append(f"{host}: {self.exposure.describe(host, desired)}")
        for line in would:
            self._event("check", "would", line)
        if not would:
            self._event("check", "ok", "nothing to change: already cut over")
        return {
            "service": self.service.name,
            "action": "cutover",
            "check": True,
            "ok": True,
            "would_change": would,
        }

    def _same_inventory(self, journal: Journal | None) -> None:
        if journal and journal.data.get("inventory") != str(self.inv.path):
            raise BadInput(
                f"{journal.path}: journal of {self.service.name} belongs to inventory "
                f"{journal.data.get('inventory')}, not {self.inv.path}"
            )

    def close(self) -> None:
        self.remote.close()


def engine_for(inv: Inventory, service_name: str, report: Callable[[Event], None]) -> Engine:
    """The engine for one declared service of the inventory's mesh."""
    settings = MeshSettings.of(inv)
    return Engine(inv, get(inv, service_name), settings.interface, settings.cidr, report)


def run_engine(
    inv: Inventory,
    service_name: str,
    report: Callable[[Event], None],
    action: Callable[[Engine], Any],
) -> Any:
    engine = engine_for(inv, service_name, report)
    try:
        return action(engine)
    finally:
        engine.close()
