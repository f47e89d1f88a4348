"""The real path for the storage and ingress layer: against a real cluster that `homeforge
apply site` converged with NFS storage and an ingress (our build machines have no
Kubernetes API server, so the lab checks only what the roles hand to K3s).

    HOMEFORGE_REAL_KUBECONFIG=~/.kube/homeforge-lab.yaml make real

(a kubeconfig from `homeforge cluster kubeconfig`) creates a PersistentVolumeClaim on the
cluster's default StorageClass and waits for it to be Bound (csi-driver-nfs made its
directory on the NFS server), writes and reads a file through a pod that mounts it,
deletes both, and checks that every cert-manager Certificate behind an ingress is Ready
(issued by the ClusterIssuer the role made). Images are pulled from their registries:
the cluster needs to reach them.
"""

from __future__ import annotations

import os
import secrets
import time

import pytest

KUBECONFIG = os.environ.get("HOMEFORGE_REAL_KUBECONFIG", "")
NAMESPACE = "default"

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not KUBECONFIG, reason="real cluster: set HOMEFORGE_REAL_KUBECONFIG"),
]


@pytest.fixture(scope="module")
def api():
    from kubernetes import client, config

    config.load_kube_config(config_file=os.path.expanduser(KUBECONFIG))
    return client


def _wait(what, check, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(3)


def test_a_claim_on_the_default_class_binds_and_holds_a_file(api):
    core, storage = api.CoreV1Api(), api.StorageV1Api()
    default = [
        c.metadata.name
        for c in storage.list_storage_class().items
        if (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert len(default) == 1, f"one default StorageClass, found {default}"
    name = f"homeforge-smoke-{secrets.token_hex(4)}"
    claim = api.V1PersistentVolumeClaim(
        metadata=api.V1ObjectMeta(name=name),
        spec=api.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteMany"],
            resources=api.V1VolumeResourceRequirements(requests={"storage": "16Mi"}),
        ),
    )
    core.create_namespaced_persistent_volume_claim(NAMESPACE, claim)
    try:
        bound = _wait(
            f"PVC {name}",
            lambda: (
                core.read_namespaced_persistent_volume_claim(name, NAMESPACE).status.phase
                == "Bound"
            ),
        )
        assert bound
        text = secrets.token_hex(8)
        pod = api.V1Pod(
            metadata=api.V1ObjectMeta(name=name),
            spec=api.V1PodSpec(
                restart_policy="Never",
                containers=[
                    api.V1Container(
                        name="smoke",
                        image="busybox:1.36",
                        command=["sh", "-c", f"echo {text} > /data/f && cat /data/f"],
                        volume_mounts=[api.V1VolumeMount(name="data", mount_path="/data")],
                    )
                ],
                volumes=[
                    api.V1Volume(
                        name="data",
                        persistent_volume_claim=api.V1PersistentVolumeClaimVolumeSource(
                            claim_name=name
                        ),
                    )
                ],
            ),
        )
        core.create_namespaced_pod(NAMESPACE, pod)
        _wait(
            f"pod {name}",
            lambda: core.read_namespaced_pod(name, NAMESPACE).status.phase == "Succeeded",
        )
        assert core.read_namespaced_pod_log(name, NAMESPACE).strip() == text
    finally:
        core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)
        core.delete_namespaced_persistent_volume_claim(name, NAMESPACE)


def test_every_ingress_certificate_is_issued(api):
    custom = api.CustomObjectsApi()
    certificates = custom.list_cluster_custom_object("cert-manager.io", "v1", "certificates")
    assert certificates["items"], "no cert-manager Certificate: is an ingress layer converged?"
    for cert in certificates["items"]:
        name = f"{cert['metadata']['namespace']}/{cert['metadata']['name']}"
        ready = _wait(
            f"Certificate {name}",
            lambda c=cert: any(
                cond["type"] == "Ready" and cond["status"] == "True"
                for cond in (
                    custom.get_namespaced_custom_object(
                        "cert-manager.io",
                        "v1",
                        c["metadata"]["namespace"],
                        "certificates",
                        c["metadata"]["name"],
                    ).get("status", {})
                ).get("conditions", [])
            ),
        )
        assert ready
