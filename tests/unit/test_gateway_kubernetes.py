"""The AI gateway's Kubernetes mode: its objects against Kubernetes's schemas at the pinned
version, the keys' Secret kept on the first server by ``homeforge gateway keys``, the
inventory check's lines, and the ingress roles routing to the gateway's own Service."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from homeforge import inventory
from homeforge.cli import main
from homeforge.gateway import gateway_host
from homeforge.remote import gatewayops
from homeforge.remote.prelude import OpError
from homeforge.validation import image_digest_problem, quantity_problem
from tests.tools import kube_schemas
from tests.tools.role_render import render, render_objects
from tests.unit.plugins.support import ROOT

ROLE = "ai_gateway"
IMAGE = "ghcr.io/berriai/litellm:v1.108.7@sha256:" + "0123456789abcdef" * 4
HOOKS = (ROOT / "roles" / ROLE / "files" / "homeforge_gateway.py").read_text()
CONFIG = {
    "model_list": [
        {
            "model_name": "tiny:1b",
            "litellm_params": {
                "model": "ollama_chat/tiny:1b",
                "api_base": "http://ollama.ml.svc.cluster.local:11434",
            },
        }
    ]
}
CONSUMERS = {"app": {"models": ["tiny:1b"], "rpm": 5, "tpm": 100}}


def _objects(**variables) -> dict[str, dict]:
    variables = {
        "ai_gateway_k8s_image": IMAGE,
        "_ai_gateway_hooks": HOOKS,
        "_ai_gateway_out": {"config": CONFIG, "consumers": CONSUMERS},
        **variables,
    }
    objects = render_objects(ROLE, "kubernetes-objects.yml.j2", **variables)
    kube_schemas.validate_all(objects)
    return {o["kind"]: o for o in objects}


def test_the_objects_match_kubernetes_schemas_and_hold_no_secret():
    objects = _objects()
    assert list(objects) == [
        "Namespace",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "NetworkPolicy",
    ]
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects.values()} == {
        "homeforge-gateway"
    }
    labels = objects["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    data = objects["ConfigMap"]["data"]
    assert yaml.safe_load(data["config.yaml"]) == CONFIG
    assert data["homeforge_gateway.py"] == HOOKS
    assert json.loads(data["consumers.json"]) == CONSUMERS
    assert "LITELLM_MASTER_KEY" not in json.dumps(objects)  # the Secret is made on the server


def test_one_pod_pinned_by_digest_runs_restricted_with_the_keys_secret_mounted():
    deployment = _objects()["Deployment"]["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    pod = deployment["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == IMAGE and image_digest_problem(container["image"]) is None
    assert container["command"] == ["litellm"]  # not the image's entrypoint script
    assert container["args"][:2] == ["--config", "/etc/homeforge-gateway/config.yaml"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["envFrom"] == [{"secretRef": {"name": "ai-gateway-master-key"}}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOMEFORGE_GATEWAY_KEYS"] == "/var/run/homeforge-gateway/keys.json"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert (
        mounts["keys"]["mountPath"] == "/var/run/homeforge-gateway" and mounts["keys"]["readOnly"]
    )
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys"]["secret"]["secretName"] == "ai-gateway-keys"
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == "ai-gateway-state"
    service = _objects()["Service"]["spec"]
    assert service["selector"] == deployment["selector"]["matchLabels"]
    assert service["ports"][0]["port"] == 4000


def test_a_new_configuration_or_hook_rolls_the_pod_a_new_consumer_does_not():
    def digest(**variables):
        spec = _objects(**variables)["Deployment"]["spec"]["template"]
        return spec["metadata"]["annotations"]["homeforge.io/config-sha256"]

    base = digest()
    assert digest(_ai_gateway_hooks=HOOKS + "\n# changed\n") != base
    other = {"config": {**CONFIG, "router_settings": {"num_retries": 3}}, "consumers": CONSUMERS}
    assert digest(_ai_gateway_out=other) != base
    more = {"config": CONFIG, "consumers": {**CONSUMERS, "b": CONSUMERS["app"]}}
    assert digest(_ai_gateway_out=more) == base  # the hooks read consumers.json again


@pytest.mark.parametrize("ingress", ["traefik", "istio", ""])
def test_only_the_ingress_reaches_the_gateway_and_it_reaches_only_dns_and_ollama(ingress):
    policy = _objects(homeforge_ingress=ingress)["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    sources = [peer for rule in policy["ingress"] for peer in rule.get("from", [])]
    if ingress == "traefik":
        assert sources == [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
            }
        ]
    elif ingress == "istio":
        namespaces = [
            p["namespaceSelector"]["matchLabels"] for p in sources if "namespaceSelector" in p
        ]
        assert namespaces == [{"kubernetes.io/metadata.name": "istio-ingress"}]
        ports = {p["port"] for p in policy["ingress"][0]["ports"]}
        assert ports == {4000, 15008}
    else:
        assert policy["ingress"] == []  # nothing but the node (kubelet's probes)
    egress = [p["namespaceSelector"]["matchLabels"] for r in policy["egress"] for p in r["to"]]
    assert egress == [
        {"kubernetes.io/metadata.name": "kube-system"},
        {"kubernetes.io/metadata.name": "ml"},
    ]


def test_a_misspelt_field_is_caught():
    objects = render_objects(
        ROLE,
        "kubernetes-objects.yml.j2",
        ai_gateway_k8s_image=IMAGE,
        _ai_gateway_hooks=HOOKS,
        _ai_gateway_out={"config": CONFIG, "consumers": CONSUMERS},
    )
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(AssertionError):
        kube_schemas.validate(deployment)


def test_image_and_size_rules():
    assert image_digest_problem(IMAGE) is None
    assert image_digest_problem("registry.local:5000/litellm@sha256:" + "a" * 64) is None
    for bad in ("ghcr.io/berriai/litellm:v1.108.7", IMAGE.upper(), IMAGE + "\n", "", None):
        assert image_digest_problem(bad), bad
    assert quantity_problem("1Gi") is None and quantity_problem("500Mi") is None
    for bad in ("1 Gi", "0Gi", "-1Gi", "1gb", 5):
        assert quantity_problem(bad), bad


# ---------------------------------------------------------------- keys on the first server


@pytest.fixture
def first_server(tmp_path, monkeypatch):
    """The first server as the role leaves it: consumers.json, kubernetes.json and the
    keys' Secret (JSON) in the manifests directory."""
    etc, manifests = tmp_path / "etc", tmp_path / "manifests"
    etc.mkdir(mode=0o700)
    manifests.mkdir()
    (etc / "consumers.json").write_text(json.dumps(CONSUMERS))
    keys = manifests / "homeforge-gateway-keys.yaml"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "ai-gateway-keys", "namespace": "homeforge-gateway"},
        "stringData": {"keys.json": '{"keys": {}, "revoked": {}}'},
    }
    keys.write_text(json.dumps(secret))
    keys.chmod(0o600)
    (etc / "kubernetes.json").write_text(
        json.dumps({"namespace": "homeforge-gateway", "keys_manifest": str(keys)})
    )
    monkeypatch.setattr(gatewayops, "ETC", str(etc))
    monkeypatch.setattr(gatewayops, "CONSUMERS", str(etc / "consumers.json"))
    monkeypatch.setattr(gatewayops, "KUBERNETES", str(etc / "kubernetes.json"))
    monkeypatch.setattr(gatewayops, "KEYS", str(tmp_path / "no-such-keys.json"))
    return keys


def _stored(manifest: Path) -> dict:
    secret = yaml.safe_load(manifest.read_text())  # as K3s's manifest reader takes it
    kube_schemas.validate(secret)
    return json.loads(secret["stringData"]["keys.json"])


def test_a_key_issued_in_kubernetes_mode_lands_in_the_secret_as_its_digest(first_server):
    key = gatewayops.keys_issue("app")["key"]
    assert key not in first_server.read_text()
    stored = _stored(first_server)["keys"]["app"]
    assert stored["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert stat.S_IMODE(os.stat(first_server).st_mode) == 0o600
    assert gatewayops.keys_list()["consumers"]["app"]["has_key"]
    with pytest.raises(OpError, match="has a key already"):
        gatewayops.keys_issue("app")
    assert gatewayops.keys_revoke("app") == {"name": "app", "revoked": True}
    assert _stored(first_server)["keys"] == {} and "app" in _stored(first_server)["revoked"]


def test_usage_in_kubernetes_mode_is_read_in_the_pod(first_server, monkeypatch):
    seen = []

    class Done:
        stdout = json.dumps({"t": 5, "consumer": "app", "model": "tiny:1b", "status": 200}) + "\n"

    def run(argv, timeout=60, check=True):
        seen.append(argv)
        return Done()

    monkeypatch.setattr(gatewayops, "_run", run)
    [row] = gatewayops.usage()["rows"]
    assert (row["consumer"], row["requests"]) == ("app", 1)
    assert seen[0][:7] == [
        "k3s",
        "kubectl",
        "exec",
        "-n",
        "homeforge-gateway",
        "deploy/ai-gateway",
        "-c",
    ]
    with pytest.raises(OpError, match="through the ingress"):
        gatewayops.ask("sk-hf-x", "tiny:1b", "hi")


# ---------------------------------------------------------------- the inventory


def _inventory(tmp_path, server_vars: str, gateway_group: str = "") -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n"
        "  hosts:\n    s1: {ansible_host: 10.0.0.1}\n    s2: {ansible_host: 10.0.0.2}\n"
        "  children:\n"
        "    server:\n      hosts: {s1: {}, s2: {}}\n"
        "      vars:\n" + server_vars + gateway_group
    )
    return path


GOOD = (
    "        ollama_mode: kubernetes\n"
    "        ollama_models: ['tiny:1b']\n"
    "        ai_gateway_mode: kubernetes\n"
    f"        ai_gateway_k8s_image: '{IMAGE}'\n"
    "        ai_gateway_consumers: [{name: app, models: ['tiny:1b'], rpm: 5, tpm: 100}]\n"
)


def test_a_kubernetes_mode_inventory_passes_and_its_keys_live_on_the_first_server(tmp_path):
    path = _inventory(tmp_path, GOOD)
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert done.exit_code == 0, done.output
    assert gateway_host(inventory.load(path)) == "s1"


def test_each_kubernetes_mode_problem_is_one_line_naming_file_host_and_key(tmp_path):
    bad = (
        GOOD.replace("ollama_mode: kubernetes", "ollama_mode: host")
        .replace(IMAGE, "ghcr.io/berriai/litellm:v1.108.7")
        .replace("models: ['tiny:1b'], rpm", "models: ['big:7b'], rpm")
        + "        ai_gateway_k8s_namespace: ml\n"
        + "        ai_gateway_k8s_storage_size: 1 Gi\n"
    )
    path = _inventory(tmp_path, bad, "    ai_gateway:\n      hosts: {s2: {}}\n")
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert done.exit_code == 2
    lines = done.output.splitlines()
    for host in ("s1", "s2"):
        where = f"{path}: host {host}: "
        assert (
            f"{where}ai_gateway_mode: kubernetes needs ollama_mode: kubernetes (the gateway serves the Ollama chart's Service)"
            in lines
        )
        assert any(
            line.startswith(
                f"{where}ai_gateway_k8s_image: 'ghcr.io/berriai/litellm:v1.108.7': not an image pinned by digest"
            )
            for line in lines
        )
        assert (
            f"{where}ai_gateway_k8s_namespace: 'ml': Ollama's namespace (ollama_k8s_namespace); the gateway needs its own (its NetworkPolicy)"
            in lines
        )
        assert any(
            line.startswith(f"{where}ai_gateway_k8s_storage_size: '1 Gi': not a storage size")
            for line in lines
        )
        assert any(
            line.startswith(f"{where}ai_gateway_consumers[0].models: 'big:7b' is not served")
            for line in lines
        )
    assert (
        f"{path}: host s2: ai_gateway_mode: kubernetes: the gateway runs in the cluster, so group"
        " ai_gateway must have no hosts (it is for host mode; it has s2)"
    ) in lines


# ---------------------------------------------------------------- the ingress routes


def test_traefik_routes_the_gateways_host_name_to_its_own_service():
    routes = json.loads(
        render(
            "ingress_traefik",
            "routes.yml.j2",
            ingress_traefik_gateway_host="ai.lab.example",
            ai_gateway_mode="kubernetes",
            ingress_traefik_ollama_host="",
            ingress_traefik_ollama_allowed_cidrs=[],
        )
    )
    assert routes == [
        {
            "name": "ai-gateway",
            "namespace": "homeforge-gateway",
            "host": "ai.lab.example",
            "service": "ai-gateway",
            "port": 4000,
        }
    ]  # no endpoint: no selector-less Service, EndpointSlice or second Namespace


def test_istio_routes_the_gateways_host_name_to_its_own_service_and_lets_it_reach_ollama():
    files = yaml.safe_load(
        render(
            "ingress_istio",
            "objects.yml.j2",
            ingress_istio_hostname="",
            ingress_istio_allowed_cidrs=["10.77.0.0/24"],
            ingress_istio_ai_gateway_hostname="ai.lab.example",
            _ingress_istio_ai_gateway_backend={"address": "", "port": 4000},
            _ingress_istio_ai_k8s=True,
            ai_gateway_k8s_namespace="homeforge-gateway",
        )
    )
    objects = files["istio-ingress"]
    kube_schemas.validate_all(objects)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Service", "ai-gateway") not in kinds and (
        "EndpointSlice",
        "ai-gateway-host",
    ) not in kinds
    assert ("Namespace", "homeforge-gateway") not in kinds  # the gateway's manifest owns it
    route = next(
        o for o in objects if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "ai-gateway"
    )
    assert route["metadata"]["namespace"] == "homeforge-gateway"
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": "ai-gateway", "port": 4000}]}]
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    sources = [p["namespaceSelector"]["matchLabels"] for p in policy["spec"]["ingress"][0]["from"]]
    assert {"kubernetes.io/metadata.name": "homeforge-gateway"} in sources


def test_kubernetes_mode_with_an_ingress_publishing_it_passes_the_check(tmp_path):
    ingress = (
        "        homeforge_ingress: traefik\n        ingress_traefik_gateway_host: ai.lab.example\n"
    )
    path = _inventory(tmp_path, GOOD + ingress)
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert done.exit_code == 0, done.output
    istio = (
        "        homeforge_ingress: istio\n"
        "        k3s_server_config: {disable: [traefik]}\n"
        "        ingress_istio_ai_gateway_hostname: ai.lab.example\n"
    )
    path = _inventory(tmp_path, GOOD + istio)
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert done.exit_code == 0, done.output
    path = _inventory(tmp_path, GOOD + istio + "        ai_gateway_k8s_namespace: llm-gateway\n")
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert done.exit_code == 2
    assert (
        f"{path}: host s1: ingress_istio_ai_gateway_namespace: 'homeforge-gateway': with"
        " ai_gateway_mode kubernetes it must be the gateway's namespace, 'llm-gateway'"
        " (ai_gateway_k8s_namespace: the route goes beside its Service)"
    ) in done.output.splitlines()


def test_a_reserved_namespace_an_image_of_another_release_and_a_host_gateway_are_refused(
    tmp_path,
):
    other = IMAGE.replace("v1.108.7", "v1.108.6")
    bad = GOOD.replace(IMAGE, other) + "        ai_gateway_k8s_namespace: kube-system\n"
    elsewhere = "    ai_gateway:\n      hosts: {gw: {ansible_host: 10.0.0.9}}\n"
    path = _inventory(tmp_path, bad, elsewhere)
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert done.exit_code == 2
    lines = done.output.splitlines()
    where = f"{path}: host s1: "
    assert (
        f"{where}ai_gateway_k8s_image: {other!r}: its tag 'v1.108.6' is not of LiteLLM 1.108.7"
        " (ai_gateway_version): the hooks use that release's internals"
    ) in lines
    assert any(
        line.startswith(
            f"{where}ai_gateway_k8s_namespace: 'kube-system': a namespace of Kubernetes"
        )
        for line in lines
    )
    assert (
        f"{where}ai_gateway_mode: kubernetes: the gateway runs in the cluster, so group"
        " ai_gateway must have no hosts (it is for host mode; it has gw)"
    ) in lines


def test_the_check_and_the_role_reserve_the_same_namespaces():
    from homeforge.checks.gateway import RESERVED_NAMESPACES

    role_vars = yaml.safe_load((ROOT / "roles" / ROLE / "vars" / "main.yml").read_text())
    assert list(RESERVED_NAMESPACES) == role_vars["_ai_gateway_reserved_namespaces"]
