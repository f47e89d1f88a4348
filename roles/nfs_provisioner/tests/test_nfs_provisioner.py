"""testinfra suite for the nfs_provisioner role (molecule verify and `homeforge verify`).
In the lab K3s is a STAND-IN (tests/standins/k3s): it lists what the manifests directory
holds as K3s's deploy controller would apply it, and runs no controller, so these check
the role's work (the chart and class handed to K3s, the default class, the nodes' NFS
client), not csi-driver-nfs provisioning a volume."""

from __future__ import annotations

import json

import pytest
import yaml

MANIFEST = "/var/lib/rancher/k3s/server/manifests/homeforge-nfs-provisioner.yaml"
DEFAULT = "storageclass.kubernetes.io/is-default-class"
SKIP = "/var/lib/rancher/k3s/server/manifests/local-storage.yaml.skip"


def _first_server(hf_vars) -> str:
    return hf_vars["groups"][hf_vars["k3s_server_group"]][0]


def _enabled(hf_vars) -> bool:
    return bool(
        hf_vars["nfs_provisioner_server"]
        or hf_vars["groups"].get(hf_vars["nfs_provisioner_server_group"])
    )


def test_every_node_has_the_nfs_client_when_the_cluster_has_nfs(host, hf_vars, hf_host):
    nodes = (hf_vars["groups"].get(hf_vars["k3s_server_group"]) or []) + (
        hf_vars["groups"].get("agent") or []
    )
    if not _enabled(hf_vars) or hf_host not in nodes:
        assert not host.file(MANIFEST).exists
        return
    for package in hf_vars["nfs_provisioner_client_packages"]:
        assert host.package(package).is_installed, package


def test_the_driver_and_the_class_are_a_private_manifest_on_the_first_server(
    host, hf_vars, hf_host
):
    manifest = host.file(MANIFEST)
    if not _enabled(hf_vars) or hf_host != _first_server(hf_vars):
        assert not manifest.exists  # one copy, on the first server, only with an NFS server
        return
    assert manifest.mode == 0o600 and manifest.user == "root"
    objects = [o for o in yaml.safe_load_all(manifest.content_string) if o]
    chart = next(o for o in objects if o["kind"] == "HelmChart")
    assert chart["spec"]["chart"] == "csi-driver-nfs"
    assert chart["spec"]["version"] == str(hf_vars["nfs_provisioner_chart_version"])
    storage_class = next(o for o in objects if o["kind"] == "StorageClass")
    assert storage_class["metadata"]["name"] == hf_vars["nfs_provisioner_storage_class"]
    assert storage_class["provisioner"] == "nfs.csi.k8s.io"


def test_the_cluster_lists_the_class_and_has_one_default(host, hf_vars, hf_host, hf_peer):
    if not _enabled(hf_vars) or hf_host != _first_server(hf_vars):
        return  # the cluster is asked once, on the first server
    classes = json.loads(host.check_output("k3s kubectl get storageclass -o json"))["items"]
    by_name = {c["metadata"]["name"]: c for c in classes}
    mine = by_name[hf_vars["nfs_provisioner_storage_class"]]
    params = mine["parameters"]
    assert params["server"] and params["share"].startswith("/")
    defaults = [
        n
        for n, c in by_name.items()
        if (c["metadata"].get("annotations") or {}).get(DEFAULT) == "true"
    ]
    if hf_vars["nfs_provisioner_default_class"]:
        assert defaults == [hf_vars["nfs_provisioner_storage_class"]]
        # K3s applies its packaged local-storage.yaml at every start unless skipped, and
        # local-path would be the default again
        for server in hf_vars["groups"][hf_vars["k3s_server_group"]]:
            assert hf_peer(server).file(SKIP).exists, server
    else:
        assert hf_vars["nfs_provisioner_storage_class"] not in defaults


def test_the_share_is_exported_to_this_cluster(host, hf_vars, hf_host, hf_peer):
    """The class's server exports its share (asked of the NFS host homeforge manages)."""
    servers = hf_vars["groups"].get(hf_vars["nfs_provisioner_server_group"]) or []
    if not _enabled(hf_vars) or hf_host != _first_server(hf_vars) or not servers:
        return
    manifest = host.file(MANIFEST)
    storage_class = next(
        o for o in yaml.safe_load_all(manifest.content_string) if o and o["kind"] == "StorageClass"
    )
    share = storage_class["parameters"]["share"]
    nfs_host = hf_peer(servers[0])
    ganesha = nfs_host.file("/etc/ganesha/ganesha.conf")
    kernel = nfs_host.file("/etc/exports.d/homeforge.exports")
    served = (ganesha.content_string if ganesha.exists else "") + (
        kernel.content_string if kernel.exists else ""
    )
    assert f'Pseudo = "{share}";' in served or f"\n{share} " in served, share


SMOKE = """apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
  namespace: default
  labels: {{app.kubernetes.io/managed-by: homeforge-verify}}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: {storage_class}
  resources: {{requests: {{storage: 16Mi}}}}
"""


def test_a_claim_on_the_class_is_bound(host, hf_vars, hf_host):
    """The smoke test: a 16 MiB claim on the class binds (csi-driver-nfs made its directory
    on the server), then goes. Needs a K3s that runs controllers: the stand-in runs none."""
    if not _enabled(hf_vars) or hf_host != _first_server(hf_vars):
        return
    if "stand-in" in host.check_output("k3s --version"):
        pytest.skip("the K3s stand-in runs no controller: no claim is ever bound there")
    import secrets
    import time

    name = f"homeforge-verify-{secrets.token_hex(4)}"
    claim = SMOKE.format(name=name, storage_class=hf_vars["nfs_provisioner_storage_class"])
    host.check_output("printf '%%s' %s | k3s kubectl apply -f -", claim)
    try:
        deadline = time.monotonic() + 180
        phase = ""
        while time.monotonic() < deadline:
            phase = host.check_output(
                "k3s kubectl get pvc %s -n default -o jsonpath={.status.phase}", name
            )
            if phase == "Bound":
                break
            time.sleep(3)
        assert phase == "Bound", f"claim {name} is {phase or 'unknown'} after 180 s"
    finally:
        host.run("k3s kubectl delete pvc %s -n default --wait=false", name)
