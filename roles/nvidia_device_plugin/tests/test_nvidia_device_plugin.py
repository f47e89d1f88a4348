"""testinfra suite for the nvidia_device_plugin role (molecule verify and `homeforge verify`).
In the lab K3s, nvidia-smi and the GPUs are STAND-INs (tests/standins/): these check the
role's work (the HelmChart on the first server, labels, allocatable GPUs as the stand-in
computes them from the same conditions as K3s), not NVIDIA's plugin."""

from __future__ import annotations

import json

import yaml

MANIFEST = "/var/lib/rancher/k3s/server/manifests/homeforge-nvidia-device-plugin.yaml"


def _first_server(hf_vars) -> str:
    return hf_vars["groups"][hf_vars["k3s_server_group"]][0]


def test_the_chart_is_a_private_helmchart_with_the_nvidia_runtime(host, hf_vars, hf_host):
    manifest = host.file(MANIFEST)
    if hf_host != _first_server(hf_vars):
        assert not manifest.exists  # one copy, on the first server
        return
    assert manifest.mode == 0o600 and manifest.user == "root"
    objects = [o for o in yaml.safe_load_all(manifest.content_string) if o]
    chart = next(o for o in objects if o["kind"] == "HelmChart")
    assert chart["spec"]["chart"] == "nvidia-device-plugin"
    assert chart["spec"]["version"] == hf_vars["nvidia_device_plugin_chart_version"]
    assert yaml.safe_load(chart["spec"]["valuesContent"])["runtimeClassName"] == "nvidia"


def test_the_nvidia_runtimeclass_exists(host, hf_vars, hf_host):
    if hf_host != _first_server(hf_vars):
        return
    runtime = json.loads(host.check_output("k3s kubectl get runtimeclass nvidia -o json"))
    assert runtime["handler"] == "nvidia"


def test_labelled_gpu_nodes_have_allocatable_gpus_and_no_other_node_does(host, hf_vars, hf_host):
    if hf_host != _first_server(hf_vars):
        return  # the cluster is asked once, on the first server
    nodes = json.loads(host.check_output("k3s kubectl get nodes -o json"))["items"]
    for node in nodes:
        labelled = node["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"
        allocatable = int(node["status"]["allocatable"].get("nvidia.com/gpu", "0"))
        assert (allocatable > 0) == labelled, node["metadata"]["name"]


def test_this_hosts_gpus_are_seen(host, hf_vars):
    """The GPUs nvidia-smi lists here are the NVIDIA display devices the PCI bus shows."""
    devices = host.file(f"{hf_vars['nvidia_sysfs_root']}/bus/pci/devices")
    on_bus = 0
    for bus_id in devices.listdir() if devices.exists else []:
        vendor = host.file(f"{devices.path}/{bus_id}/vendor")
        device_class = host.file(f"{devices.path}/{bus_id}/class")
        if vendor.exists and vendor.content_string.strip() == "0x10de":
            on_bus += device_class.content_string.strip().startswith("0x03")
    listed = host.run("nvidia-smi --query-gpu=index --format=csv,noheader")
    assert (len(listed.stdout.split()) if listed.rc == 0 else 0) == on_bus
