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


SHIPS = {
    "v1.25.16+k3s4": False,
    "v1.26.11+k3s2": False,
    "v1.26.12+k3s1": True,
    "v1.27.8+k3s2": False,
    "v1.27.9+k3s1": True,
    "v1.28.4+k3s2": False,
    "v1.28.5+k3s1": True,
    "v1.29.0+k3s1": True,
    "v1.36.4+k3s1": True,
}


def test_k3s_ships_the_nvidia_runtimeclass_from_the_first_release_of_each_minor_that_has_it():
    """From K3s's release list, not one version: the December 2023 backports put it in
    1.27.9 and 1.26.12 (a 'since v1.28.5' gate added a second RuntimeClass there), and no
    1.25 release has it. The K3s stand-in writes runtimes.yaml by the same table."""
    from homeforge.module_utils import load
    from tests.unit.test_standin_k3s import _standin

    standin, k3s = _standin(), load("k3s")
    assert {v: k3s.ships_nvidia_runtimeclass(v) for v in SHIPS} == SHIPS
    assert standin.RUNTIMECLASS_SINCE == k3s.RUNTIMECLASS_SINCE
    assert {v: standin.ships_runtime_classes(v) for v in SHIPS} == SHIPS
