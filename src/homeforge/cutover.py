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
(``STATE/cutover/SERVICE.json``, 0600), so the run can be resumed (run cutover
again) or undone (``rollback``) after a failure, a Ctrl-C or a crash. A failure
in steps 3-5 rolls back to the journaled values at once. One lock
(``STATE/cutover/lock``) refuses a second cutover or rollback while one runs.

Rollback reopens the exposure, probes the legacy endpoints from each consumer
(``--force`` skips that), restores every consumer's previous values, and verifies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shlex
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from homeforge import paths, ssh
from homeforge.errors import (
    EXIT_INTERRUPTED,
    BadInput,
    EnvironmentProblem,
    HomeforgeError,
)
from homeforge.inventory import Inventory
from homeforge.services import Consumer, Service

HOSTOPS = Path(__file__).with_name("hostops.py")


class StepFailed(HomeforgeError):
    """A step failed; the message names the step, the host and what went wrong."""


class Busy(EnvironmentProblem):
    pass


class Interrupted(HomeforgeError):
    exit_code = EXIT_INTERRUPTED


@dataclass
class Event:
    step: str
    status: str  # ok | fail | warn | info | change | would
    message: str
    host: str = ""
    elapsed: float = 0.0


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- remote


class Remote:
    """Runs hostops operations on hosts over SSH, one connection per host."""

    def __init__(self, inv: Inventory):
        self.inv = inv
        self.source = HOSTOPS.read_text()
        self._clients: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _client(self, host: str):
        import paramiko

        if host not in self._clients:
            try:
                self._clients[host] = ssh.connect(self.inv, host)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise StepFailed(
                    f"{host} ({self.inv.address(host)}): cannot connect over SSH: {exc or type(exc).__name__}"
                ) from None
        return self._clients[host]

    def call(self, host: str, op: str, timeout: float = 300, **args: Any) -> dict:
        import paramiko

        with self._guard:
            lock = self._locks.setdefault(host, threading.Lock())
        with lock:
            client = self._client(host)
            request = json.dumps({"op": op, "args": args})
            sudo = (
                "" if self.inv.hostvars[host].get("ansible_user", "root") == "root" else "sudo -n "
            )
            command = f"{sudo}python3 -c {shlex.quote(self.source)} {shlex.quote(request)}"
            try:
                _stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
                out = stdout.read().decode()
                err = stderr.read().decode()
                stdout.channel.recv_exit_status()
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self._clients.pop(host, None)
                raise StepFailed(f"{host}: {op}: {exc or type(exc).__name__}") from None
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            detail = (err.strip().splitlines() or ["no output"])[-1]
            raise StepFailed(f"{host}: {op}: {detail}")
        reply = json.loads(lines[-1])
        if not reply["ok"]:
            raise StepFailed(f"{host}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


# --------------------------------------------------------------------------- journal and lock


def cutover_dir() -> Path:
    path = paths.state_dir() / "cutover"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


class Journal:
    """What a cutover changed, with the previous values, written before each change."""

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data

    @classmethod
    def path_for(cls, service: str) -> Path:
        return cutover_dir() / f"{service}.json"

    @classmethod
    def load(cls, service: str) -> Journal | None:
        path = cls.path_for(service)
        try:
            return cls(path, json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BadInput(f"{path}: unreadable cutover journal: {exc}") from None

    @classmethod
    def new(cls, service: str, inventory: Path) -> Journal:
        data = {
            "service": service,
            "inventory": str(inventory),
            "phase": "cutting-over",
            "started": _now(),
            "updated": _now(),
            "changes": [],
            "history": [],
        }
        return cls(cls.path_for(service), data)

    @property
    def phase(self) -> str:
        return self.data["phase"]

    def set_phase(self, phase: str, note: str = "") -> None:
        self.data["phase"] = phase
        self.log(f"{phase}{': ' + note if note else ''}")

    def log(self, message: str) -> None:
        self.data["history"].append({"at": _now(), "event": message})
        self.save()

    def entry(self, ident: str) -> dict | None:
        return next((c for c in self.data["changes"] if c["id"] == ident), None)

    def intend(self, ident: str, host: str, what: str, previous: dict, new: dict) -> dict:
        """Record a change before it is made; the first previous value recorded is kept."""
        entry = self.entry(ident)
        if entry is None:
            entry = {"id": ident, "host": host, "what": what, "previous": previous}
            self.data["changes"].append(entry)
        entry.update(new=new, state="intent")
        self.save()
        return entry

    def mark(self, entry: dict, state: str) -> None:
        entry["state"] = state
        self.save()

    def save(self) -> None:
        self.data["updated"] = _now()
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


@contextlib.contextmanager
def exclusive(action: str, service: str) -> Iterator[None]:
    """One cutover or rollback at a time per state directory."""
    path = cutover_dir() / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise Busy(f"another cutover or rollback is running ({holder}); lock {path}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {action} {service} since {_now()}".encode(), 0)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the engine


@dataclass
class Plan:
    addresses: dict[str, str] = field(default_factory=dict)  # service host -> mesh address
    current: dict[str, dict] = field(default_factory=dict)  # consumer ident -> {values, exists}
    desired: dict[str, dict] = field(default_factory=dict)  # consumer ident -> values


class Engine:
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
        self.iface = iface
        self.cidr = cidr
        self.report = report
        self.remote = Remote(inv)
        self.plan = Plan()  # filled by preflight
        self._stop = threading.Event()
        self._started = time.monotonic()

    # ------------------------------------------------------------------ helpers

    def _event(self, step: str, status: str, message: str, host: str = "") -> None:
        self.report(Event(step, status, message, host, round(time.monotonic() - self._started, 2)))

    def _checkpoint(self) -> None:
        if self._stop.is_set():
            raise Interrupted("interrupted")

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

    def _parallel(self, fn: Callable[[str], Any], hosts: list[str]) -> dict[str, Any]:
        """fn(host) on every host at once; the first failure is raised after all finish."""
        results: dict[str, Any] = {}
        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
            futures = {host: pool.submit(fn, host) for host in hosts}
            for host, future in futures.items():
                try:
                    results[host] = future.result()
                except Exception as exc:  # re-raised below
                    errors.append(exc)
        if errors:
            raise errors[0]
        return results

    def _consumer_hosts(self) -> list[str]:
        return list(dict.fromkeys(c.host for c in self.service.consumers))

    def health_url(self, value: str) -> str | None:
        parts = urlsplit(value or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        return f"{parts.scheme}://{parts.netloc}{self.service.health_path}"

    def _probe(self, host: str, urls: list[str], step: str) -> None:
        service = self.service
        result = self.remote.call(
            host,
            "probe",
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
            self._event(
                step,
                "ok",
                f"{url}: {service.probes} consecutive successes, median {r['median_ms']} ms",
                host,
            )

    # ------------------------------------------------------------------ consumers

    def _dropin_name(self, suffix: str = "") -> str:
        return f"homeforge-{self.service.name}{suffix}"

    def _read_consumer(self, c: Consumer) -> dict:
        names = [v.name for v in c.variables]
        if c.kind == "env_file":
            state = self.remote.call(c.host, "env_read", path=c.target, names=names)
            if not state["exists"]:
                raise StepFailed(
                    f"{c.host}: {c.target}: no such file (the consumer's environment file)"
                )
            unit_missing = (
                c.after
                and c.after[0] != "run"
                and not self.remote.call(c.host, "unit_exists", unit=c.after[1])["exists"]
            )
            if unit_missing:
                raise StepFailed(
                    f"{c.host}: {c.after[1]}: no such systemd unit ({c.after[0]} after the switch)"
                )
            return state
        if c.kind == "systemd":
            state = self.remote.call(
                c.host, "dropin_read", unit=c.target, name=self._dropin_name(), names=names
            )
            if not state["exists"]:
                raise StepFailed(f"{c.host}: {c.target}: no such systemd unit (the consumer)")
            return state
        namespace, _sep, name = c.target.partition("/")
        return self.remote.call(
            c.host,
            "deployment_read",
            kubectl=c.kubectl,
            namespace=namespace,
            name=name,
            names=names,
            container=c.container,
        )

    def _write_consumer(self, c: Consumer, values: dict[str, str | None]) -> bool:
        if c.kind == "env_file":
            changed = self.remote.call(c.host, "env_write", path=c.target, values=values)["changed"]
            if changed and c.after:
                action, what = c.after
                if action == "run":
                    self.remote.call(c.host, "run_command", command=what)
                else:
                    self.remote.call(c.host, "unit_action", unit=what, action=action)
            return changed
        if c.kind == "systemd":
            return self.remote.call(
                c.host, "dropin_write", unit=c.target, name=self._dropin_name(), values=values
            )["changed"]
        namespace, _sep, name = c.target.partition("/")
        return self.remote.call(
            c.host,
            "deployment_write",
            kubectl=c.kubectl,
            namespace=namespace,
            name=name,
            values=values,
            container=c.container,
        )["changed"]

    # ------------------------------------------------------------------ exposure

    def _listen_value(self, host: str) -> str:
        exposure = self.service.exposure
        return exposure.value.format(address=self.plan.addresses[host], port=self.service.port)

    def _read_exposure(self, host: str) -> dict:
        exposure = self.service.exposure
        if exposure.mode == "firewall":
            return {
                "closed": self.remote.call(host, "firewall_read", service=self.service.name)[
                    "closed"
                ]
            }
        state = self.remote.call(
            host,
            "dropin_read",
            unit=exposure.unit,
            name=self._dropin_name("-bind"),
            names=[exposure.variable],
        )
        if not state["exists"]:
            raise StepFailed(f"{host}: {exposure.unit}: no such systemd unit (the service to bind)")
        return {"values": state["values"]}

    def _write_exposure(self, host: str, state: dict) -> bool:
        exposure = self.service.exposure
        if exposure.mode == "firewall":
            return self.remote.call(
                host,
                "firewall_set",
                service=self.service.name,
                port=self.service.port,
                iface=self.iface,
                cidr=self.cidr,
                closed=state["closed"],
            )["changed"]
        changed = self.remote.call(
            host,
            "dropin_write",
            unit=exposure.unit,
            name=self._dropin_name("-bind"),
            values=state["values"],
        )["changed"]
        value = state["values"].get(exposure.variable)
        listen = value.rsplit(":", 1)[0].strip("[]") if value else self.inv.address(host)
        self.remote.call(host, "wait_listen", address=listen, port=self.service.port, timeout=60)
        return changed

    def _desired_exposure(self, host: str) -> dict:
        if self.service.exposure.mode == "firewall":
            return {"closed": True}
        return {"values": {self.service.exposure.variable: self._listen_value(host)}}

    def _describe_exposure(self, host: str, state: dict) -> str:
        exposure = self.service.exposure
        if exposure.mode == "firewall":
            return (
                f"{self.service.port}/tcp only over {self.iface} ({self.cidr}) and loopback"
                if state["closed"]
                else f"{self.service.port}/tcp open as before"
            )
        value = state["values"].get(exposure.variable)
        return (
            f"{exposure.unit}: {exposure.variable}={value}"
            if value
            else f"{exposure.unit}: {exposure.variable} as before"
        )

    # ------------------------------------------------------------------ steps

    def preflight(self) -> Plan:
        service = self.service
        plan = Plan()
        self.plan = plan
        for host in service.hosts:
            self._checkpoint()
            plan.addresses[host] = self.remote.call(host, "mesh_address", iface=self.iface)[
                "address"
            ]
        self._event(
            "preflight",
            "ok",
            "mesh addresses: " + ", ".join(f"{h} {a}" for h, a in plan.addresses.items()),
        )
        for host in service.hosts:
            self._read_exposure(host)  # the unit to bind exists, or iptables is there

        def handshakes(host: str) -> dict:
            wanted = [a for h, a in plan.addresses.items() if h != host]
            return (
                self.remote.call(host, "handshakes", iface=self.iface, addresses=wanted)["peers"]
                if wanted
                else {}
            )

        by_host = self._parallel(handshakes, self._consumer_hosts())
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
                self._event(
                    "preflight",
                    "ok",
                    f"handshake with {names[address]} ({address}) {r['age']}s ago",
                    host,
                )
        for c in service.consumers:
            self._checkpoint()
            state = self._read_consumer(c)
            plan.current[c.ident] = state
            plan.desired[c.ident] = {
                v.name: service.mesh_url(plan.addresses[v.host], v.suffix) for v in c.variables
            }
            effective = state.get("effective", state["values"])
            for v in c.variables:
                now = effective.get(v.name)
                legacy = service.hosts[v.host] + v.suffix if service.hosts[v.host] else None
                if now not in (plan.desired[c.ident][v.name], legacy) and legacy:
                    self._event(
                        "preflight",
                        "warn",
                        f"{c.kind} {c.target}: {v.name} is {now!r}, not the declared legacy {legacy!r}; "
                        "rollback restores the value it has now",
                        c.host,
                    )
        return plan

    def shadow(self, plan: Plan) -> None:
        urls = [self.health_url(self.service.mesh_url(a)) for a in plan.addresses.values()]

        def run(host: str) -> None:
            self._probe(host, [u for u in urls if u], "shadow")

        self._checkpoint()
        self._parallel(run, self._consumer_hosts())

    def _switch(self, c: Consumer, values: dict, step: str) -> None:
        self._checkpoint()
        changed = self._write_consumer(c, values)
        shown = ", ".join(f"{k}={_shown(v)}" for k, v in values.items())
        self._event(
            step,
            "change" if changed else "ok",
            f"{c.kind} {c.target}: {shown}{'' if changed else ' (already)'}",
            c.host,
        )

    def _verify_consumer(self, c: Consumer, expected: dict, step: str) -> None:
        values = self._read_consumer(c)["values"]
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
        if urls:
            self._probe(c.host, urls, step)

    def _check_closed(self) -> None:
        if self.service.exposure.mode != "firewall":
            return
        for host in self.service.hosts:
            address = self.inv.address(host)
            try:
                socket.create_connection((address, self.service.port), timeout=2).close()
            except OSError as exc:
                self._event(
                    "verify",
                    "ok",
                    f"{address}:{self.service.port} closed outside the mesh ({exc.strerror or exc})",
                    host,
                )
                continue
            raise StepFailed(
                f"verify: {host}: {address}:{self.service.port} still answers outside the mesh"
            )

    # ------------------------------------------------------------------ cutover

    def cutover(self, check: bool = False) -> dict:
        service = self.service
        with exclusive("cutover", service.name), self._interrupts():
            journal = Journal.load(service.name)
            self._same_inventory(journal)
            if journal and journal.phase == "failed":
                raise BadInput(
                    f"{journal.path}: the automatic rollback of {service.name} did not finish; "
                    f"run 'homeforge mesh rollback {service.name}' first"
                )
            resume = journal is not None and journal.phase in (
                "cutting-over",
                "cut-over",
                "rolling-back",
            )
            if resume:
                self._event(
                    "preflight",
                    "info",
                    f"journal {journal.path} ({journal.phase}): previous values kept from it",
                )
            try:
                plan = self.preflight()
                self.shadow(plan)
            except StepFailed as exc:
                raise StepFailed(f"{exc}; nothing was changed") from None
            if check:
                return self._would_cutover(plan)
            if not resume:
                journal = Journal.new(service.name, self.inv.path)
            journal.set_phase("cutting-over")
            step = "switch"
            try:
                for c in service.consumers:
                    step = "switch"
                    journal.intend(
                        c.ident, c.host, "consumer", plan.current[c.ident], plan.desired[c.ident]
                    )
                    self._switch(c, plan.desired[c.ident], "switch")
                    journal.mark(journal.entry(c.ident), "applied")
                    self._verify_consumer(c, plan.desired[c.ident], "switch")
                step = "exposure"
                for host in service.hosts:
                    self._checkpoint()
                    ident = f"exposure:{host}"
                    desired = self._desired_exposure(host)
                    entry = journal.intend(
                        ident, host, "exposure", self._read_exposure(host), desired
                    )
                    changed = self._write_exposure(host, desired)
                    journal.mark(entry, "applied")
                    self._event(
                        step,
                        "change" if changed else "ok",
                        self._describe_exposure(host, desired),
                        host,
                    )
                step = "verify"
                self._checkpoint()
                for c in service.consumers:
                    self._verify_consumer(c, plan.desired[c.ident], "verify")
                self._check_closed()
            except Interrupted:
                journal.log(f"interrupted during {step}")
                raise Interrupted(
                    f"interrupted during {step}; journal {journal.path} holds every change: "
                    f"'homeforge mesh rollback {service.name}' undoes it, "
                    f"'homeforge mesh cutover {service.name}' resumes it"
                ) from None
            except Exception as exc:  # any failure after the first change: undo it
                journal.log(f"failed during {step}: {exc}")
                self._event(step, "fail", str(exc))
                self._event(
                    "rollback", "info", "rolling back automatically to the journaled values"
                )
                try:
                    self._restore(journal, verify_legacy=False)
                except Exception as undo_exc:  # reported; the journal keeps the rest
                    journal.set_phase("failed", str(undo_exc))
                    raise StepFailed(
                        f"cutover failed during {step} ({exc}) and the automatic rollback failed too "
                        f"({undo_exc}); journal {journal.path}: fix it and run 'homeforge mesh rollback {service.name}'"
                    ) from None
                journal.set_phase("rolled-back", f"automatic rollback after: {exc}")
                raise StepFailed(
                    f"cutover failed during {step}: {exc}; rolled back automatically"
                ) from None
            return self._record(journal, "cutover", "cut-over", "cut over")

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

    def _would_cutover(self, plan: Plan) -> dict:
        would = []
        for c in self.service.consumers:
            now = plan.current[c.ident]["values"]
            for name, value in plan.desired[c.ident].items():
                if now.get(name) != value:
                    would.append(
                        f"{c.host} {c.kind} {c.target}: {name}: {_shown(now.get(name))} -> {_shown(value)}"
                    )
        for host in self.service.hosts:
            desired = self._desired_exposure(host)
            if self._read_exposure(host) != desired:
                would.append(f"{host}: {self._describe_exposure(host, desired)}")
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

    # ------------------------------------------------------------------ rollback

    def _consumer(self, ident: str) -> Consumer:
        for c in self.service.consumers:
            if c.ident == ident:
                return c
        raise BadInput(
            f"{self.inv.path}: homeforge_services.{self.service.name}: the journal changed "
            f"{ident.split(':', 1)[1]}, which is no longer declared; restore it by hand from the journal"
        )

    def _restore(self, journal: Journal, verify_legacy: bool, force: bool = False) -> None:
        """Put every journaled change back, exposure first, then consumers (newest first)."""
        entries = [
            e for e in reversed(journal.data["changes"]) if e["state"] in ("intent", "applied")
        ]
        for entry in [e for e in entries if e["what"] == "exposure"]:
            self._checkpoint()
            changed = self._write_exposure(entry["host"], entry["previous"])
            journal.mark(entry, "restored")
            self._event(
                "rollback",
                "change" if changed else "ok",
                self._describe_exposure(entry["host"], entry["previous"]),
                entry["host"],
            )
        consumers = [(e, self._consumer(e["id"])) for e in entries if e["what"] == "consumer"]
        if verify_legacy and not force:
            by_host: dict[str, list[str]] = {}
            for entry, c in consumers:
                previous = entry["previous"]
                for value in previous.get("effective", previous["values"]).values():
                    url = self.health_url(value)
                    if url:
                        by_host.setdefault(c.host, []).append(url)
            self._parallel(
                lambda h: self._probe(h, list(dict.fromkeys(by_host[h])), "legacy"), list(by_host)
            )
        for entry, c in consumers:
            self._switch(c, entry["previous"]["values"], "rollback")
            journal.mark(entry, "restored")
        for entry, c in consumers:
            self._verify_consumer(c, entry["previous"]["values"], "rollback")

    def rollback(self, check: bool = False, force: bool = False) -> dict:
        service = self.service
        with exclusive("rollback", service.name), self._interrupts():
            journal = Journal.load(service.name)
            if journal is None:
                raise BadInput(
                    f"{Journal.path_for(service.name)}: no cutover journal for {service.name}, so nothing "
                    f"to roll back (cutover records one under {paths.state_dir()})"
                )
            self._same_inventory(journal)
            if journal.phase == "rolled-back":
                self._event(
                    "rollback",
                    "ok",
                    f"already rolled back ({journal.data['history'][-1]['at']}); nothing to do",
                )
                return {
                    "service": service.name,
                    "action": "rollback",
                    "ok": True,
                    "phase": "rolled-back",
                    "changed": False,
                }
            pending = [e for e in journal.data["changes"] if e["state"] in ("intent", "applied")]
            if check:
                would = []
                for entry in pending:
                    if entry["what"] == "exposure":
                        would.append(
                            f"{entry['host']}: {self._describe_exposure(entry['host'], entry['previous'])}"
                        )
                    else:
                        c = self._consumer(entry["id"])
                        now = self._read_consumer(c)["values"]
                        for name, value in entry["previous"]["values"].items():
                            if now.get(name) != value:
                                would.append(
                                    f"{c.host} {c.kind} {c.target}: {name}: {_shown(now.get(name))} -> {_shown(value)}"
                                )
                for line in would:
                    self._event("check", "would", line)
                return {
                    "service": service.name,
                    "action": "rollback",
                    "check": True,
                    "ok": True,
                    "would_change": would,
                }
            journal.set_phase("rolling-back")
            try:
                self._restore(journal, verify_legacy=True, force=force)
            except Interrupted:
                journal.log("rollback interrupted")
                raise Interrupted(
                    f"interrupted; journal {journal.path}: run 'homeforge mesh rollback {service.name}' again to finish"
                ) from None
            except HomeforgeError as exc:
                journal.log(f"rollback stopped: {exc}")
                raise StepFailed(
                    f"rollback stopped: {exc}; journal {journal.path} keeps what is left to restore"
                ) from None
            return self._record(journal, "rollback", "rolled-back", "rolled back")

    def close(self) -> None:
        self.remote.close()


def journal_summary(service: str) -> dict | None:
    journal = Journal.load(service)
    return (
        None
        if journal is None
        else {"phase": journal.phase, "updated": journal.data["updated"], "path": str(journal.path)}
    )
