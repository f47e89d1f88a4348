"""``homeforge models``: the fleet's Ollama models, listed per host, and seeded host to host.

The Ollama hosts are the inventory's group ``ollama`` (the group playbooks/site.yml
gives the ollama role). Listing asks each host's Ollama where its service listens now
(:func:`homeforge.remote.modelops.ollama_tags`). Seeding copies a model that one host
has to others without the controller's disk or the upstream registry in between: the
source offers the model's files for a while (bound to its mesh address: every host
involved must be in the mesh, as the files and the token travel as HTTP), each target fetches,
checks and installs them (:mod:`homeforge.remote.modelops`), and its Ollama then lists
the model with the source's digest, which is checked.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from homeforge.errors import BadInput
from homeforge.inventory.model import Inventory
from homeforge.module_utils import load as load_module_utils
from homeforge.remote import Remote, RemoteError, fan_out, meshops, modelops, offerops
from homeforge.roles import role_default
from homeforge.wireguard.settings import MeshSettings

GROUP = "ollama"


def ollama_hosts(inv: Inventory, limit: list[str] | None = None) -> list[str]:
    members = inv.group_members(GROUP)
    if not members:
        raise BadInput(f"{inv.shown}: no hosts in group '{GROUP}' (the hosts that run Ollama)")
    return [h for h in members if limit is None or h in limit]


def setting(inv: Inventory, host: str, key: str) -> str:
    return str(inv.hostvars[host].get(key, role_default("ollama", key)))


@dataclass
class HostModels:
    host: str
    models: list[dict] = field(default_factory=list)
    error: str = ""


def list_models(inv: Inventory, hosts: list[str]) -> list[HostModels]:
    with Remote(inv) as remote:
        replies = fan_out(lambda h: remote.call(h, modelops.ollama_tags), hosts)
    out = []
    for host in hosts:
        reply = replies[host]
        if isinstance(reply, BaseException):
            out.append(HostModels(host, error=str(reply)))
        else:
            out.append(HostModels(host, sorted(reply["models"], key=lambda m: m.get("name", ""))))
    return out


@dataclass
class SeedResult:
    model: str
    source: str
    digest: str
    size: int
    url: str
    targets: dict[str, dict | str]  # host -> fetch result, or the error

    @property
    def ok(self) -> bool:
        return all(isinstance(v, dict) for v in self.targets.values())


def _offer_address(inv: Inventory, remote: Remote, source: str, hosts: list[str]) -> str:
    """The source's mesh address. Model bytes and the seeding token travel as plain HTTP,
    so they go only over the WireGuard mesh (encrypted and authenticated host to host):
    a host outside it is refused, never served over the LAN."""
    settings = MeshSettings.of(inv)
    outside = [h for h in hosts if not settings.is_member(h)]
    if outside:
        raise BadInput(
            f"{inv.where(outside[0], 'wireguard_group')}: seeding needs every host involved in"
            f" the WireGuard mesh (group {settings.group}); {', '.join(outside)} is not: the"
            " model and its token would cross the LAN unencrypted (apply the mesh first)"
        )
    return remote.call(source, meshops.mesh_address, iface=settings.interface)["address"]


def seed(inv: Inventory, name: str, source: str, targets: list[str]) -> SeedResult:
    """Copy model ``name`` from ``source`` to ``targets``; per-target results or errors."""
    ollama = load_module_utils("ollama")
    try:
        short, rel = ollama.short_name(name), ollama.manifest_relpath(name)
    except ollama.ModelNameError as exc:
        raise BadInput(str(exc)) from None
    targets = [t for t in targets if t != source]
    if not targets:
        raise BadInput("seed: no target host other than the source")
    with Remote(inv) as remote:
        listed = remote.call(source, modelops.ollama_tags)["models"]
        entry = ollama.find(listed, short)
        if entry is None:
            raise BadInput(f"seed: {source} has no model {short} (pull it there first)")
        address = _offer_address(inv, remote, source, [source, *targets])
        offer = remote.call(
            source,
            offerops.seed_offer,
            models_dir=setting(inv, source, "ollama_models_dir"),
            manifest_rel=rel,
            listen=address,
        )
        if offer["digest"] != entry["digest"]:
            raise RemoteError(f"{source}: {short}: the manifest changed while offering it")

        def fetch(host: str) -> dict:
            result = remote.call(
                host,
                modelops.seed_fetch,
                timeout=7200,
                models_dir=setting(inv, host, "ollama_models_dir"),
                url=offer["url"],
                token=offer["token"],
                manifest_rel=rel,
                manifest_digest=offer["digest"],
                blobs=offer["blobs"],
                owner=setting(inv, host, "ollama_user"),
                name=short,
                origin=f"seeded from {source}",
            )
            seen = ollama.find(remote.call(host, modelops.ollama_tags)["models"], short)
            if seen is None or seen["digest"] != offer["digest"]:
                raise RemoteError(
                    f"{host}: Ollama does not list {short} with digest {offer['digest'][:12]}"
                )
            return result

        try:
            results = fan_out(fetch, targets)
        finally:
            with contextlib.suppress(RemoteError):  # it also stops on its own when idle
                remote.call(source, offerops.seed_stop, pid=offer["pid"])
    return SeedResult(
        short,
        source,
        offer["digest"],
        offer["size"],
        offer["url"],
        {h: (r if isinstance(r, dict) else str(r)) for h, r in results.items()},
    )
