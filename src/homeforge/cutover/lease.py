"""Leases on the hosts: a cutover, a rollback or a converge excludes other controllers.

The local lock (:func:`homeforge.cutover.journal.exclusive`) covers one controller and
one inventory file. A second operator on another machine, or a second checkout of
the same inventory, shares only the hosts, so the run also holds a lease on each
service host (``/var/lib/homeforge/leases/SERVICE.json``, 0600): who holds it
(user@controller, pid, inventory), since when, until when (renewed while the run
goes on), and the journal as it stood when it was taken, so the other controller
can see what is in progress. A lease whose holder died expires; until then it is
refused, and after that it is reported as stale and broken only with
``--break-lease``. A finished run releases the lease and leaves its last journal
beside it (``SERVICE.last-journal.json``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator

from homeforge.cutover.journal import Busy, Journal
from homeforge.remote import Remote, RemoteError, leaseops

TTL_S = 900  # a lease lives this long without renewal
RENEW_AFTER_S = 300


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).isoformat(timespec="seconds")


def describe(host: str, held: dict) -> str:
    journal = held.get("journal") or {}
    phase = journal.get("phase", "no journal yet")
    changes = len(journal.get("changes") or [])
    state = "stale (expired " if held.get("expired") else "held until "
    return (
        f"{host}: {held.get('action', 'a cutover')} by {held.get('owner', '?')} "
        f"(inventory {held.get('inventory', '?')}) since {_when(held.get('started_at', 0))}, "
        f"{state}{_when(held.get('expires_at', 0))}{')' if held.get('expired') else ''}; "
        f"its journal: {phase}, {changes} change(s)"
    )


class HostLeases:
    """Take the lease on every service host (in name order), renew it, release it."""

    def __init__(
        self,
        remote: Remote,
        service: str,
        hosts: list[str],
        inventory: str,
        action: str,
        report: Callable[[str], None],
        force: bool = False,
        ttl: int = TTL_S,
    ):
        self.remote, self.service, self.hosts = remote, service, sorted(hosts)
        self.inventory, self.action, self.report, self.force = inventory, action, report, force
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self.owner = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
        self.taken: list[str] = []
        self.renewed = 0.0

    def _dead_here(self, held: dict) -> bool:
        """A lease of a run on this controller whose process is gone (killed, crashed):
        nothing else can be using it, so this run may take it over at once."""
        prefix = self.owner.rsplit(" pid ", 1)[0] + " pid "
        owner = str(held.get("owner", ""))
        if not owner.startswith(prefix) or not owner[len(prefix) :].isdigit():
            return False
        try:
            os.kill(int(owner[len(prefix) :]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _take(self, host: str, journal: Journal | None, force: bool = False) -> None:
        reply = self.remote.call(
            host,
            leaseops.lease_take,
            service=self.service,
            token=self.token,
            owner=self.owner,
            inventory=self.inventory,
            action=self.action,
            ttl=self.ttl,
            journal=journal.data if journal else None,
            force=self.force or force,
        )
        if not reply["taken"]:
            held = reply["held"]
            if self._dead_here(held):
                return self._take(host, journal, force=True)
            hint = (
                "if its controller is gone, run again with --break-lease"
                if held.get("expired")
                else "wait for it to finish, or for the lease to expire"
            )
            what = "these hosts are" if self.service == "converge" else f"{self.service} is"
            raise Busy(f"{what} being changed elsewhere: {describe(host, held)}; {hint}")
        if reply.get("broke"):
            self.report(f"broke the lease: {describe(host, reply['broke'])}")

    def acquire(self, journal: Journal | None) -> None:
        try:
            for host in self.hosts:
                self._take(host, journal)
                self.taken.append(host)
        except BaseException:
            self.release(None)
            raise
        self.renewed = time.monotonic()

    def renew(self, journal: Journal | None) -> None:
        if time.monotonic() - self.renewed < RENEW_AFTER_S:
            return
        for host in self.taken:
            self._take(host, journal)
        self.renewed = time.monotonic()

    def release(self, journal: Journal | None) -> None:
        for host in self.taken:
            try:
                self.remote.call(
                    host,
                    leaseops.lease_release,
                    service=self.service,
                    token=self.token,
                    journal=journal.data if journal else None,
                )
            except RemoteError as exc:  # it expires on its own
                self.report(
                    f"{host}: could not release the lease ({exc}); it expires in {self.ttl}s"
                )
        self.taken = []


@contextlib.contextmanager
def leased(engine, action: str, journal: Journal | None) -> Iterator[HostLeases]:
    """The engine's run holds the service hosts' leases; the journal the engine ends with
    (``engine.journal``) is left on them when it releases."""
    leases = HostLeases(
        engine.remote,
        engine.service.name,
        list(engine.service.hosts),
        str(engine.inv.path),
        action,
        lambda line: engine._event("preflight", "warn", line),
        force=engine.break_lease,
    )
    leases.acquire(journal)
    engine.leases = leases
    try:
        yield leases
    finally:
        engine.leases = None
        leases.release(engine.journal)
