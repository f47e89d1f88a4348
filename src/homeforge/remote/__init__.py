"""One way to reach hosts outside a converge: SSH, host programs, parallel fan-out.

Everything homeforge does on hosts without Ansible (mesh status, plan and key
rotation, the cutover, verify's host-key check and testinfra's connection) goes
through here:

- :func:`homeforge.remote.ssh.connect`: paramiko with the inventory's credentials
  and known_hosts, unknown or changed host keys refused;
- :class:`Remote`: one cached connection per host; :meth:`Remote.run` runs an argv
  (quoted here, never a shell string built from inventory values) with ``sudo -n``
  for non-root users; :meth:`Remote.call` runs one typed operation of a host
  program (the ``*ops`` modules here, each sent as one script that starts with
  :mod:`~homeforge.remote.prelude`, see :func:`program_text`) with its request on
  stdin (not in argv, where ``ps`` and sudo's log would see it);
- :func:`fan_out`: a function on many hosts at once, results and errors per host.
"""

from __future__ import annotations

import inspect
import json
import shlex
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from homeforge.errors import HomeforgeError
from homeforge.inventory.model import Inventory
from homeforge.remote import (
    clusterops,
    envops,
    firewallops,
    gatewayops,
    kubeops,
    leaseops,
    meshops,
    modelfiles,
    modelops,
    offerops,
    prelude,
    probeops,
    ssh,
    stampops,
    stampwatch,
)

# The host programs (one operation per call) by module name.
PROGRAMS = {
    program.__name__: program
    for program in (
        clusterops,
        envops,
        firewallops,
        gatewayops,
        kubeops,
        leaseops,
        meshops,
        modelops,
        offerops,
        probeops,
        stampops,
    )
}
# The shared parts a program builds on, sent between the prelude and the program.
PARTS = {
    modelops.__name__: (modelfiles,),
    offerops.__name__: (modelfiles,),
    stampops.__name__: (stampwatch,),
}
# Reads the request (first line) and the program (the rest) from stdin, runs it.
BOOTSTRAP = prelude.BOOTSTRAP

T = TypeVar("T")


def program_text(program: ModuleType) -> str:
    """The one script a host runs for ``program``: the prelude's source, its parts', then
    its own, concatenated (standard library only; :data:`BOOTSTRAP` runs it)."""
    texts = [prelude, *PARTS.get(program.__name__, ()), program]
    return "".join(Path(module.__file__).read_text() for module in texts)


class RemoteError(HomeforgeError):
    """A host could not be reached, or an operation on it failed; the message names the host."""


@dataclass
class Completed:
    rc: int
    stdout: str
    stderr: str


class Remote:
    """Connections to an inventory's hosts, opened on first use and reused."""

    def __init__(self, inv: Inventory, timeout: float = 10):
        self.inv = inv
        self.timeout = timeout
        self._clients: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._sources: dict[str, str] = {}

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self, host: str):
        import paramiko

        if host not in self._clients:
            try:
                self._clients[host] = ssh.connect(self.inv, host, self.timeout)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise RemoteError(
                    f"{host} ({self.inv.address(host)}): cannot connect over SSH: "
                    f"{ssh.one_line(exc)}"
                ) from None
        return self._clients[host]

    def _host_lock(self, host: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(host, threading.Lock())

    def sudo(self, host: str) -> list[str]:
        return [] if self.inv.user(host) == "root" else ["sudo", "-n"]

    def run(self, host: str, argv: list[str], stdin: str = "", timeout: float = 300) -> Completed:
        """Run argv on host as root (sudo -n for other users); stdin is sent, then closed."""
        import paramiko

        command = shlex.join(self.sudo(host) + argv)
        with self._host_lock(host):
            client = self.client(host)
            try:
                channel_in, stdout, stderr = client.exec_command(command, timeout=timeout)
                if stdin:
                    channel_in.write(stdin)
                channel_in.channel.shutdown_write()
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                rc = stdout.channel.recv_exit_status()
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self._clients.pop(host, None)
                raise RemoteError(f"{host}: {argv[0]}: {ssh.one_line(exc)}") from None
        return Completed(rc, out, err)

    def call(self, host: str, op: Callable[..., dict], timeout: float = 300, **args: Any) -> dict:
        """Run one operation of a host program (:data:`PROGRAMS`, e.g.
        :mod:`~homeforge.remote.envops`) on host; its result dict."""
        program = PROGRAMS.get(getattr(op, "__module__", ""))
        if program is None or program.OPS.get(op.__name__) is not op:
            raise TypeError(f"{op!r} is not a host operation (OPS of a homeforge.remote program)")
        inspect.signature(op).bind(**args)  # a wrong argument fails here, not on the host
        if program.__name__ not in self._sources:
            self._sources[program.__name__] = program_text(program)
        request = json.dumps({"op": op.__name__, "args": args})
        stdin = request + "\n" + self._sources[program.__name__]
        done = self.run(host, ["python3", "-c", BOOTSTRAP], stdin=stdin, timeout=timeout)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RemoteError(f"{host}: {op.__name__}: {detail}")
        reply = json.loads(lines[-1])
        if not reply["ok"]:
            raise RemoteError(f"{host}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def fan_out(
    fn: Callable[[str], T], hosts: list[str], workers: int = 16
) -> dict[str, T | BaseException]:
    """fn(host) on every host at once: each host's result, or the exception it raised."""
    results: dict[str, T | BaseException] = {}
    if not hosts:
        return results
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        futures = {host: pool.submit(fn, host) for host in hosts}
        for host, future in futures.items():
            try:
                results[host] = future.result()
            except Exception as exc:  # returned to the caller, per host
                results[host] = exc
    return results


def fan_out_or_raise(fn: Callable[[str], T], hosts: list[str], workers: int = 16) -> dict[str, T]:
    """Like :func:`fan_out`, but the first host's error is raised once all have finished."""
    results = fan_out(fn, hosts, workers)
    for value in results.values():
        if isinstance(value, BaseException):
            raise value
    return results  # type: ignore[return-value]
