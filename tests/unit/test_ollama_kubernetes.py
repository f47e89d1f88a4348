"""The ollama role's Kubernetes mode, checked against the upstream schemas: the Namespace
against Kubernetes at the pinned version, the HelmChart against helm-controller's CRD, the
values against otwld/ollama-helm's values.yaml (../shared/charts/ollama, where the models
volume is `persistentVolume`, not `persistence`)."""

from __future__ import annotations

import yaml

from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render, render_objects

ROLE = "ollama"


def _objects(**variables):
    objects = render_objects(ROLE, "kubernetes-objects.yml.j2", **variables)
    chart = next(o for o in objects if o["kind"] == "HelmChart")
    return objects, chart, yaml.safe_load(chart["spec"]["valuesContent"])


def test_namespace_chart_and_values_match_the_upstream_schemas():
    objects, chart, values = _objects(ollama_models=["llama3.2:1b"])
    assert [o["kind"] for o in objects] == ["Namespace", "HelmChart"]
    kube_schemas.validate_all(objects)
    assert kube_schemas.value_problems("ollama", values) == []
    namespace = objects[0]
    assert namespace["metadata"]["name"] == "ml" == chart["spec"]["targetNamespace"]
    assert namespace["metadata"]["labels"]["app.kubernetes.io/part-of"] == "homeforge"


def test_models_survive_restarts_on_a_volume_with_one_pod_at_a_time():
    _o, _chart, values = _objects(
        ollama_k8s_storage_class="nfs-csi", ollama_k8s_storage_size="200Gi"
    )
    assert values["persistentVolume"] == {
        "enabled": True,
        "size": "200Gi",
        "storageClass": "nfs-csi",
    }
    assert "persistence" not in values  # the key the seed story lost time to
    assert values["updateStrategy"] == {"type": "Recreate"}
    assert values["service"] == {"type": "ClusterIP", "port": 11434}


def test_gpus_come_with_the_nvidia_runtime_and_none_without():
    _o, _c, cpu = _objects()
    assert "runtimeClassName" not in cpu and "gpu" not in cpu["ollama"]
    _o, _c, gpu = _objects(ollama_k8s_gpus=2)
    assert gpu["runtimeClassName"] == "nvidia"
    assert gpu["ollama"]["gpu"] == {"enabled": True, "type": "nvidia", "number": 2}
    assert kube_schemas.value_problems("ollama", gpu) == []


def test_one_pinned_ollama_for_both_modes_and_the_host_settings_as_env():
    _o, _c, values = _objects(
        ollama_num_parallel=2, ollama_extra_env={"OLLAMA_FLASH_ATTENTION": "1"}
    )
    assert values["image"]["tag"] == str(defaults(ROLE)["ollama_version"])
    env = {e["name"]: e["value"] for e in values["extraEnv"]}
    assert env == {
        "OLLAMA_KEEP_ALIVE": "5m",
        "OLLAMA_NUM_PARALLEL": "2",
        "OLLAMA_FLASH_ATTENTION": "1",
    }


def test_inventory_values_merge_and_a_wrong_key_is_caught():
    _o, _c, values = _objects(
        ollama_k8s_values={"nodeSelector": {"nvidia.com/gpu.present": "true"}}
    )
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert kube_schemas.value_problems("ollama", values) == []
    _o, _c, wrong = _objects(ollama_k8s_values={"persistence": {"enabled": True}})
    assert any("persistence" in p for p in kube_schemas.value_problems("ollama", wrong))


def test_the_pinned_chart_is_the_one_the_values_were_checked_against():
    assert defaults(ROLE)["ollama_k8s_chart_version"] == kube_schemas.chart_version("ollama")


def test_the_manifest_file_holds_exactly_the_objects():
    objects, _c, _v = _objects()
    text = render(
        ROLE, "ollama-kubernetes.yaml.j2", _ollama_k8s_objects=objects, ansible_managed="x"
    )
    assert [d for d in yaml.safe_load_all(text) if d] == objects


def test_with_istio_as_the_ingress_the_namespace_joins_the_ambient_mesh():
    """The namespace has one owner, this manifest (ingress_istio leaves it out of its own)."""
    plain, _c, _v = _objects()
    assert "istio.io/dataplane-mode" not in plain[0]["metadata"]["labels"]
    meshed, _c, _v = _objects(homeforge_ingress="istio")
    assert meshed[0]["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    kube_schemas.validate_all(meshed)
