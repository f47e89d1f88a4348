"""tests/tools/kube_schemas.py: manifests and chart values checked against real schemas."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.tools import kube_schemas as ks


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _one_problem(obj: dict[str, Any], *needles: str) -> str:
    """The problems of obj, joined; each needle must appear in them."""
    found = ks.problems(obj)
    assert found, f"expected a problem with {obj}"
    text = "\n".join(found)
    for needle in needles:
        assert needle in text, text
    return text


# ---------------------------------------------------------------- the Kubernetes version


def test_kubernetes_version_follows_the_k3s_pin() -> None:
    pin = yaml.safe_load(ks.K3S_DEFAULTS.read_text())["k3s_version"]
    assert pin.startswith(f"v{ks.KUBERNETES_VERSION}."), (pin, ks.KUBERNETES_VERSION)
    assert re.fullmatch(r"\d+\.\d+", ks.KUBERNETES_VERSION)


def test_kubernetes_version_is_supported_by_kubernetes_validate() -> None:
    assert ks.KUBERNETES_VERSION in ks.supported_versions()
    runtime_class = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": "nvidia"},
        "handler": "nvidia",
    }
    # validate() answers the version whose schemas it used: no silent fallback.
    used = kubernetes_validate.validate(runtime_class, ks.KUBERNETES_VERSION, strict=True)
    assert used == ks.KUBERNETES_VERSION


def test_pinned_kubernetes_version_parses_a_pin(write) -> None:
    assert ks.pinned_kubernetes_version(write("a.yml", "k3s_version: v1.33.2+k3s1\n")) == "1.33"
    with pytest.raises(ValueError, match="k3s_version"):
        ks.pinned_kubernetes_version(write("b.yml", "k3s_version: latest\n"))


def test_an_unsupported_kubernetes_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes 1\.20"):
        ks.problems({"apiVersion": "v1", "kind": "Namespace"}, kubernetes_version="1.20")


# ---------------------------------------------------------------- core kinds


def _deployment() -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "ollama"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("ollama", "llm", labels=labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "runtimeClassName": "nvidia",
                    "containers": [
                        {
                            "name": "ollama",
                            "image": "ollama/ollama:0.32.15",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 11434, "name": "http"}],
                            "resources": {"limits": {"nvidia.com/gpu": 1}},
                        }
                    ],
                },
            },
        },
    }


@pytest.mark.parametrize(
    "obj",
    [
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": "nvidia"},
            "handler": "nvidia",
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _meta("llm", labels={"pod-security.kubernetes.io/enforce": "baseline"}),
        },
        _deployment(),
    ],
    ids=["RuntimeClass", "Namespace", "Deployment"],
)
def test_a_valid_core_object_passes(obj: dict[str, Any]) -> None:
    assert ks.problems(obj) == []
    ks.validate(obj)


def test_a_misspelt_core_field_fails_in_strict_mode() -> None:
    obj = _deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    text = _one_problem(obj, "Deployment/llm/ollama", "containers[0].imagePullPolicyy")
    with pytest.raises(AssertionError, match="imagePullPolicyy"):
        ks.validate(obj)
    assert "unknown field" in text


def test_a_wrongly_typed_core_field_fails() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("ollama", "llm"),
        "spec": {"selector": {"app": "ollama"}, "ports": [{"port": "x"}]},
    }
    _one_problem(service, "Service/llm/ollama", "spec.ports[0].port", "'x'")


def test_an_unknown_core_kind_has_no_schema() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deploymint", "metadata": _meta("x", "y")}
    _one_problem(obj, "Deploymint/y/x", "no schema for apps/v1 Deploymint")


def test_a_kind_of_a_group_that_only_looks_core_is_not_sent_to_core_schemas() -> None:
    # apps.example.com is not apps: it must not borrow apps/v1's Deployment schema.
    obj = {**_deployment(), "apiVersion": "apps.example.com/v1"}
    _one_problem(obj, "no schema for apps.example.com/v1 Deployment")


def test_an_object_without_api_version_or_kind_fails() -> None:
    _one_problem({"metadata": {"name": "x"}}, "apiVersion and kind")
    assert ks.problems(["not", "a", "dict"])


# ---------------------------------------------------------------- K3s HelmChart


def _helm_chart() -> dict[str, Any]:
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": _meta("ollama", "kube-system"),
        "spec": {
            "chart": "ollama",
            "repo": "https://otwld.github.io/ollama-helm/",
            "version": "1.77.0",
            "targetNamespace": "llm",
            "createNamespace": True,
            "valuesContent": "persistentVolume:\n  enabled: true\n",
        },
    }


def test_a_valid_helm_chart_passes() -> None:
    assert ks.problems(_helm_chart()) == []


def test_helm_chart_values_are_free_form() -> None:
    # spec.values preserves unknown fields: anything goes below it.
    chart = _helm_chart()
    chart["spec"]["values"] = {"anything": {"at": ["all", 1]}}
    assert ks.problems(chart) == []


def test_a_misspelt_helm_chart_field_fails_because_the_schema_is_closed() -> None:
    chart = _helm_chart()
    chart["spec"]["valuesContents"] = chart["spec"].pop("valuesContent")
    text = _one_problem(chart, "HelmChart/kube-system/ollama", "spec.valuesContents")
    # Not closing the schema would let it through: the CRD as shipped is open there.
    raw = ks.crds()[("helm.cattle.io", "HelmChart")]["spec"]["versions"][0]
    assert "additionalProperties" not in raw["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "unknown field" in text


def test_values_content_must_be_a_string() -> None:
    chart = _helm_chart()
    chart["spec"]["valuesContent"] = {"persistentVolume": {"enabled": True}}
    _one_problem(chart, "spec.valuesContent", "is not of type 'string'")


@pytest.mark.parametrize(
    ("metadata", "needle"),
    [
        ({"name": "ollama", "namespace": "kube-system", "lables": {}}, "metadata.lables"),
        ({"name": "Ollama_Server", "namespace": "kube-system"}, "metadata.name"),
        ({"name": "ollama", "labels": {"tier": 1}}, "metadata.labels.tier"),
        ({"name": "ollama", "annotations": {"a": True}}, "metadata.annotations.a"),
    ],
    ids=["unknown-field", "bad-name", "label-not-string", "annotation-not-string"],
)
def test_custom_object_metadata_is_checked(metadata: dict[str, Any], needle: str) -> None:
    chart = _helm_chart()
    chart["metadata"] = metadata
    _one_problem(chart, needle)


def test_close_keeps_what_kubernetes_keeps_open() -> None:
    schema = {
        "type": "object",
        "properties": {
            "free": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"a": {"type": "string"}},
            },
            "map": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"b": {"type": "string"}}},
            },
            "list": {"type": "array", "items": {"type": "object", "properties": {"c": {}}}},
            "maybe": {"type": "string", "nullable": True},
        },
        "oneOf": [{"properties": {"maybe": {"enum": ["x"]}}}, {"required": ["free"]}],
    }
    closed = ks.close(copy.deepcopy(schema))
    assert closed["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["free"]
    assert closed["properties"]["map"]["additionalProperties"]["additionalProperties"] is False
    assert closed["properties"]["list"]["items"]["additionalProperties"] is False
    assert closed["properties"]["maybe"]["type"] == ["string", "null"]
    assert closed["oneOf"] == schema["oneOf"]


def test_a_valid_helm_chart_config_passes() -> None:
    config = {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": _meta("traefik", "kube-system"),
        "spec": {"valuesContent": "ports:\n  web:\n    exposedPort: 8080\n"},
    }
    assert ks.problems(config) == []


def test_an_unknown_crd_version_fails() -> None:
    chart = {**_helm_chart(), "apiVersion": "helm.cattle.io/v9"}
    _one_problem(chart, "HelmChart/kube-system/ollama", "no version v9")


def test_an_unserved_crd_version_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    crd = copy.deepcopy(ks.crds()[("helm.cattle.io", "HelmChart")])
    crd["spec"]["group"] = "old.example.com"
    crd["spec"]["versions"][0]["served"] = False
    monkeypatch.setattr(ks, "crds", lambda: {("old.example.com", "HelmChart"): crd})
    chart = {**_helm_chart(), "apiVersion": "old.example.com/v1"}
    _one_problem(chart, "old.example.com/v1 HelmChart is not served")


@pytest.mark.parametrize(
    "api_version", ["helm.cattle.io/v1", "example.com/v1", "gateway.networking.k8s.io/v1"]
)
def test_an_unknown_kind_has_no_schema(api_version: str) -> None:
    obj = {"apiVersion": api_version, "kind": "HelmRelease", "metadata": _meta("x", "y")}
    _one_problem(obj, f"no schema for {api_version} HelmRelease")


# ---------------------------------------------------------------- other custom kinds


def test_a_gateway_api_http_route_passes() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta("ollama", "llm"),
        "spec": {
            "parentRefs": [{"name": "homeforge", "namespace": "gateway"}],
            "hostnames": ["llm.home.arpa"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                    "backendRefs": [{"name": "ollama", "port": 11434}],
                }
            ],
        },
    }
    assert ks.problems(route) == []
    route["spec"]["rules"][0]["backendRefs"][0]["prot"] = 80
    _one_problem(route, "spec.rules[0].backendRefs[0].prot")


def _gateway(*addresses: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _meta("homeforge", "gateway"),
        "spec": {
            "gatewayClassName": "traefik",
            "addresses": list(addresses),
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
        },
    }


def test_one_of_branches_stay_open() -> None:
    # A oneOf branch there declares only `type`; closing it would reject `value`.
    assert ks.problems(_gateway({"type": "Hostname", "value": "gw.home.arpa"})) == []


def test_defaults_apply_before_validation() -> None:
    # type defaults to IPAddress; without it both oneOf branches would match.
    assert ks.problems(_gateway({"value": "192.0.2.10"})) == []


def test_an_istio_authorization_policy_passes() -> None:
    policy = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": _meta("ollama-from-webui", "llm"),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "ollama"}},
            "action": "ALLOW",
            "rules": [
                {
                    "from": [{"source": {"principals": ["cluster.local/ns/llm/sa/webui"]}}],
                    "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/api/*"]}}],
                }
            ],
        },
    }
    assert ks.problems(policy) == []
    policy["spec"]["rules"][0]["form"] = policy["spec"]["rules"][0].pop("from")
    _one_problem(policy, "AuthorizationPolicy/llm/ollama-from-webui", "spec.rules[0].form")


def test_a_traefik_ingress_route_passes() -> None:
    route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": _meta("webui", "llm"),
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "match": "Host(`chat.home.arpa`)",
                    "kind": "Rule",
                    "services": [{"name": "open-webui", "port": 8080}],
                }
            ],
            "tls": {"secretName": "chat-tls"},
        },
    }
    assert ks.problems(route) == []


def test_a_cert_manager_cluster_issuer_passes() -> None:
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": _meta("homeforge-selfsigned"),
        "spec": {"selfSigned": {}},
    }
    assert ks.problems(issuer) == []
    issuer["spec"] = {"selfsigned": {}}
    _one_problem(issuer, "ClusterIssuer/homeforge-selfsigned", "spec.selfsigned")


def _node_config(ssm: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {
            "cluster": {"name": "homeforge", "region": "eu-west-1"},
            "hybrid": {"ssm": ssm},
        },
    }


def test_an_eks_hybrid_node_config_passes() -> None:
    config = _node_config({"activationCode": "code", "activationId": "id"})
    assert ks.problems(config) == []


def test_an_eks_hybrid_node_config_with_a_wrong_case_key_fails() -> None:
    config = _node_config({"activationcode": "code", "activationId": "id"})
    _one_problem(config, "NodeConfig: spec.hybrid.ssm.activationcode: unknown field")


def test_validate_all_reads_multi_document_yaml() -> None:
    good = yaml.safe_dump(_helm_chart())
    ks.validate_all(f"---\n{good}---\n---\n{good}")  # the empty document is skipped
    bad = _helm_chart()
    bad["spec"]["valuesContents"] = "x"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("s"),
        "spec": {"ports": [{"port": "x"}]},
    }
    with pytest.raises(AssertionError) as caught:
        ks.validate_all([_helm_chart(), None, bad, service])
    assert "spec.valuesContents" in str(caught.value)
    assert "spec.ports[0].port" in str(caught.value)


# ---------------------------------------------------------------- chart values


def test_ollama_persistent_volume_passes_and_persistence_fails() -> None:
    assert (
        ks.value_problems("ollama", {"persistentVolume": {"enabled": True, "size": "50Gi"}}) == []
    )
    found = ks.value_problems("ollama", {"persistence": {"enabled": True, "size": "50Gi"}})
    assert found == ["ollama: values key persistence is not in the chart's values.yaml"]


def test_ollama_gpu_keys_exist() -> None:
    gpu = ks.chart_values("ollama")["ollama"]["gpu"]
    assert {"enabled", "type", "number"} <= gpu.keys()
    values = {"ollama": {"gpu": {"enabled": True, "type": "nvidia", "number": 1}}}
    assert ks.value_problems("ollama", values) == []
    values["ollama"]["gpu"]["count"] = 1
    assert ks.value_problems("ollama", values) == [
        "ollama: values key ollama.gpu.count is not in the chart's values.yaml"
    ]


def test_the_keys_the_ollama_role_will_set_exist() -> None:
    values = {
        "runtimeClassName": "nvidia",
        "persistentVolume": {"enabled": True, "size": "50Gi", "storageClass": "local-path"},
        "updateStrategy": {"type": "Recreate"},
        "service": {"type": "ClusterIP", "port": 11434},
        "ingress": {"enabled": False},
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "extraEnv": [{"name": "OLLAMA_KEEP_ALIVE", "value": "24h"}],
    }
    assert ks.value_problems("ollama", values) == []


def test_nvidia_device_plugin_values_pass() -> None:
    values = {
        "runtimeClassName": "nvidia",  # null in the chart: open
        "nodeSelector": {"homeforge.dev/gpu": "nvidia"},  # {} in the chart: open
        "affinity": {},  # clears the chart's NFD-based affinity
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "gfd": {"enabled": False},
    }
    assert ks.value_problems("nvidia-device-plugin", values) == []


def test_istio_charts_are_checked_below_their_internal_defaults_key() -> None:
    """Istio keeps its defaults under _internal_defaults_do_not_set and lifts them in a
    template; users set them at the top, beside the profile settings that template reads."""
    values = {"profile": "ambient", "global": {"platform": "k3s"}, "cniBinDir": "/opt/cni/bin"}
    assert ks.value_problems("istio-cni", values) == []
    assert ks.value_problems("istio-istiod", {"profile": "ambient", "env": {"A": "1"}}) == []
    # the cni chart also takes its values under cni (zzy_descope_legacy.yaml), the others not
    assert ks.value_problems("istio-cni", {"cni": {"cniBinDir": "/x"}}) == []
    assert ks.value_problems("istio-cni", {"cni": {"cniBinDirectory": "/x"}}) == [
        "istio-cni: values key cni.cniBinDirectory is not in the chart's values.yaml"
    ]
    assert ks.value_problems("istio-istiod", {"cni": {"cniBinDir": "/x"}}) != []
    assert ks.value_problems("istio-ztunnel", {"_internal_defaults_do_not_set": {}}) == [
        "istio-ztunnel: values key _internal_defaults_do_not_set is not in the chart's values.yaml"
    ]


def test_an_open_path_accepts_keys_the_chart_only_lists() -> None:
    values = {"affinity": {"podAntiAffinity": {}}}
    found = ks.value_problems("nvidia-device-plugin", values)
    assert found == [
        "nvidia-device-plugin: values key affinity.podAntiAffinity is not in the chart's values.yaml"
    ]
    assert ks.value_problems("nvidia-device-plugin", values, open_paths=["affinity"]) == []


def test_a_key_only_in_a_comment_is_not_a_key() -> None:
    # values.yaml shows `# enableHostNetwork: false` under devicePlugin, as a comment only
    # (tests/unit/test_schemas_generated.py reads it there); the facts have no such key.
    assert "enableHostNetwork" not in ks.chart_values("nvidia-device-plugin")["devicePlugin"]
    found = ks.value_problems("nvidia-device-plugin", {"devicePlugin": {"enableHostNetwork": True}})
    assert found == [
        "nvidia-device-plugin: values key devicePlugin.enableHostNetwork"
        " is not in the chart's values.yaml"
    ]


def test_traefik_key_path_check_catches_what_its_open_schema_allows() -> None:
    # values.schema.json leaves `deployment` open; only the key-path check sees the typo.
    values = {"deployment": {"replicaz": 2}}
    assert ks.value_problems("traefik", values) == [
        "traefik: values key deployment.replicaz is not in the chart's values.yaml"
    ]
    assert ks.value_problems("traefik", {"deployment": {"replicas": 2}}) == []


def test_traefik_schema_catches_a_wrong_scalar_type() -> None:
    found = ks.value_problems("traefik", {"deployment": {"replicas": "two"}})
    assert found and all(
        p.startswith("traefik: values.schema.json: deployment.replicas") for p in found
    )


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"persistentVolume": True}, "persistentVolume is a scalar (bool) where"),
        ({"nodeSelector": ["gpu"]}, "nodeSelector is a list where"),
        ({"persistentVolume": {"enabled": {"yes": True}}}, "persistentVolume.enabled is a mapping"),
        ({"extraEnv": {"OLLAMA_DEBUG": "1"}}, "extraEnv is a mapping where"),
    ],
)
def test_a_wrong_shape_fails(values: dict[str, Any], needle: str) -> None:
    found = ks.value_problems("ollama", values)
    assert any(needle in p for p in found), found


def test_a_null_in_the_chart_accepts_a_list_or_a_mapping() -> None:
    values = {"nfs": {"server": "192.0.2.5", "path": "/srv/nfs", "mountOptions": ["nfsvers=4.1"]}}
    assert ks.value_problems("nfs-subdir-external-provisioner", values) == []
    daemonsets = {"additionalDaemonSets": {"gpu": {"nodeSelector": {"gpu": "true"}}}}
    assert ks.value_problems("aws-ebs-csi-driver", daemonsets) == []


def test_scalars_are_not_compared() -> None:
    # Helm takes a number where the chart has "": so do we.
    assert ks.value_problems("ollama", {"persistentVolume": {"storageClass": 1}}) == []


@pytest.mark.parametrize(
    "values",
    [
        {"podAnnotations": {"foo": "bar"}},
        {"extraEnv": [{"name": "OLLAMA_DEBUG", "value": "1"}, "anything"]},
        {"service": {"loadBalancerIP": "192.0.2.10"}},  # null in the chart
        {"persistentVolume": {"annotations": {"a": {"b": "c"}}}},
        {"image": {"tag": None}},  # a null deletes the chart's default
    ],
)
def test_open_maps_accept_anything(values: dict[str, Any]) -> None:
    assert ks.value_problems("ollama", values) == []


def test_chart_schemas_see_the_merged_values() -> None:
    # A null deletes a default, as in Helm; cert-manager's schema then sees it gone.
    assert ks.coalesce({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    assert ks.value_problems("cert-manager", {"crds": {"enabled": True}}) == []
    # The schema types crds.enabled boolean: checked alone, the null would fail.
    assert ks.value_problems("cert-manager", {"crds": {"enabled": None}}) == []
    found = ks.value_problems("cert-manager", {"crds": {"enabled": "yes"}})
    assert any(p.startswith("cert-manager: values.schema.json: crds.enabled") for p in found), found


def test_values_must_be_a_mapping_and_the_chart_must_exist() -> None:
    assert ks.value_problems("ollama", ["persistentVolume"]) != []  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no chart 'olama'"):
        ks.value_problems("olama", {})


# ---------------------------------------------------------------- chart versions


def test_chart_version_comes_from_the_upstream_table() -> None:
    # The README row's version cell, as the generated facts keep it.
    version = ks.chart_version("ollama")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    upstream = ks.chart_facts("ollama")["_generated"]["upstream"]
    assert upstream["version"].startswith(f"chart {version} "), upstream


def test_chart_version_refuses_a_chart_without_one() -> None:
    with pytest.raises(LookupError, match="no version"):
        ks.chart_version("cert-manager")
    with pytest.raises(LookupError, match="no chart 'olama'"):
        ks.chart_version("olama")
