"""What the ingress_istio role writes, checked against the upstream schemas: HelmCharts
against helm-controller's CRD, the Gateway and HTTPRoutes against the Gateway API's CRDs,
the AuthorizationPolicy against Istio's, Namespaces, the ConfigMap and the NetworkPolicy
with kubernetes-validate at the pinned Kubernetes version,
each chart's values against Istio's own values files (../shared/charts/istio-*); then the
role's own checks, run by Ansible, and `homeforge inventory check` on the same mistakes."""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from homeforge import checks, inventory
from homeforge.checks import support
from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render
from tests.unit.plugins.support import COLLECTIONS, ROOT

ROLE = "ingress_istio"
HOST = "ollama.lab.example"
MESH = "10.77.0.0/24"  # the allow-list's default, wireguard_mesh_cidr's default
CHARTS = {"istio-base": "base", "istiod": "istiod", "istio-cni": "cni", "ztunnel": "ztunnel"}
SHARED = {
    "base": "istio-base",
    "istiod": "istio-istiod",
    "cni": "istio-cni",
    "ztunnel": "istio-ztunnel",
}


def _files(**variables) -> dict[str, list[dict]]:
    # the allow-list's default, as Ansible templates it
    variables.setdefault("ingress_istio_allowed_cidrs", [MESH])
    variables.setdefault("ingress_istio_hostname", HOST)
    return yaml.safe_load(render(ROLE, "objects.yml.j2", **variables))


def _values(files) -> dict[str, dict]:
    return {o["spec"]["chart"]: yaml.safe_load(o["spec"]["valuesContent"]) for o in files["istio"]}


def _one(objects, kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, (kind, name, found)
    return found[0]


# ---------------------------------------------------------------- objects and values


def test_every_object_matches_the_upstream_schemas():
    files = _files()
    assert {key: [o["kind"] for o in objects] for key, objects in files.items()} == {
        "istio": ["HelmChart"] * 4,
        "istio-ingress": [
            "Namespace",
            "Namespace",
            "ConfigMap",
            "Gateway",
            "HTTPRoute",
            "HTTPRoute",
            "NetworkPolicy",
            "AuthorizationPolicy",
        ],
    }
    for objects in files.values():
        kube_schemas.validate_all(objects)


def test_the_four_charts_are_istios_ambient_install_at_one_version():
    files = _files()
    charts = {o["metadata"]["name"]: o["spec"] for o in files["istio"]}
    assert {name: spec["chart"] for name, spec in charts.items()} == CHARTS
    for spec in charts.values():
        assert spec["version"] == defaults(ROLE)["ingress_istio_version"] == "1.31.1"
        assert spec["repo"] == "https://blob.istio.io/istio-release/charts"
        assert spec["targetNamespace"] == "istio-system" and spec["createNamespace"] is True
    values = _values(files)
    assert values["istiod"] == {"profile": "ambient"}
    assert values["cni"] == {
        "profile": "ambient",
        "global": {"platform": "k3s"},
        "cni": {
            "cniConfDir": "/var/lib/rancher/k3s/agent/etc/cni/net.d",
            "cniBinDir": "/var/lib/rancher/k3s/data/cni",
        },
    }
    assert values["base"] == {} and values["ztunnel"] == {}


def test_each_charts_values_are_keys_of_its_values_file():
    extra = {
        "ingress_istio_istiod_values": {
            "resources": {"requests": {"cpu": "100m"}},
            "env": {"A": "1"},
        },
        "ingress_istio_cni_values": {"ambient": {"dnsCapture": True}},
        "ingress_istio_ztunnel_values": {"logLevel": "debug", "resources": {}},
        "ingress_istio_base_values": {"defaultRevision": "default"},
    }
    for chart, values in _values(_files(**extra)).items():
        assert kube_schemas.value_problems(SHARED[chart], values) == [], chart


# Istio's cni chart, 1.28 to 1.31 (istio/istio manifests/charts/istio-cni):
# files/profile-platform-k3s.yaml sets these, under cni:
K3S_PLATFORM_PROFILE = {
    "cni": {
        "cniConfDir": "/var/lib/rancher/k3s/agent/etc/cni/net.d",
        "cniBinDir": "/var/lib/rancher/k3s/data/cni",
    }
}


def _effective(values: dict) -> dict:
    """What the cni chart's DaemonSet reads (.Values.cniConfDir, .Values.cniBinDir) after its
    templates ran in Helm's order: zzz_profile.yaml (defaults, then the platform profile,
    then the user's values, each mustMergeOverwrite), then zzy_descope_legacy.yaml
    (mustMergeOverwrite $.Values (index $.Values "cni"): cni.* over the top level)."""
    defaults = kube_schemas.chart_values("istio-cni")
    profile = K3S_PLATFORM_PROFILE if (values.get("global") or {}).get("platform") == "k3s" else {}
    merged = kube_schemas.coalesce(kube_schemas.coalesce(defaults, profile), values)
    merged = kube_schemas.coalesce(merged, merged.get("cni") or {})
    return {key: merged[key] for key in ("cniConfDir", "cniBinDir")}


def test_the_inventorys_cni_paths_reach_the_daemonset_under_the_k3s_platform_profile():
    """Top-level paths are overwritten by the K3s profile's (the bug this guards against);
    under cni they win, and the defaults are the profile's own paths."""
    custom = {
        "ingress_istio_cni_conf_dir": "/etc/cni/custom",
        "ingress_istio_cni_bin_dir": "/opt/cni/custom",
    }
    values = _values(_files(**custom))["cni"]
    assert _effective(values) == {"cniConfDir": "/etc/cni/custom", "cniBinDir": "/opt/cni/custom"}
    top_level = {
        "profile": "ambient",
        "global": {"platform": "k3s"},
        "cniConfDir": "/etc/cni/custom",
    }
    assert _effective(top_level)["cniConfDir"] == K3S_PLATFORM_PROFILE["cni"]["cniConfDir"]
    assert _effective(_values(_files())["cni"]) == K3S_PLATFORM_PROFILE["cni"]
    assert kube_schemas.value_problems("istio-cni", values) == []


def test_a_misspelt_values_key_is_caught():
    values = _values(_files(ingress_istio_cni_values={"cniBinDirectory": "/opt/cni/bin"}))
    assert kube_schemas.value_problems("istio-cni", values["cni"]) == [
        "istio-cni: values key cniBinDirectory is not in the chart's values.yaml"
    ]
    wrong = _values(_files(ingress_istio_istiod_values={"pilot": {"env": {}}}))  # pre-1.24 layout
    assert any("pilot" in p for p in kube_schemas.value_problems("istio-istiod", wrong["istiod"]))


def test_a_misspelt_field_or_a_wrong_value_in_an_object_is_caught():
    gateway = _one(_files()["istio-ingress"], "Gateway")
    misspelt = copy.deepcopy(gateway)
    misspelt["spec"]["listeners"][0]["hostnames"] = [HOST]
    assert "spec.listeners[0].hostnames: unknown field" in kube_schemas.problems(misspelt)[0]
    wrong = copy.deepcopy(gateway)
    wrong["spec"]["listeners"][0]["port"] = "443"
    assert any("listeners[0].port" in p for p in kube_schemas.problems(wrong))
    policy = _one(_files()["istio-ingress"], "NetworkPolicy")
    policy["spec"]["ingres"] = policy["spec"].pop("ingress")
    assert kube_schemas.problems(policy)


def test_the_gateway_terminates_tls_with_the_named_secret_and_redirects_http():
    objects = _files(ingress_istio_tls_secret="ollama-cert")["istio-ingress"]
    gateway = _one(objects, "Gateway")
    assert gateway["metadata"]["namespace"] == "istio-ingress"
    assert gateway["spec"]["gatewayClassName"] == "istio"
    https, http = gateway["spec"]["listeners"]
    assert (https["protocol"], https["port"], https["hostname"]) == ("HTTPS", 443, HOST)
    assert https["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"kind": "Secret", "name": "ollama-cert"}],
    }
    assert https["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ml"
    }
    assert (http["protocol"], http["port"]) == ("HTTP", 80)
    redirect = _one(objects, "HTTPRoute", "ollama-gateway-https-redirect")
    assert redirect["spec"]["parentRefs"] == [{"name": "ollama-gateway", "sectionName": "http"}]
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {
        "scheme": "https",
        "statusCode": 301,
    }
    route = _one(objects, "HTTPRoute", "ollama")
    assert route["metadata"]["namespace"] == "ml" and route["spec"]["hostnames"] == [HOST]
    assert route["spec"]["parentRefs"] == [
        {"name": "ollama-gateway", "namespace": "istio-ingress", "sectionName": "https"}
    ]
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": "ollama", "port": 11434}]}]


def test_without_the_redirect_there_is_only_the_https_listener():
    objects = _files(ingress_istio_http_redirect=False)["istio-ingress"]
    listeners = _one(objects, "Gateway")["spec"]["listeners"]
    assert [listener["name"] for listener in listeners] == ["https"]
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "HTTPRoute"] == ["ollama"]
    kube_schemas.validate_all(objects)


def test_the_network_policy_is_seed_000s_with_what_ambient_needs():
    policy = _one(_files()["istio-ingress"], "NetworkPolicy")
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == "ml"
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "ollama"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    peers, probes = spec["ingress"]
    assert [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers["from"]
    ] == [
        "istio-ingress",
        "ml",
    ]
    assert peers["ports"] == [
        {"protocol": "TCP", "port": 11434},
        {"protocol": "TCP", "port": 15008},
    ]
    assert probes == {"from": [{"ipBlock": {"cidr": "169.254.7.127/32"}}]}  # kubelet via ztunnel
    dns, https = spec["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert https == {"ports": [{"protocol": "TCP", "port": 443}]}


def test_the_gateway_serves_only_the_mesh_by_default():
    objects = _files()["istio-ingress"]
    kube_schemas.validate_all(objects)
    policy = _one(objects, "AuthorizationPolicy")
    assert policy["metadata"] == {
        "name": "ollama-gateway-allowed-sources",
        "namespace": "istio-ingress",  # a targetRef must be in the policy's namespace
        "labels": policy["metadata"]["labels"],
    }
    assert policy["spec"] == {
        "targetRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "ollama-gateway"}
        ],
        "action": "ALLOW",
        # the connection's source address (ipBlocks), not X-Forwarded-For (remoteIpBlocks),
        # for the service's host name (with or without a port in the Host header)
        "rules": [
            {
                "from": [{"source": {"ipBlocks": [MESH]}}],
                "to": [{"operation": {"hosts": [HOST, f"{HOST}:*"]}}],
            }
        ],
    }
    # the gateway's Service keeps the client's address, through Istio's Gateway customization
    gateway = _one(objects, "Gateway")
    ref = gateway["spec"]["infrastructure"]["parametersRef"]
    assert ref == {"group": "", "kind": "ConfigMap", "name": "ollama-gateway-options"}
    options = _one(objects, "ConfigMap", ref["name"])
    assert options["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert yaml.safe_load(options["data"]["service"]) == {
        "spec": {"externalTrafficPolicy": "Local"}
    }
    mine = ["10.77.0.0/24", "192.168.1.0/24", "2001:db8::/64"]
    policy = _one(_files(ingress_istio_allowed_cidrs=mine)["istio-ingress"], "AuthorizationPolicy")
    assert policy["spec"]["rules"][0]["from"][0]["source"]["ipBlocks"] == mine
    misspelt = copy.deepcopy(policy)
    misspelt["spec"]["rules"][0]["from"][0]["source"]["ipBlock"] = mine
    assert any("ipBlock: unknown field" in p for p in kube_schemas.problems(misspelt))


def test_a_public_gateway_has_no_policy_and_keeps_its_service_as_istio_makes_it():
    objects = _files(ingress_istio_public=True)["istio-ingress"]
    kube_schemas.validate_all(objects)
    kinds = [o["kind"] for o in objects]
    assert "AuthorizationPolicy" not in kinds and "ConfigMap" not in kinds
    assert "infrastructure" not in _one(objects, "Gateway")["spec"]


def test_the_service_namespace_joins_the_mesh_and_has_one_owner():
    mine = _one(_files()["istio-ingress"], "Namespace", "ml")
    assert mine["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    by_ollama = _files(_ingress_istio_namespace_by_ollama=True)["istio-ingress"]
    assert [o["metadata"]["name"] for o in by_ollama if o["kind"] == "Namespace"] == [
        "istio-ingress"
    ]
    # ...and the ollama role's manifest then carries the label (tests/unit/test_ollama_kubernetes.py)


def test_another_service_and_namespaces_flow_everywhere():
    files = _files(
        ingress_istio_service_namespace="chat",
        ingress_istio_service_name="open-webui",
        ingress_istio_service_port=8080,
        ingress_istio_gateway_namespace="edge",
        ingress_istio_platform="",
        ingress_istio_cni_conf_dir="",
        ingress_istio_cni_bin_dir="",
    )
    objects = files["istio-ingress"]
    kube_schemas.validate_all(objects)
    policy = _one(objects, "NetworkPolicy")
    assert policy["metadata"]["namespace"] == "chat"
    assert policy["spec"]["ingress"][0]["ports"][0]["port"] == 8080
    assert _one(objects, "HTTPRoute", "open-webui")["spec"]["parentRefs"][0]["namespace"] == "edge"
    assert _values(files)["cni"] == {"profile": "ambient"}  # EKS-like: the chart's own paths


# ---------------------------------------------------------------- the AI gateway published

AI = "ai.lab.example"
BACKEND = {"address": "10.77.0.2", "port": 4000}


def _ai_files(**variables) -> dict[str, list[dict]]:
    variables.setdefault("ingress_istio_ai_gateway_hostname", AI)
    variables.setdefault("_ingress_istio_ai_gateway_backend", BACKEND)
    return _files(**variables)


def test_the_ai_gateway_alone_is_published_and_ollamas_api_is_not():
    objects = _ai_files(ingress_istio_hostname="")["istio-ingress"]
    kube_schemas.validate_all(objects)
    gateway = _one(objects, "Gateway")
    assert [(x["name"], x["hostname"], x["port"]) for x in gateway["spec"]["listeners"]] == [
        ("https-ai-gateway", AI, 443),
        ("http-ai-gateway", AI, 80),
    ]
    https = gateway["spec"]["listeners"][0]
    assert https["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "ai-gateway-tls"}]
    assert https["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "homeforge-gateway"
    }
    routes = {o["metadata"]["name"]: o for o in objects if o["kind"] == "HTTPRoute"}
    assert sorted(routes) == ["ai-gateway", "ollama-gateway-https-redirect"]  # no route to Ollama
    route = routes["ai-gateway"]
    assert route["metadata"]["namespace"] == "homeforge-gateway"
    assert route["spec"]["hostnames"] == [AI]
    assert route["spec"]["parentRefs"] == [
        {"name": "ollama-gateway", "namespace": "istio-ingress", "sectionName": "https-ai-gateway"}
    ]
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": "ai-gateway", "port": 4000}]}]
    assert [
        p["sectionName"] for p in routes["ollama-gateway-https-redirect"]["spec"]["parentRefs"]
    ] == ["http-ai-gateway"]
    # the gateway runs on its host: a Service without a selector and the host's EndpointSlice
    service = _one(objects, "Service", "ai-gateway")
    assert "selector" not in service["spec"] and service["spec"]["ports"][0]["port"] == 4000
    endpoints = _one(objects, "EndpointSlice", "ai-gateway-host")
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "ai-gateway"
    assert endpoints["addressType"] == "IPv4"
    assert endpoints["endpoints"][0]["addresses"] == ["10.77.0.2"]
    assert endpoints["ports"] == [{"name": "http", "protocol": "TCP", "port": 4000}]
    namespace = _one(objects, "Namespace", "homeforge-gateway")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # every request needs a consumer's key: no allow-list, so no policy and no customization
    kinds = [o["kind"] for o in objects]
    assert "AuthorizationPolicy" not in kinds and "ConfigMap" not in kinds
    assert "infrastructure" not in gateway["spec"]


def test_beside_ollamas_route_each_host_name_has_its_own_listener_and_rule():
    objects = _ai_files()["istio-ingress"]
    kube_schemas.validate_all(objects)
    listeners = _one(objects, "Gateway")["spec"]["listeners"]
    assert [x["name"] for x in listeners] == [
        "https",
        "https-ai-gateway",
        "http",
        "http-ai-gateway",
    ]
    redirect = _one(objects, "HTTPRoute", "ollama-gateway-https-redirect")
    assert redirect["spec"]["hostnames"] == [HOST, AI]
    rules = _one(objects, "AuthorizationPolicy")["spec"]["rules"]
    assert rules == [
        {
            "from": [{"source": {"ipBlocks": [MESH]}}],
            "to": [{"operation": {"hosts": [HOST, f"{HOST}:*"]}}],
        },
        {"to": [{"operation": {"hosts": [AI, f"{AI}:*"]}}]},  # every client, with a key
    ]
    limited = _ai_files(ingress_istio_ai_gateway_allowed_cidrs=["192.168.1.0/24"])
    assert _one(limited["istio-ingress"], "AuthorizationPolicy")["spec"]["rules"][1] == {
        "from": [{"source": {"ipBlocks": ["192.168.1.0/24"]}}],
        "to": [{"operation": {"hosts": [AI, f"{AI}:*"]}}],
    }


def test_a_public_service_and_an_allow_listed_ai_gateway_keep_a_policy_and_the_address():
    objects = _ai_files(
        ingress_istio_public=True, ingress_istio_ai_gateway_allowed_cidrs=["192.168.1.0/24"]
    )["istio-ingress"]
    kube_schemas.validate_all(objects)
    assert _one(objects, "AuthorizationPolicy")["spec"]["rules"] == [
        {"to": [{"operation": {"hosts": [HOST, f"{HOST}:*"]}}]},
        {
            "from": [{"source": {"ipBlocks": ["192.168.1.0/24"]}}],
            "to": [{"operation": {"hosts": [AI, f"{AI}:*"]}}],
        },
    ]
    assert "infrastructure" in _one(objects, "Gateway")["spec"]  # the client's address is kept
    assert _one(objects, "ConfigMap", "ollama-gateway-options")


def test_an_ipv6_gateway_address_gives_an_ipv6_endpoint_slice():
    backend = {"address": "fd77::2", "port": 4001}
    objects = _ai_files(_ingress_istio_ai_gateway_backend=backend)["istio-ingress"]
    kube_schemas.validate_all(objects)
    endpoints = _one(objects, "EndpointSlice", "ai-gateway-host")
    assert endpoints["addressType"] == "IPv6"
    assert endpoints["endpoints"][0]["addresses"] == ["fd77::2"]
    assert (
        _one(objects, "HTTPRoute", "ai-gateway")["spec"]["rules"][0]["backendRefs"][0]["port"]
        == 4001
    )


def test_the_manifest_file_holds_exactly_the_objects():
    for objects in _files().values():
        text = render(
            ROLE, "manifest.yaml.j2", _ingress_istio_manifest=objects, ansible_managed="x"
        )
        assert [d for d in yaml.safe_load_all(text) if d] == objects


def test_the_gateway_api_pin_names_one_release_file():
    pins = defaults(ROLE)
    assert pins["ingress_istio_gateway_api_version"] == "v1.6.2"
    assert len(pins["ingress_istio_gateway_api_sha256"]) == 64
    assert pins["ingress_istio_gateway_api_url"].endswith(
        "/releases/download/{{ ingress_istio_gateway_api_version }}/standard-install.yaml"
    )


# ---------------------------------------------------------------- the role's own checks, run by Ansible

PLAYBOOK = """
- hosts: server
  gather_facts: false
  roles:
    - role: homeforge.homelab.ingress_istio
"""


def _converge_check_mode(
    tmp_path: Path, groups: tuple[str, ...] = ("server",), **server_vars
) -> tuple[int, str]:
    """The role in check mode on this machine as the only server (no K3s here: it reads,
    and writes nothing), and member of ``groups``; the JSON callback's output."""
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "k3s_version": "v1.32.1+k3s1",  # Istio 1.31's Kubernetes range starts at 1.32
        **server_vars,
    }
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {g: {"hosts": {"localhost": host}} for g in groups}}})
    )
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "hosts.yml",
            "play.yml",
            "--check",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    return done.returncode, done.stdout + done.stderr


def _results_by_task(output: str) -> dict[str, dict]:
    """The JSON callback's output: this host's result per task name (role prefix cut)."""
    tasks = json.loads(output[output.index("{") :])["plays"][0]["tasks"]
    return {task["task"]["name"].split(" : ", 1)[-1]: task["hosts"]["localhost"] for task in tasks}


def _rendered(by_name: dict[str, dict]) -> dict[str, list[dict]]:
    """The objects by manifest file, as Ansible itself rendered them."""
    return by_name[
        "The objects, by manifest file (the service's namespace is the ollama role's when Ollama"
        " runs there)"
    ]["ansible_facts"]["_ingress_istio_objects"]


def _failures(output: str) -> list[str]:
    start = output.index("{")
    tasks = json.loads(output[start:])["plays"][0]["tasks"]
    return [
        result.get("msg", "")
        for task in tasks
        for result in task["hosts"].values()
        if result.get("failed")
    ]


def test_the_role_refuses_a_server_whose_traefik_is_not_disabled(tmp_path):
    code, output = _converge_check_mode(
        tmp_path, ingress_istio_hostname=HOST, k3s_server_config={"disable": ["servicelb"]}
    )
    assert code != 0
    assert _failures(output) == [
        "ingress_istio: k3s_server_config.disable must contain traefik on localhost (K3s's bundled"
        " Traefik holds ports 80 and 443, which Istio's gateway needs)"
    ]


def test_the_role_refuses_a_host_name_that_is_not_a_dns_name(tmp_path):
    code, output = _converge_check_mode(
        tmp_path, ingress_istio_hostname="Ollama_Lab", k3s_server_config={"disable": "traefik"}
    )
    assert code != 0
    (message,) = _failures(output)
    assert message.startswith(
        "ingress_istio: group server must have a server, ingress_istio_hostname (or"
    )


def test_check_mode_on_a_server_without_k3s_passes_and_writes_nothing(tmp_path):
    code, output = _converge_check_mode(
        tmp_path,
        ingress_istio_hostname=HOST,
        k3s_server_config={"disable": "servicelb,traefik"},  # K3s's comma-separated form
        ollama_mode="kubernetes",  # the ollama role's manifest owns namespace ml
    )
    assert code == 0, output
    by_name = _results_by_task(output)
    artifact = by_name[
        "The Gateway API's standard-install.yaml, kept once its SHA-256 matches the pinned one"
    ]
    assert artifact["changed"] is True  # would download and check it; nothing fetched in check mode
    assert by_name["The Gateway API's CRDs in K3s's manifests directory"].get("skipped") is True
    written = by_name[
        "Istio's charts, the Gateway, its routes and the NetworkPolicy in K3s's manifests directory"
    ]
    assert written.get("skipped") is True
    objects = _rendered(by_name)
    namespaces = [
        o["metadata"]["name"] for o in objects["istio-ingress"] if o["kind"] == "Namespace"
    ]
    assert namespaces == ["istio-ingress"]
    for manifest in objects.values():
        kube_schemas.validate_all(manifest)  # as Ansible itself rendered them
    policy = _one(objects["istio-ingress"], "AuthorizationPolicy")
    assert policy["spec"]["rules"][0]["from"][0]["source"]["ipBlocks"] == [MESH]  # templated


def test_the_role_refuses_an_empty_allow_list_unless_public(tmp_path):
    settings = {"ingress_istio_hostname": HOST, "k3s_server_config": {"disable": ["traefik"]}}
    code, output = _converge_check_mode(tmp_path, ingress_istio_allowed_cidrs=[], **settings)
    assert code != 0
    (message,) = _failures(output)
    assert "ingress_istio_allowed_cidrs at least one unless ingress_istio_public" in message
    code, output = _converge_check_mode(
        tmp_path, ingress_istio_allowed_cidrs=["10.77.0.1/24"], **settings
    )
    assert code != 0 and len(_failures(output)) == 1  # host bits set: not a network
    code, output = _converge_check_mode(
        tmp_path, ingress_istio_allowed_cidrs=[], ingress_istio_public=True, **settings
    )
    assert code == 0, output


def test_the_role_routes_the_ai_gateway_to_its_hosts_mesh_address(tmp_path):
    code, output = _converge_check_mode(
        tmp_path,
        groups=("server", "ai_gateway"),
        ingress_istio_ai_gateway_hostname=AI,
        k3s_server_config={"disable": ["traefik"]},
        wireguard_facts={"address": "10.77.0.5"},
    )
    assert code == 0, output
    by_name = _results_by_task(output)
    objects = _rendered(by_name)["istio-ingress"]
    kube_schemas.validate_all(objects)
    endpoints = _one(objects, "EndpointSlice", "ai-gateway-host")
    assert endpoints["endpoints"][0]["addresses"] == ["10.77.0.5"]
    assert endpoints["ports"][0]["port"] == 4000  # ai_gateway_port's default
    assert not [
        o for o in objects if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "ollama"
    ]
    code, output = _converge_check_mode(
        tmp_path,
        ingress_istio_ai_gateway_hostname="AI_gateway",
        k3s_server_config={"disable": ["traefik"]},
    )
    assert code != 0
    assert _failures(output)[0].startswith(
        "ingress_istio: ingress_istio_ai_gateway_hostname must be a DNS name"
    )


# ---------------------------------------------------------------- homeforge inventory check

CLUSTER = """
all:
  vars:
    homeforge_ingress: istio
    k3s_version: v1.32.1+k3s1
{vars}
  children:
    k3s_cluster:
      children:
        server:
          hosts:
            s1: {{ansible_host: 192.0.2.10}}
        agent:
          hosts:
            a1: {{ansible_host: 192.0.2.11}}
"""


def _check(write, inventory_problems, extra: str) -> tuple[str, list[str]]:
    path = write("hosts.yml", CLUSTER.format(vars=extra))
    return str(path), inventory_problems(path)


def test_an_istio_homelab_is_accepted(write, inventory_problems):
    _path, found = _check(
        write,
        inventory_problems,
        """
    k3s_server_config: {disable: [traefik]}
    ingress_istio_hostname: ollama.lab.example
    ingress_istio_cni_values: {ambient: {dnsCapture: true}}
""",
    )
    assert found == []


def test_an_inventory_without_the_istio_ingress_is_unaffected(write):
    path = write("hosts.yml", CLUSTER.format(vars="").replace("homeforge_ingress: istio", ""))
    assert checks.check(inventory.load(path)) == []


def test_traefik_left_enabled_and_no_host_name_are_one_line_each_on_the_server(
    write, inventory_problems
):
    path, found = _check(
        write, inventory_problems, "    k3s_server_config: {disable: [servicelb]}\n"
    )
    assert found == [
        f"{path}: host s1: ingress_istio_ai_gateway_hostname: required when homeforge_ingress"
        " is istio, unless ingress_istio_hostname publishes the service (the host name clients"
        " use, e.g. ai.lab.example)",
        f"{path}: host s1: k3s_server_config: disable: must contain traefik when homeforge_ingress"
        " is istio (K3s's bundled Traefik holds ports 80 and 443)",
    ]


def test_a_bad_host_name_and_other_bad_values_name_file_host_and_key(write, inventory_problems):
    path, found = _check(
        write,
        inventory_problems,
        """
    k3s_server_config: {disable: traefik}
    ingress_istio_hostname: "ollama.lab.example\\nx"
    ingress_istio_service_namespace: ML
    ingress_istio_service_port: 70000
    ingress_istio_gateway_api_sha256: ABC
    ingress_istio_gateway_api_version: 1.5.0/../x
    ingress_istio_chart_repo: http://charts.example
    ingress_istio_cni_bin_dir: opt/cni
""",
    )
    on_s1 = [line for line in found if ": host s1: " in line]  # all:vars reach a1 too
    keys = [line.split(": ")[2] for line in on_s1]
    # the one-line rule of every role string variable speaks first for the hostname
    assert keys == [
        "ingress_istio_hostname",
        "ingress_istio_service_namespace",
        "ingress_istio_service_port",
        "ingress_istio_chart_repo",
        "ingress_istio_gateway_api_version",
        "ingress_istio_gateway_api_sha256",
        "ingress_istio_cni_bin_dir",
    ]
    assert all(line.startswith(f"{path}: host ") for line in found)
    assert "control characters" in on_s1[0]


def test_the_gateway_and_the_service_need_namespaces_of_their_own(write, inventory_problems):
    path, found = _check(
        write,
        inventory_problems,
        """
    k3s_server_config: {disable: [traefik]}
    ingress_istio_hostname: ollama.lab.example
    ingress_istio_gateway_namespace: ml
""",
    )
    assert found == [
        f"{path}: host s1: ingress_istio_gateway_namespace: 'ml': must not be the service's"
        " namespace (the NetworkPolicy tells the two apart)"
    ]


def test_an_unknown_platform_is_refused_by_the_argument_spec(write, inventory_problems):
    _path, found = _check(
        write,
        inventory_problems,
        """
    k3s_server_config: {disable: [traefik]}
    ingress_istio_hostname: ollama.lab.example
    ingress_istio_platform: k8s
""",
    )
    on_s1 = [line for line in found if ": host s1: " in line]
    assert len(on_s1) == 1 and "host s1: ingress_istio_platform: " in on_s1[0], found
    assert "must be one of" in on_s1[0]


SETTINGS = (
    "    k3s_server_config: {disable: [traefik]}\n    ingress_istio_hostname: x.lab.example\n"
)


def test_a_bad_or_empty_allow_list_is_one_line_on_the_server(write, inventory_problems):
    settings = SETTINGS
    path = write(
        "hosts.yml",
        CLUSTER.format(vars=settings).replace(
            "s1: {ansible_host: 192.0.2.10}",
            "s1: {ansible_host: 192.0.2.10, ingress_istio_allowed_cidrs: [10.77.0.0/24, 10.0.0.1/8]}",
        ),
    )
    assert inventory_problems(path) == [
        f"{path}: host s1: ingress_istio_allowed_cidrs: '10.0.0.1/8' is not a valid CIDR"
        " (10.0.0.1/8 has host bits set)"
    ]
    path, found = _check(
        write, inventory_problems, settings + "    ingress_istio_allowed_cidrs: []\n"
    )
    assert found == [
        f"{path}: host s1: ingress_istio_allowed_cidrs: empty: list the networks whose clients"
        " the gateway serves, or set ingress_istio_public: true"
    ]
    path, found = _check(
        write,
        inventory_problems,
        settings + "    ingress_istio_allowed_cidrs: []\n    ingress_istio_public: true\n",
    )
    assert found == []


def test_a_public_gateway_is_accepted_with_one_warning(write, monkeypatch):
    # A day no release here is past its support (those warnings: test_checks_support.py).
    monkeypatch.setattr(support, "today", lambda: datetime.date(2025, 1, 1))
    settings = SETTINGS
    route = (
        "host s1: ingress_istio_hostname: x.lab.example: publishes Ollama's own API, which has"
        " no keys: publish the AI gateway instead (ingress_istio_ai_gateway_hostname, a key per"
        " consumer)"
    )
    path = write("hosts.yml", CLUSTER.format(vars=settings))
    assert checks.warnings(inventory.load(path)) == [f"{path}: {route}"]
    path = write("hosts.yml", CLUSTER.format(vars=settings + "    ingress_istio_public: true\n"))
    inv = inventory.load(path)
    assert checks.check(inv) == []
    assert checks.warnings(inv) == [
        f"{path}: host s1: ingress_istio_public: true: the gateway serves ollama at x.lab.example"
        " to every client that reaches it (Ollama's API has no authentication: anyone can pull"
        " and delete models and use the GPUs)",
        f"{path}: {route}",
    ]


def test_the_ai_gateway_alone_is_accepted_and_needs_a_gateway_host(write, inventory_problems):
    settings = (
        "    k3s_server_config: {disable: [traefik]}\n"
        "    ingress_istio_ai_gateway_hostname: ai.lab.example\n"
    )
    path, found = _check(write, inventory_problems, settings)
    assert found == [
        f"{path}: host s1: ingress_istio_ai_gateway_hostname: set, but group ai_gateway has no"
        " host: there is no gateway to publish"
    ]
    path, found = _check(
        write,
        inventory_problems,
        "    k3s_server_config: {disable: [traefik]}\n"
        "    ingress_istio_ai_gateway_namespace: ml\n"
        "    ingress_istio_ai_gateway_hostname: Not_A_Name\n",
    )
    assert (
        f"{path}: host s1: ingress_istio_ai_gateway_namespace: 'ml': must not be the Gateway's"
        " or the service's namespace (the role writes it as a Namespace of its own)" in found
    )
    assert any(
        line.startswith(f"{path}: host s1: ingress_istio_ai_gateway_hostname: 'Not_A_Name'")
        for line in found
    ), found


def test_the_role_is_in_the_site_playbook_behind_its_switch():
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    (play,) = [
        p
        for p in site
        if any(r.get("role") == "homeforge.homelab.ingress_istio" for r in p.get("roles", []))
    ]
    assert play["hosts"] == "server"
    assert play["roles"][0]["when"] == "homeforge_ingress | default('') == 'istio'"


def test_the_molecule_scenario_pins_its_stand_in_release_file():
    scenario = yaml.safe_load((ROOT / "molecule" / ROLE / "molecule.yml").read_text())
    settings = scenario["provisioner"]["inventory"]["group_vars"]["all"]
    standin = ROOT / "tests" / "standins" / "gateway-api" / "standard-install.yaml"
    assert (
        settings["ingress_istio_gateway_api_sha256"]
        == hashlib.sha256(standin.read_bytes()).hexdigest()
    )
    assert settings["k3s_server_config"]["disable"] == ["traefik"]
    assert {o["kind"] for o in yaml.safe_load_all(standin.read_text()) if o} == {
        "CustomResourceDefinition"
    }


def test_the_ingress_objects_apply_to_any_cluster_not_only_k3s():
    """Only the charts are K3s's HelmCharts; the ingress file is plain Kubernetes, the
    Gateway API and Istio's own policy (what an EKS cluster with Istio takes with kubectl
    apply --server-side)."""
    groups = {o["apiVersion"].rpartition("/")[0] for o in _files()["istio-ingress"]}
    assert groups == {"", "gateway.networking.k8s.io", "networking.k8s.io", "security.istio.io"}


def test_a_kubernetes_older_than_istio_supports_is_refused_by_the_role_and_the_check(
    tmp_path, write, inventory_problems
):
    code, output = _converge_check_mode(
        tmp_path,
        ingress_istio_hostname=HOST,
        k3s_server_config={"disable": ["traefik"]},
        k3s_version="v1.31.4+k3s1",
    )
    assert code != 0
    assert _failures(output)[0].startswith(
        "ingress_istio: k3s_version v1.31.4+k3s1 is Kubernetes 1.31.4"
    )
    path = write("hosts.yml", CLUSTER.format(vars="").replace("v1.32.1+k3s1", "v1.31.4+k3s1"))
    found = inventory_problems(path)
    assert any(
        "k3s_version: 'v1.31.4+k3s1': Istio" in line and "1.32 to 1.36" in line for line in found
    ), found
