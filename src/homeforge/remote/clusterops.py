"""Cluster operations homeforge runs on a K3s server (see :class:`homeforge.remote.Remote`).

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text), one
operation per call.
"""

import json
import subprocess

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError

KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"


def k3s_nodes():
    """``k3s kubectl get nodes -o json`` on this server, parsed."""
    done = subprocess.run(
        ["k3s", "kubectl", "get", "nodes", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise OpError("k3s kubectl get nodes: %s" % detail)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise OpError("k3s kubectl get nodes: not JSON") from None


# What ``cluster status`` lists besides nodes: kubectl's resource names, fully qualified
# so a CRD of another group with the same short name is never read instead.
RESOURCES = (
    "storageclasses.storage.k8s.io",
    "ingressroutes.traefik.io",
    "gateways.gateway.networking.k8s.io",
    "certificates.cert-manager.io",
)


def k3s_list(resource):
    """``k3s kubectl get RESOURCE -A -o json``'s items, none (known false) when the cluster
    does not know the resource (its CRD is not installed: no cert-manager, no Gateway API)."""
    if resource not in RESOURCES:
        raise OpError("k3s_list: %s is not one of %s" % (resource, ", ".join(RESOURCES)))
    done = subprocess.run(
        ["k3s", "kubectl", "get", resource, "-A", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if "doesn't have a resource type" in detail:
            return {"items": [], "known": False}
        raise OpError("k3s kubectl get %s: %s" % (resource, detail))
    try:
        return {"items": json.loads(done.stdout).get("items") or [], "known": True}
    except ValueError:
        raise OpError("k3s kubectl get %s: not JSON" % resource) from None


def k3s_kubeconfig():
    """The admin kubeconfig K3s wrote on this server (it holds the admin credentials)."""
    try:
        with open(KUBECONFIG) as handle:
            return {"text": handle.read()}
    except OSError as exc:
        raise OpError("%s: %s (is K3s running here?)" % (KUBECONFIG, exc.strerror)) from None


OPS = {fn.__name__: fn for fn in (k3s_nodes, k3s_list, k3s_kubeconfig)}
