"""testinfra suite for the ingress_istio role (molecule verify and `homeforge verify`).
In the lab K3s is a STAND-IN (tests/standins/k3s) that applies no manifests, and the
molecule scenario's Gateway API file is a stand-in too: these check the role's work (the
files handed to K3s, the CRD file's pinned digest, the server's K3s settings), not Istio.
On a real K3s the last test also asks the cluster for the Gateway API's CRDs."""

from __future__ import annotations

import time

import pytest
import yaml

MANIFESTS = "/var/lib/rancher/k3s/server/manifests"
FILES = ("homeforge-istio.yaml", "homeforge-istio-ingress.yaml", "homeforge-gateway-api.yaml")
CRD_FILE_KINDS = {
    "CustomResourceDefinition",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


@pytest.fixture(scope="module")
def enabled(hf_vars):
    if hf_vars.get("homeforge_ingress") != "istio":
        pytest.skip("homeforge_ingress is not istio: the role does not run here")
    return hf_vars


def _first_server(hf_vars) -> str:
    return hf_vars["groups"][hf_vars["k3s_server_group"]][0]


def _objects(host, name: str) -> list[dict]:
    manifest = host.file(f"{MANIFESTS}/{name}")
    assert manifest.exists, name
    assert (manifest.mode, manifest.user, manifest.group) == (0o600, "root", "root"), name
    return [o for o in yaml.safe_load_all(manifest.content_string) if o]


def _first_only(host, hf_vars, hf_host) -> bool:
    """True on the first server; elsewhere asserts the files are not there."""
    if hf_host == _first_server(hf_vars):
        return True
    assert not any(host.file(f"{MANIFESTS}/{name}").exists for name in FILES)
    return False


def test_istios_four_charts_are_private_helmcharts_at_the_pinned_version(host, enabled, hf_host):
    if not _first_only(host, enabled, hf_host):
        return
    charts = {o["spec"]["chart"]: o["spec"] for o in _objects(host, "homeforge-istio.yaml")}
    assert sorted(charts) == ["base", "cni", "istiod", "ztunnel"]
    for spec in charts.values():
        assert spec["version"] == str(enabled["ingress_istio_version"])
        assert spec["targetNamespace"] == enabled["ingress_istio_namespace"]
    assert yaml.safe_load(charts["istiod"]["valuesContent"])["profile"] == "ambient"
    cni = yaml.safe_load(charts["cni"]["valuesContent"])
    assert cni["profile"] == "ambient"
    if enabled["ingress_istio_platform"]:
        assert cni["global"]["platform"] == enabled["ingress_istio_platform"]


def _listeners(objects) -> dict[str, dict]:
    (gateway,) = [o for o in objects if o["kind"] == "Gateway"]
    return {listener["name"]: listener for listener in gateway["spec"]["listeners"]}


def test_the_gateway_route_and_network_policy_front_the_service(host, enabled, hf_host):
    if not _first_only(host, enabled, hf_host):
        return
    objects = _objects(host, "homeforge-istio-ingress.yaml")
    kinds = [o["kind"] for o in objects]
    assert {"Namespace", "Gateway", "NetworkPolicy"} <= set(kinds)
    (gateway,) = [o for o in objects if o["kind"] == "Gateway"]
    assert gateway["metadata"]["namespace"] == enabled["ingress_istio_gateway_namespace"]
    routes = [o["metadata"]["name"] for o in objects if o["kind"] == "HTTPRoute"]
    if enabled["ingress_istio_hostname"]:
        https = _listeners(objects)["https"]
        assert https["hostname"] == enabled["ingress_istio_hostname"]
        assert https["tls"]["certificateRefs"][0]["name"] == enabled["ingress_istio_tls_secret"]
        assert enabled["ingress_istio_service_name"] in routes
    else:  # the service is not published
        assert "https" not in _listeners(objects)
        assert enabled["ingress_istio_service_name"] not in routes
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["namespace"] == enabled["ingress_istio_service_namespace"]
    ports = [p["port"] for p in policy["spec"]["ingress"][0]["ports"]]
    assert ports == [int(enabled["ingress_istio_service_port"]), 15008]


def test_the_ai_gateway_is_published_at_its_host_name(host, enabled, hf_host):
    if not _first_only(host, enabled, hf_host):
        return
    objects = _objects(host, "homeforge-istio-ingress.yaml")
    name = enabled["ingress_istio_ai_gateway_hostname"]
    mine = [o for o in objects if o["metadata"]["name"] in ("ai-gateway", "ai-gateway-host")]
    if not name:
        assert mine == [] and "https-ai-gateway" not in _listeners(objects)
        return
    listener = _listeners(objects)["https-ai-gateway"]
    assert listener["hostname"] == name
    secret = enabled["ingress_istio_ai_gateway_tls_secret"]
    assert listener["tls"]["certificateRefs"][0]["name"] == secret
    by_kind = {o["kind"]: o for o in mine}
    assert sorted(by_kind) == ["EndpointSlice", "HTTPRoute", "Service"]
    namespace = enabled["ingress_istio_ai_gateway_namespace"]
    assert {o["metadata"]["namespace"] for o in mine} == {namespace}
    assert by_kind["HTTPRoute"]["spec"]["hostnames"] == [name]
    assert "selector" not in by_kind["Service"]["spec"]  # the gateway runs on its host
    (endpoint,) = by_kind["EndpointSlice"]["endpoints"]
    (address,) = endpoint["addresses"]
    port = by_kind["EndpointSlice"]["ports"][0]["port"]
    assert address and by_kind["Service"]["spec"]["ports"][0]["port"] == port


def test_the_gateway_serves_only_the_allowed_networks_unless_public(host, enabled, hf_host):
    if not _first_only(host, enabled, hf_host):
        return
    objects = _objects(host, "homeforge-istio-ingress.yaml")
    policies = [o for o in objects if o["kind"] == "AuthorizationPolicy"]
    service, ai = enabled["ingress_istio_hostname"], enabled["ingress_istio_ai_gateway_hostname"]
    ai_cidrs = enabled["ingress_istio_ai_gateway_allowed_cidrs"] if ai else []
    rules = []
    if service:
        rule = {"to": [{"operation": {"hosts": [service, f"{service}:*"]}}]}
        if not enabled["ingress_istio_public"]:
            rule["from"] = [{"source": {"ipBlocks": enabled["ingress_istio_allowed_cidrs"]}}]
        rules.append(rule)
    if ai:
        rule = {"to": [{"operation": {"hosts": [ai, f"{ai}:*"]}}]}
        if ai_cidrs:
            rule["from"] = [{"source": {"ipBlocks": ai_cidrs}}]
        rules.append(rule)
    if (not service or enabled["ingress_istio_public"]) and not ai_cidrs:
        assert policies == []  # no allow-list applies
        return
    (policy,) = policies
    (gateway,) = [o for o in objects if o["kind"] == "Gateway"]
    assert policy["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert policy["spec"]["targetRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": gateway["metadata"]["name"],
        }
    ]
    assert policy["spec"]["action"] == "ALLOW"
    assert policy["spec"]["rules"] == rules
    options = gateway["spec"]["infrastructure"]["parametersRef"]["name"]
    assert any(o["kind"] == "ConfigMap" and o["metadata"]["name"] == options for o in objects)


def test_the_gateway_api_file_is_the_pinned_one_and_holds_only_crds(host, enabled, hf_host):
    if not _first_only(host, enabled, hf_host):
        return
    path = f"{MANIFESTS}/homeforge-gateway-api.yaml"
    objects = _objects(host, "homeforge-gateway-api.yaml")
    assert host.file(path).sha256sum == enabled["ingress_istio_gateway_api_sha256"]
    assert {o["kind"] for o in objects} <= CRD_FILE_KINDS
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert {"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"} <= names


def test_k3s_traefik_is_disabled_on_this_server(host, enabled):
    config = yaml.safe_load(host.file("/etc/rancher/k3s/config.yaml").content_string) or {}
    disabled = config.get("disable", [])
    items = [disabled] if isinstance(disabled, str) else disabled
    assert "traefik" in [part.strip() for item in items for part in str(item).split(",")]


def test_a_real_k3s_serves_the_gateway_api(host, enabled, hf_host):
    if hf_host != _first_server(enabled):
        return
    if "stand-in" in host.run("k3s --version").stdout:
        pytest.skip("K3s is the stand-in here: it applies no manifests")
    for _attempt in range(24):  # K3s's deploy controller applies new manifests every 15 s
        crd = host.run("k3s kubectl get crd gateways.gateway.networking.k8s.io -o name")
        if crd.rc == 0:
            break
        time.sleep(5)
    assert crd.rc == 0, crd.stderr
