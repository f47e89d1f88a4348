"""The real path for the AI gateway's Kubernetes mode: against a real cluster that `homeforge
apply site` converged with `ollama_mode: kubernetes` and `ai_gateway_mode: kubernetes`
(our build machines have no Kubernetes API server: the lab's K3s stand-in applies the
objects but runs no pod).

    HOMEFORGE_REAL_KUBECONFIG=~/.kube/homeforge-lab.yaml HOMEFORGE_REAL_GATEWAY=1 make real

waits for the Deployment `ai-gateway` to be available (its readiness probe answers only
once LiteLLM has started with the role's configuration and imported the hooks, as the
non-root user, from the image pinned by digest), then, inside the pod, reads the keys'
Secret as the kubelet mounted it and the consumers from the ConfigMap, as the hooks do.
"""

from __future__ import annotations

import json
import os
import time

import pytest

KUBECONFIG = os.environ.get("HOMEFORGE_REAL_KUBECONFIG", "")
NAMESPACE = os.environ.get("HOMEFORGE_REAL_GATEWAY_NAMESPACE", "homeforge-gateway")

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(
        not (KUBECONFIG and os.environ.get("HOMEFORGE_REAL_GATEWAY")),
        reason="real cluster with the gateway: set HOMEFORGE_REAL_KUBECONFIG and HOMEFORGE_REAL_GATEWAY",
    ),
]


@pytest.fixture(scope="module")
def api():
    from kubernetes import client, config

    config.load_kube_config(config_file=os.path.expanduser(KUBECONFIG))
    return client


def test_the_gateway_pod_starts_and_reads_its_keys_and_consumers(api):
    from kubernetes.stream import stream

    apps, core = api.AppsV1Api(), api.CoreV1Api()
    deadline = time.monotonic() + 600
    while (
        apps.read_namespaced_deployment("ai-gateway", NAMESPACE).status.available_replicas or 0
    ) < 1:
        assert time.monotonic() < deadline, "Deployment ai-gateway: not available within 600s"
        time.sleep(5)
    [pod] = [
        p
        for p in core.list_namespaced_pod(
            NAMESPACE, label_selector="app.kubernetes.io/name=ai-gateway"
        ).items
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    ]
    assert pod.spec.security_context.run_as_non_root and "@sha256:" in pod.spec.containers[0].image
    read = (
        "import json, os; print(json.dumps({'keys': sorted(json.load(open(os.environ['HOMEFORGE_GATEWAY_KEYS']))),"
        " 'consumers': sorted(json.load(open(os.environ['HOMEFORGE_GATEWAY_CONSUMERS'])))}))"
    )
    out = stream(
        core.connect_get_namespaced_pod_exec,
        pod.metadata.name,
        NAMESPACE,
        container="litellm",
        command=["python3", "-c", read],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["keys"] == ["keys", "revoked"]
    assert seen["consumers"], "consumers.json lists no consumer (ai_gateway_consumers)"
