"""``homeforge cluster``: the K3s cluster the inventory describes, seen from its first server.

The servers are the inventory's group ``k3s_server_group`` (k3s-ansible's ``server``),
agents group ``agent``. ``status`` asks the first server for its nodes (roles, version,
readiness, allocatable GPUs) and names the inventory's nodes that are missing, then its
StorageClasses (the default flagged) and HTTPS endpoints (Traefik IngressRoutes, Gateway
listeners) with the issuer and expiry of the cert-manager Certificate behind each;
``kubeconfig`` fetches the admin kubeconfig K3s wrote there and writes a new one on this
machine (0600, atomically) holding only its CA and admin credentials, the server address
set to the API endpoint and the cluster, user and context renamed, so several clusters
can sit side by side; a served file with anything else in it is refused.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from homeforge.cluster import admin_kubeconfig
from homeforge.errors import BadInput
from homeforge.inventory.groups import server_group
from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, clusterops
from homeforge.roles import role_default


def servers(inv: Inventory) -> list[str]:
    group = server_group(inv)
    members = inv.group_members(group)
    if not members:
        raise BadInput(f"{inv.shown}: no host in group {group} (the K3s servers)")
    return members


def endpoint(inv: Inventory) -> str:
    first = servers(inv)[0]
    given = inv.hostvars[first].get("k3s_api_endpoint") or ""
    port = inv.hostvars[first].get("k3s_api_port", role_default("k3s_server", "k3s_api_port"))
    host = str(given or inv.address(first))
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{port}"


@dataclass
class NodeRow:
    name: str
    roles: list[str]
    version: str
    ready: bool
    gpus: str
    address: str


@dataclass
class StorageRow:
    name: str
    provisioner: str
    default: bool
    reclaim: str
    binding: str


@dataclass
class EndpointRow:
    """An HTTPS entry point: an IngressRoute (Traefik) or a Gateway listener (Istio)."""

    kind: str
    namespace: str
    name: str
    hosts: list[str]
    secret: str
    issuer: str  # the Certificate's issuerRef, "" without a Certificate for the secret
    expires: str  # the Certificate's status.notAfter, "" until one is issued
    ready: bool | None  # the Certificate's Ready condition, None without a Certificate


@dataclass
class ClusterStatus:
    server: str
    nodes: list[NodeRow] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the inventory, not registered
    storage: list[StorageRow] = field(default_factory=list)
    endpoints: list[EndpointRow] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.missing and all(n.ready for n in self.nodes)


def node_rows(node_list: dict) -> list[NodeRow]:
    rows = []
    for item in node_list.get("items") or []:
        meta, status = item.get("metadata") or {}, item.get("status") or {}
        labels = meta.get("labels") or {}
        roles = sorted(
            key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")
        )
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        addresses = [
            a.get("address", "")
            for a in status.get("addresses") or []
            if a.get("type") == "InternalIP"
        ]
        rows.append(
            NodeRow(
                name=str(meta.get("name", "?")),
                roles=roles or ["agent"],
                version=str((status.get("nodeInfo") or {}).get("kubeletVersion", "")),
                ready=ready,
                gpus=str((status.get("allocatable") or {}).get("nvidia.com/gpu", "0")),
                address=addresses[0] if addresses else "",
            )
        )
    return rows


DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
HOST_RULE = re.compile(r"Host(?:SNI)?\(([^)]*)\)")


def storage_rows(classes: list[dict]) -> list[StorageRow]:
    rows = []
    for item in classes:
        meta = item.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        rows.append(
            StorageRow(
                name=str(meta.get("name", "?")),
                provisioner=str(item.get("provisioner", "")),
                default=str(annotations.get(DEFAULT_CLASS, "")).lower() == "true",
                reclaim=str(item.get("reclaimPolicy") or "Delete"),
                binding=str(item.get("volumeBindingMode") or "Immediate"),
            )
        )
    return sorted(rows, key=lambda r: (not r.default, r.name))


def _certificates(certificates: list[dict]) -> dict[tuple[str, str], dict]:
    """Certificates by (namespace, secretName): the secret a route serves names its issuer."""
    found = {}
    for cert in certificates:
        meta, spec = cert.get("metadata") or {}, cert.get("spec") or {}
        found[(str(meta.get("namespace", "default")), str(spec.get("secretName", "")))] = cert
    return found


def _endpoint(kind, meta, hosts, secret, certificates) -> EndpointRow:
    namespace = str(meta.get("namespace", "default"))
    cert = certificates.get((namespace, secret)) if secret else None
    issuer, expires, ready = "", "", None
    if cert is not None:
        ref = (cert.get("spec") or {}).get("issuerRef") or {}
        issuer = f"{ref.get('kind') or 'Issuer'}/{ref.get('name', '?')}"
        status = cert.get("status") or {}
        expires = str(status.get("notAfter") or "")
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
    return EndpointRow(
        kind, namespace, str(meta.get("name", "?")), hosts, secret, issuer, expires, ready
    )


def endpoint_rows(
    routes: list[dict], gateways: list[dict], certificates: list[dict]
) -> list[EndpointRow]:
    """Traefik IngressRoutes with TLS and Gateway HTTPS listeners, each with the issuer and
    expiry of the cert-manager Certificate that fills its secret."""
    by_secret = _certificates(certificates)
    rows = []
    for route in routes:
        spec = route.get("spec") or {}
        tls = spec.get("tls")
        if not isinstance(tls, dict):
            continue  # plain HTTP (the redirect routes)
        hosts = sorted(
            {
                name.strip().strip("`\"'")
                for r in spec.get("routes") or []
                for match in HOST_RULE.findall(str(r.get("match", "")))
                for name in match.split(",")
            }
        )
        rows.append(
            _endpoint(
                "IngressRoute",
                route.get("metadata") or {},
                hosts,
                str(tls.get("secretName", "")),
                by_secret,
            )
        )
    for gateway in gateways:
        meta = gateway.get("metadata") or {}
        for listener in (gateway.get("spec") or {}).get("listeners") or []:
            if listener.get("protocol") != "HTTPS":
                continue
            refs = (listener.get("tls") or {}).get("certificateRefs") or [{}]
            hosts = [str(listener["hostname"])] if listener.get("hostname") else ["*"]
            rows.append(_endpoint("Gateway", meta, hosts, str(refs[0].get("name", "")), by_secret))
    return rows


def status(inv: Inventory) -> ClusterStatus:
    first = servers(inv)[0]
    with Remote(inv) as remote:
        listed = remote.call(first, clusterops.k3s_nodes)
        found = {
            resource: remote.call(first, clusterops.k3s_list, resource=resource)["items"]
            for resource in clusterops.RESOURCES
        }
    rows = node_rows(listed)
    names = {r.name for r in rows}
    expected = [*servers(inv), *inv.group_members("agent")]
    return ClusterStatus(
        first,
        rows,
        [h for h in expected if h not in names],
        storage_rows(found["storageclasses.storage.k8s.io"]),
        endpoint_rows(
            found["ingressroutes.traefik.io"],
            found["gateways.gateway.networking.k8s.io"],
            found["certificates.cert-manager.io"],
        ),
    )


def rewrite_kubeconfig(
    text: str, server: str, name: str, source: str = "the server's kubeconfig"
) -> str:
    """K3s's kubeconfig rebuilt with only the CA, the admin certificate and key, the server
    address and the names (:mod:`homeforge.cluster.admin_kubeconfig`)."""
    return yaml.safe_dump(admin_kubeconfig.rebuild(text, server, name, source), sort_keys=False)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def kubeconfig(inv: Inventory, output: Path, context: str) -> dict:
    first = servers(inv)[0]
    with Remote(inv) as remote:
        text = remote.call(first, clusterops.k3s_kubeconfig)["text"]
    server = endpoint(inv)
    source = f"{first} ({inv.address(first)}): {clusterops.KUBECONFIG}"
    write_private(output, rewrite_kubeconfig(text, server, context, source))
    return {"path": str(output), "server": server, "context": context, "from": first}
