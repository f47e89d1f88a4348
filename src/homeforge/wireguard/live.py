"""``homeforge mesh status`` and ``homeforge mesh plan``: read the live mesh, change nothing.

Each host is read through the remote layer (host keys checked, sudo for non-root
users) with one host operation (``wireguard_status``), which runs ``wg`` with an
argv and drops the interface line of ``wg show IFACE dump`` (the one holding the
private key) on the host, so it never reaches the controller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, RemoteError, fan_out, meshops
from homeforge.wireguard.planner import load_mesh_utils
from homeforge.wireguard.settings import MeshSettings


@dataclass
class LivePeer:
    public_key: str
    endpoint: str
    allowed_ips: list[str]
    latest_handshake: int
    rx: int
    tx: int


@dataclass
class LiveHost:
    host: str
    public_key: str = ""
    address: str = ""
    peers: list[LivePeer] = field(default_factory=list)
    error: str | None = None


@dataclass
class LiveMesh:
    settings: MeshSettings
    hosts: dict[str, LiveHost]

    @property
    def names_by_key(self) -> dict[str, str]:
        return {h.public_key: h.host for h in self.hosts.values() if h.public_key}

    @property
    def healthy(self) -> bool:
        return all(
            not h.error and h.peers and all(p.latest_handshake for p in h.peers)
            for h in self.hosts.values()
        )

    @property
    def unreadable(self) -> dict[str, str]:
        return {h.host: h.error for h in self.hosts.values() if h.error}


def read(inv: Inventory, hosts: list[str] | tuple[str, ...], iface: str) -> dict[str, LiveHost]:
    """Each host's live interface; a host that cannot be read carries its error."""
    with Remote(inv) as remote:

        def one(host: str) -> LiveHost:
            state = remote.call(host, meshops.wireguard_status, timeout=20, iface=iface)
            return LiveHost(
                host,
                state["public_key"],
                state["address"],
                [LivePeer(**peer) for peer in state["peers"]],
            )

        results = fan_out(one, list(hosts))
    out = {}
    for host, result in results.items():
        if isinstance(result, RemoteError):
            result = LiveHost(host, error=str(result).removeprefix(f"{host}: "))
        elif isinstance(result, BaseException):
            raise result
        out[host] = result
    return out


def live_mesh(inv: Inventory) -> LiveMesh:
    settings = MeshSettings.of(inv)
    return LiveMesh(settings, read(inv, settings.members, settings.interface))


def handshake_age(stamp: int, now: float | None = None) -> str:
    if stamp == 0:
        return "never"
    seconds = int((now or time.time()) - stamp)
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"


@dataclass
class PeerChange:
    action: str  # add, change, remove
    peer: str
    detail: str


def known_facts(inv: Inventory, selected: list[str]) -> dict[str, dict]:
    """Public key and address of the mesh members a ``--limit`` run leaves out, read live
    (public keys are public; one cheap call per host, in parallel). The run plans their
    peers from these, so it needs no fact cache from an earlier full converge."""
    settings = MeshSettings.of(inv)
    outside = [h for h in settings.members if h not in set(selected)]
    if not outside or not any(h in settings.members for h in selected):
        return {}
    return {
        name: {"public_key": state.public_key, "address": state.address}
        for name, state in read(inv, outside, settings.interface).items()
        if not state.error and state.public_key
    }


def plan_changes(inv: Inventory, live: LiveMesh) -> dict[str, list[PeerChange]]:
    """Per host: the peers a converge would add, change or remove."""
    mesh = load_mesh_utils()
    members = list(live.settings.members)
    current = live.hosts
    hostvars = {name: dict(inv.hostvars[name]) for name in members}
    for name in members:
        state = current.get(name)
        if state and not state.error:
            hostvars[name]["wireguard_facts"] = {
                "public_key": state.public_key,
                "address": state.address,
            }
    desired = mesh.plan(
        live.settings.cidr, mesh.hosts_from_vars(members, hostvars), need_keys=False
    )
    names_by_key = live.names_by_key
    changes: dict[str, list[PeerChange]] = {}
    for host in members:
        state = current.get(host)
        have = {p.public_key: p for p in (state.peers if state and not state.error else [])}
        out: list[PeerChange] = []
        wanted_keys = set()
        for peer in desired[host]["peers"]:
            key = peer["public_key"]
            if not key:
                out.append(PeerChange("add", peer["name"], "new host: key made on its first apply"))
                continue
            wanted_keys.add(key)
            if key not in have:
                out.append(PeerChange("add", peer["name"], ", ".join(peer["allowed_ips"])))
            elif sorted(have[key].allowed_ips) != sorted(peer["allowed_ips"]):
                before = ",".join(sorted(have[key].allowed_ips))
                after = ",".join(sorted(peer["allowed_ips"]))
                out.append(PeerChange("change", peer["name"], f"allowed ips {before} -> {after}"))
        for key in have:
            if key not in wanted_keys:
                name = names_by_key.get(key, key[:10] + "...")
                out.append(PeerChange("remove", name, "no longer in the mesh"))
        changes[host] = out
    return changes
