"""``homeforge mesh rotate-keys``: replace hosts' keys one at a time, measuring the interruption.

For each host: a mesh member that stays reachable pings the host's mesh address
while the mesh playbook runs with ``wireguard_rotate_hosts=[host]``; ping's own
summary gives the echo requests lost.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from homeforge import paths, runner
from homeforge.errors import BadInput, HomeforgeError
from homeforge.inventory.model import Inventory
from homeforge.remote import Remote
from homeforge.wireguard import live as live_mod
from homeforge.wireguard.settings import MeshSettings

PING_INTERVAL = 0.2


@dataclass
class Rotation:
    host: str
    old_key: str
    new_key: str
    observer: str
    sent: int
    lost: int
    apply_ok: bool
    elapsed: float
    failures: tuple[str, ...] = ()

    @property
    def interruption_s(self) -> float:
        return self.lost * PING_INTERVAL

    @property
    def ok(self) -> bool:
        return self.apply_ok and self.new_key != self.old_key


class Pinger:
    """Pings an address from a mesh host over SSH until stopped; then reads ping's own summary."""

    def __init__(self, remote: Remote, host: str, address: str):
        self.channel = remote.client(host).get_transport().open_session()
        self.channel.get_pty()  # so Ctrl-C reaches ping and it prints its statistics
        argv = ["ping", "-n", "-i", str(PING_INTERVAL), "-W", "1", "-w", "900", address]
        self.channel.exec_command(shlex.join(remote.sudo(host) + argv))

    def stop(self) -> tuple[int, int]:
        time.sleep(2 * PING_INTERVAL + 1)  # let echoes in flight come back
        self.channel.send("\x03")
        output, deadline = b"", time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.channel.recv_ready():
                output += self.channel.recv(65536)
            elif self.channel.exit_status_ready():
                break
            else:
                time.sleep(0.05)
        self.channel.close()
        match = re.search(rb"(\d+) packets transmitted, (\d+) received", output)
        if not match:
            return 0, 0
        sent, received = int(match.group(1)), int(match.group(2))
        return sent, sent - received


def _observer(inv: Inventory, settings: MeshSettings, target: str) -> str:
    for member in settings.members:
        if member != target and inv.hostvars[member].get("wireguard_reachable", True):
            return member
    raise BadInput(
        f"{inv.shown}: rotating {target}'s key needs another reachable mesh host to measure "
        "the interruption from"
    )


def rotate_keys(
    inv: Inventory, hosts: tuple[str, ...] = (), on_rotation: Callable[[Rotation], None] = print
) -> list[Rotation]:
    """Rotate each host's key in turn (every mesh host when none is named); stop at a failure."""
    settings = MeshSettings.of(inv)
    unknown = [h for h in hosts if not settings.is_member(h)]
    if unknown:
        raise BadInput(f"--host {', '.join(unknown)}: not in the mesh of {inv.path}")
    targets = list(hosts or settings.members)
    live = live_mod.read(inv, settings.members, settings.interface)
    unreadable = [f"{h.host}: {h.error}" for h in live.values() if h.error]
    if unreadable:
        raise HomeforgeError("cannot read the mesh, nothing was rotated: " + "; ".join(unreadable))
    observers = {target: _observer(inv, settings, target) for target in targets}
    rotations = []
    with Remote(inv) as remote:
        for rotation in _rotations(inv, remote, settings, live, targets, observers):
            rotations.append(rotation)
            on_rotation(rotation)
            if not rotation.apply_ok:
                break
    return rotations


def _rotations(inv, remote, settings, live, targets, observers) -> Iterator[Rotation]:
    for target in targets:
        observer = observers[target]
        pinger = Pinger(remote, observer, live[target].address)
        started = time.monotonic()
        try:
            request = runner.ApplyRequest(
                paths.resolve_playbook("mesh"),
                inv,
                extra_vars=[json.dumps({"wireguard_rotate_hosts": [target]})],
            )
            result = runner.run_playbook(request)
        finally:
            elapsed = time.monotonic() - started
            sent, lost = pinger.stop()
        after = live_mod.read(inv, [target], settings.interface)[target]
        yield Rotation(
            target,
            live[target].public_key,
            after.public_key,
            observer,
            sent,
            lost,
            result.ok,
            elapsed,
            tuple(f"{f.host}: {f.task}: {f.message}" for f in result.failures),
        )
