# Copyright: homeforge maintainers
# Apache License 2.0
"""WireGuard mesh planning: addresses, peers and topology, as pure functions.

Used by the ``wireguard_mesh`` filter (inside plays), by ``homeforge inventory
check`` (before any run) and by the benchmarks. No Ansible imports, so each of
them can load it as plain Python.

Addressing is deterministic and stable:
  1. an explicit ``wireguard_address`` wins;
  2. otherwise a host keeps the address it already has (read back from the host);
  3. a new host gets the first free slot probing forward from a hash of its name.
So adding or removing hosts never renumbers the others.

Topology: hosts with a reachable endpoint form a full mesh. A host marked
``wireguard_reachable: false`` talks only to its ``wireguard_relay``, which
forwards for it; every other host routes that host's address through the relay.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field

try:
    from ansible_collections.homeforge.homelab.plugins.module_utils import validation as rules
except ImportError:  # loaded as plain Python by the homeforge CLI (homeforge.module_utils)
    import homeforge_module_utils_validation as rules  # type: ignore[no-redef]


class MeshError(ValueError):
    """A problem with one host's mesh settings: host and key name where it is."""

    def __init__(self, host: str, key: str, message: str):
        self.host, self.key, self.message = host, key, message
        super().__init__(f"host {host}: {key}: {message}")


@dataclass
class MeshHost:
    name: str
    endpoint_host: str
    port: int = 51820
    reachable: bool = True
    relay: str = ""
    address: str = ""  # explicit override
    current_address: str = ""  # what the host has now
    public_key: str = ""
    keepalive: int = 25
    extra_allowed_ips: list[str] = field(default_factory=list)


@dataclass
class Peer:
    name: str
    public_key: str
    allowed_ips: list[str]
    endpoint: str = ""
    keepalive: int = 0

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "public_key": self.public_key,
            "allowed_ips": self.allowed_ips,
            "endpoint": self.endpoint,
            "keepalive": self.keepalive,
        }


def is_public_key(value: str) -> bool:
    """A WireGuard key: 32 bytes, base64 (44 characters ending in '=')."""
    if not isinstance(value, str) or len(value) != 44 or not value.endswith("="):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (ValueError, TypeError):
        return False


def network_of(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=True)


def _slot(name: str, size: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % size


def allocate(cidr: str, hosts: list[MeshHost]) -> dict[str, str]:
    """Mesh address per host (see the module docstring for the rules)."""
    net = network_of(cidr)
    first = int(net.network_address) + 1
    size = net.num_addresses - 2 if net.version == 4 else net.num_addresses - 1
    if size < len(hosts):
        raise MeshError(
            hosts[0].name if hosts else "-",
            "wireguard_mesh_cidr",
            f"{cidr} has room for {size} hosts, not {len(hosts)}",
        )
    taken: dict[str, str] = {}
    result: dict[str, str] = {}

    def claim(host: MeshHost, address: str, key: str) -> None:
        ip = ipaddress.ip_address(address)
        if ip not in net or int(ip) < first or int(ip) >= first + size:
            raise MeshError(host.name, key, f"{address} is not a usable address in {cidr}")
        if address in taken:
            raise MeshError(host.name, key, f"{address} is already used by host {taken[address]}")
        taken[address] = host.name
        result[host.name] = address

    for host in hosts:  # 1. explicit overrides
        if host.address:
            try:
                claim(host, host.address, "wireguard_address")
            except ValueError as exc:
                if isinstance(exc, MeshError):
                    raise
                raise MeshError(
                    host.name, "wireguard_address", f"'{host.address}' is not an IP address"
                ) from None
    for host in hosts:  # 2. addresses hosts already have
        if host.name not in result and host.current_address:
            try:
                ip = ipaddress.ip_address(host.current_address)
            except ValueError:
                continue
            if ip in net and str(ip) not in taken and first <= int(ip) < first + size:
                claim(host, str(ip), "wireguard_address")
    for host in sorted(hosts, key=lambda h: h.name):  # 3. hash slot, probing forward
        if host.name in result:
            continue
        slot = _slot(host.name, size)
        for step in range(size):
            address = str(ipaddress.ip_address(first + (slot + step) % size))
            if address not in taken:
                claim(host, address, "wireguard_address")
                break
    return result


def _endpoint(host: MeshHost) -> str:
    try:
        if ipaddress.ip_address(host.endpoint_host).version == 6:
            return f"[{host.endpoint_host}]:{host.port}"
    except ValueError:
        pass
    return f"{host.endpoint_host}:{host.port}"


def validate(cidr: str, hosts: list[MeshHost], need_keys: bool = False) -> None:
    """Raise MeshError for the first problem in topology or keys."""
    try:
        net = network_of(cidr)
    except ValueError as exc:
        raise MeshError(
            hosts[0].name if hosts else "-",
            "wireguard_mesh_cidr",
            f"'{cidr}' is not a valid CIDR ({exc})",
        ) from None
    by_name = {h.name: h for h in hosts}
    for host in hosts:
        # Names and endpoints are written into wg.conf: one line each, nothing else.
        problem = rules.inventory_name_problem(host.name)
        if problem:
            raise MeshError(host.name, "inventory host name", problem)
        if host.reachable and host.endpoint_host:
            problem = rules.address_problem(host.endpoint_host)
            if problem:
                raise MeshError(
                    host.name, "wireguard_endpoint", f"{host.endpoint_host!r}: {problem}"
                )
        if not host.reachable:
            if not host.relay:
                raise MeshError(
                    host.name,
                    "wireguard_relay",
                    "host is not reachable (wireguard_reachable: false) and has no relay",
                )
            relay = by_name.get(host.relay)
            if relay is None:
                raise MeshError(
                    host.name, "wireguard_relay", f"relay '{host.relay}' is not in the mesh"
                )
            if not relay.reachable:
                raise MeshError(
                    host.name, "wireguard_relay", f"relay '{host.relay}' is itself not reachable"
                )
        elif not host.endpoint_host:
            raise MeshError(
                host.name,
                "wireguard_endpoint",
                "no endpoint: set wireguard_endpoint or ansible_host, or mark the host wireguard_reachable: false with a relay",
            )
        if host.public_key and not is_public_key(host.public_key):
            raise MeshError(
                host.name,
                "wireguard_public_key",
                "malformed WireGuard public key (expected 44 base64 characters)",
            )
        if need_keys and not host.public_key:
            raise MeshError(
                host.name,
                "wireguard_public_key",
                "public key unknown (no cached facts, and not readable from the host): converge it first",
            )
        for extra in host.extra_allowed_ips:
            try:
                extra_net = ipaddress.ip_network(extra, strict=True)
            except ValueError as exc:
                raise MeshError(
                    host.name,
                    "wireguard_extra_allowed_ips",
                    f"'{extra}' is not a valid CIDR ({exc})",
                ) from None
            if extra_net.version == net.version and extra_net.overlaps(net):
                raise MeshError(
                    host.name, "wireguard_extra_allowed_ips", f"{extra} overlaps the mesh {cidr}"
                )


def plan(cidr: str, hosts: list[MeshHost], need_keys: bool = True) -> dict[str, dict]:
    """Address, prefix and peers for every host of the mesh."""
    validate(cidr, hosts, need_keys=need_keys)
    net = network_of(cidr)
    addresses = allocate(cidr, hosts)
    host_prefix = 32 if net.version == 4 else 128
    by_name = {h.name: h for h in hosts}
    routed_via: dict[str, list[str]] = {}  # relay -> hosts behind it
    for host in hosts:
        if not host.reachable:
            routed_via.setdefault(host.relay, []).append(host.name)

    def own_ips(name: str) -> list[str]:
        return [f"{addresses[name]}/{host_prefix}", *by_name[name].extra_allowed_ips]

    result = {}
    for host in hosts:
        peers: list[Peer] = []
        if not host.reachable:
            relay = by_name[host.relay]
            peers.append(
                Peer(
                    relay.name,
                    relay.public_key,
                    [str(net), *relay.extra_allowed_ips],
                    _endpoint(relay),
                    host.keepalive,
                )
            )
        else:
            for other in hosts:
                if other.name == host.name:
                    continue
                if other.reachable:
                    allowed = own_ips(other.name)
                    for behind in sorted(routed_via.get(other.name, [])):
                        if behind != host.name:
                            allowed += own_ips(behind)
                    peers.append(Peer(other.name, other.public_key, allowed, _endpoint(other)))
                elif other.relay == host.name:
                    peers.append(Peer(other.name, other.public_key, own_ips(other.name)))
        result[host.name] = {
            "address": addresses[host.name],
            "prefix": net.prefixlen,
            "port": host.port,
            "relay_for": sorted(routed_via.get(host.name, [])),
            "peers": [p.as_dict() for p in sorted(peers, key=lambda p: p.name)],
        }
    return result


# The host variables the planner reads (the filter fetches only these from hostvars).
MESH_KEYS = (
    "ansible_host",
    "wireguard_facts",
    "wireguard_endpoint",
    "wireguard_port",
    "wireguard_reachable",
    "wireguard_relay",
    "wireguard_address",
    "wireguard_public_key",
    "wireguard_persistent_keepalive",
    "wireguard_extra_allowed_ips",
)


def _whole_number(name: str, key: str, value, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    text = str(value).strip()
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not text.isdigit():
        raise MeshError(name, key, f"must be a whole number, not {value!r}")
    if not low <= int(text) <= high:
        raise MeshError(name, key, f"must be between {low} and {high}, not {value!r}")
    return int(text)


def _text(name: str, key: str, value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MeshError(name, key, f"must be a string, not {type(value).__name__}")
    return value


def hosts_from_vars(members: list[str], hostvars: dict) -> list[MeshHost]:
    """MeshHost records from Ansible-style host variables; MeshError naming the host and
    key for a value of the wrong type (INI inventories give strings: "false", "51820")."""
    out = []
    for name in members:
        hv = hostvars.get(name, {})
        current = hv.get("wireguard_facts") or {}
        if not isinstance(current, dict):
            raise MeshError(
                name,
                "wireguard_facts",
                "must be a mapping (set by the role; remove it from the inventory)",
            )
        extra = hv.get("wireguard_extra_allowed_ips") or []
        if not isinstance(extra, list):
            raise MeshError(
                name,
                "wireguard_extra_allowed_ips",
                f"must be a list of CIDRs, not {type(extra).__name__}",
            )
        try:
            reachable = rules.as_bool(hv.get("wireguard_reachable", True))
        except ValueError as exc:
            raise MeshError(name, "wireguard_reachable", str(exc)) from None
        endpoint_key = "wireguard_endpoint" if hv.get("wireguard_endpoint") else "ansible_host"
        out.append(
            MeshHost(
                name=name,
                endpoint_host=_text(name, endpoint_key, hv.get(endpoint_key)) or name,
                port=_whole_number(
                    name, "wireguard_port", hv.get("wireguard_port"), 51820, 1, 65535
                ),
                reachable=reachable,
                relay=_text(name, "wireguard_relay", hv.get("wireguard_relay")),
                address=_text(name, "wireguard_address", hv.get("wireguard_address")),
                current_address=str(current.get("address") or ""),
                public_key=_text(name, "wireguard_public_key", hv.get("wireguard_public_key"))
                or str(current.get("public_key") or ""),
                keepalive=_whole_number(
                    name,
                    "wireguard_persistent_keepalive",
                    hv.get("wireguard_persistent_keepalive"),
                    25,
                    0,
                    65535,
                ),
                extra_allowed_ips=[str(item) for item in extra],
            )
        )
    return out
