"""What the nvidia_device_plugin role writes, checked against the upstream schemas: the
HelmChart against helm-controller's CRD, the chart values against the chart's own
values.yaml (../shared/charts/nvidia-device-plugin), the RuntimeClass against Kubernetes
at the pinned version."""

from __future__ import annotations

import yaml

from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render, render_objects

ROLE = "nvidia_device_plugin"


def _chart(objects):
    return next(o for o in objects if o["kind"] == "HelmChart")


def test_the_helmchart_and_its_values_match_the_upstream_schemas():
    objects = render_objects(ROLE, "objects.yml.j2")
    assert [o["kind"] for o in objects] == ["HelmChart"]  # K3s v1.31 ships the RuntimeClass
    kube_schemas.validate_all(objects)
    values = yaml.safe_load(_chart(objects)["spec"]["valuesContent"])
    assert values == {"runtimeClassName": "nvidia"}
    assert kube_schemas.value_problems("nvidia-device-plugin", values) == []


def test_the_pinned_chart_version_is_the_one_the_values_were_checked_against():
    assert defaults(ROLE)["nvidia_device_plugin_chart_version"] == kube_schemas.chart_version(
        "nvidia-device-plugin"
    )


def test_older_k3s_gets_a_valid_runtimeclass():
    objects = render_objects(ROLE, "objects.yml.j2", _nvidia_device_plugin_with_runtimeclass=True)
    runtime = next(o for o in objects if o["kind"] == "RuntimeClass")
    assert runtime["handler"] == "nvidia" and runtime["metadata"]["name"] == "nvidia"
    kube_schemas.validate_all(objects)


def test_inventory_values_are_merged_and_still_set_the_nvidia_runtime():
    extra = {
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "config": {"map": {"default": "version: v1\n"}},
    }
    objects = render_objects(ROLE, "objects.yml.j2", nvidia_device_plugin_values=extra)
    values = yaml.safe_load(_chart(objects)["spec"]["valuesContent"])
    assert values["runtimeClassName"] == "nvidia" and values["tolerations"] == extra["tolerations"]
    assert kube_schemas.value_problems("nvidia-device-plugin", values) == []
    kube_schemas.validate_all(objects)


def test_a_values_key_the_chart_does_not_have_is_caught():
    objects = render_objects(
        ROLE, "objects.yml.j2", nvidia_device_plugin_values={"runtimeClass": "x"}
    )
    values = yaml.safe_load(_chart(objects)["spec"]["valuesContent"])
    assert any(
        "runtimeClass " in p for p in kube_schemas.value_problems("nvidia-device-plugin", values)
    )


def test_the_manifest_file_holds_exactly_the_objects():
    objects = render_objects(ROLE, "objects.yml.j2", _nvidia_device_plugin_with_runtimeclass=True)
    text = render(
        ROLE,
        "nvidia-device-plugin.yaml.j2",
        _nvidia_device_plugin_objects=objects,
        ansible_managed="x",
    )
    assert [d for d in yaml.safe_load_all(text) if d] == objects
