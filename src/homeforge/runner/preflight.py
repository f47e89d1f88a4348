"""Before any change: every host's SSH port accepts a TCP connection, so that one dead
host does not leave the others half-converged."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from homeforge.errors import HomeforgeError
from homeforge.inventory.model import Inventory


def unreachable_hosts(inv: Inventory, hosts: list[str], timeout: float = 3.0) -> list[str]:
    """Hosts whose SSH port does not accept a TCP connection, as error lines.

    Checked before any change so that one dead host does not leave the others
    half-converged.
    """

    def probe(host: str) -> str | None:
        hvars = inv.hostvars[host]
        if hvars.get("ansible_connection", "ssh") not in ("ssh", "paramiko", "smart"):
            return None
        address, port = inv.address(host), int(inv.setting(host, "ansible_port", 22))
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__.lower()
            if isinstance(exc, socket.timeout | TimeoutError):
                reason = f"no answer in {timeout:.0f}s"
            return f"{inv.where(host, 'ansible_host')}: {address}:{port} unreachable ({reason})"

    with ThreadPoolExecutor(max_workers=min(32, max(1, len(hosts)))) as pool:
        return [line for line in pool.map(probe, hosts) if line]


class HostsUnreachable(HomeforgeError):
    """Hosts did not answer before the run; nothing was applied. One line per host."""

    def __init__(self, lines: list[str]):
        self.problems = lines
        super().__init__(f"{len(lines)} host(s) unreachable — nothing was applied")


def require_reachable(inv: Inventory, hosts: list[str]) -> None:
    """Raise :class:`HostsUnreachable` unless every host's SSH port answers."""
    lines = unreachable_hosts(inv, hosts)
    if lines:
        raise HostsUnreachable(lines)
