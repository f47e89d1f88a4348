"""``homeforge mesh status`` and ``homeforge mesh plan``: read the live mesh, change nothing.

Each host is read over SSH (paramiko, host keys checked against the inventory's
known_hosts, as ``verify`` does). From ``wg show IFACE dump`` only the peer lines
are read: the interface line, which holds the private key, is cut on the host
(``tail -n +2``) and never reaches the controller.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from homeforge import ssh
from homeforge.inventory import Inventory, role_default
from homeforge.meshplan import load_mesh_utils


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


def live_mesh(inv: Inventory) -> tuple[str, str, list[str], dict[str, LiveHost]]:
    """Interface, CIDR, members and each member's live state."""
    iface, cidr, members = mesh_settings(inv)
    return iface, cidr, members, read(inv, members, iface)


def mesh_settings(inv: Inventory) -> tuple[str, str, list[str]]:
    any_vars = next(iter(inv.hostvars.values()), {})

    def setting(key: str) -> str:
        return str(any_vars.get(key, role_default("wireguard", key)))

    iface, cidr, group = (
        setting("wireguard_interface"),
        setting("wireguard_mesh_cidr"),
        setting("wireguard_group"),
    )
    members = inv.hosts if group == "all" else inv.groups.get(group, [])
    return iface, cidr, members


def _read_host(inv: Inventory, host: str, iface: str) -> LiveHost:
    import paramiko

    out = LiveHost(host)
    client = None
    script = (
        f"wg show {iface} public-key && "
        f"(ip -o addr show dev {iface} | awk '{{print $4}}' | cut -d/ -f1 | head -n 1) && "
        f"echo --- && wg show {iface} dump | tail -n +2"
    )
    try:
        client = ssh.connect(inv, host)
        _stdin, stdout, stderr = client.exec_command(script, timeout=20)
        text = stdout.read().decode()
        if stdout.channel.recv_exit_status() != 0:
            out.error = (stderr.read().decode().strip().splitlines() or ["wg show failed"])[-1]
            return out
    except (OSError, EOFError, paramiko.SSHException) as exc:
        # a host that cannot be read is reported as such; the others are still shown
        out.error = f"{inv.address(host)}: {exc or type(exc).__name__}"
        return out
    finally:
        if client is not None:
            client.close()
    head, _sep, dump = text.partition("---\n")
    lines = head.split()
    out.public_key = lines[0] if lines else ""
    out.address = lines[1] if len(lines) > 1 else ""
    for line in dump.splitlines():
        fields = line.split("\t")
        if len(fields) >= 7:
            out.peers.append(
                LivePeer(
                    fields[0],
                    "" if fields[2] == "(none)" else fields[2],
                    [] if fields[3] == "(none)" else fields[3].split(","),
                    int(fields[4]),
                    int(fields[5]),
                    int(fields[6]),
                )
            )
    return out


def read(inv: Inventory, hosts: list[str], iface: str) -> dict[str, LiveHost]:
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
        return {h.host: h for h in pool.map(lambda name: _read_host(inv, name, iface), hosts)}


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


def plan_changes(
    inv: Inventory, live: dict[str, LiveHost], cidr: str, members: list[str]
) -> dict[str, list[PeerChange]]:
    """Per host: the peers a converge would add, change or remove."""
    mesh = load_mesh_utils()
    hostvars = {name: dict(inv.hostvars[name]) for name in members}
    for name in members:
        current = live.get(name)
        if current and not current.error:
            hostvars[name]["wireguard_facts"] = {
                "public_key": current.public_key,
                "address": current.address,
            }
    desired = mesh.plan(cidr, mesh.hosts_from_vars(members, hostvars), need_keys=False)
    names_by_key = {live[n].public_key: n for n in members if n in live and live[n].public_key}
    changes: dict[str, list[PeerChange]] = {}
    for host in members:
        have = {
            p.public_key: p
            for p in (live[host].peers if host in live and not live[host].error else [])
        }
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
                out.append(
                    PeerChange(
                        "change",
                        peer["name"],
                        f"allowed ips {','.join(sorted(have[key].allowed_ips))} -> {','.join(sorted(peer['allowed_ips']))}",
                    )
                )
        for key in have:
            if key not in wanted_keys:
                out.append(
                    PeerChange(
                        "remove", names_by_key.get(key, key[:10] + "..."), "no longer in the mesh"
                    )
                )
        changes[host] = out
    return changes


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

    @property
    def interruption_s(self) -> float:
        return self.lost * PING_INTERVAL


PING_INTERVAL = 0.2


class Pinger:
    """Pings an address from a mesh host over SSH until stopped; then reads ping's own summary."""

    def __init__(self, inv: Inventory, host: str, address: str):
        self.client = ssh.connect(inv, host)
        self.channel = self.client.get_transport().open_session()
        self.channel.get_pty()  # so Ctrl-C reaches ping and it prints its statistics
        self.channel.exec_command(f"ping -n -i {PING_INTERVAL} -W 1 -w 900 {address}")

    def stop(self) -> tuple[int, int]:
        import re

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
        self.client.close()
        match = re.search(rb"(\d+) packets transmitted, (\d+) received", output)
        if not match:
            return 0, 0
        sent, received = int(match.group(1)), int(match.group(2))
        return sent, sent - received
