"""testinfra suite for the nvidia_container_toolkit role (molecule verify and `homeforge
verify`). In the lab the packages and K3s are STAND-INs (tests/standins/): these check the
role's work (pinned and held packages, the runtime on the PATH, K3s's own containerd
configuration carrying the nvidia runtime), not NVIDIA's toolkit."""

from __future__ import annotations

import re

PACKAGES = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)
K3S_CONTAINERD = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"


def _has_gpu(host, hf_vars) -> bool:
    devices = host.file(f"{hf_vars['nvidia_sysfs_root']}/bus/pci/devices")
    for bus_id in devices.listdir() if devices.exists else []:
        vendor = host.file(f"{devices.path}/{bus_id}/vendor")
        if vendor.exists and vendor.content_string.strip() == "0x10de":
            return True
    return False


def test_the_toolkit_is_pinned_and_held_only_where_a_gpu_is(host, hf_vars):
    gpu = _has_gpu(host, hf_vars)
    held = host.run("apt-mark showhold").stdout.split()
    for name in PACKAGES:
        package = host.package(name)
        assert package.is_installed == gpu, name
        if gpu:
            assert package.version == hf_vars["nvidia_container_toolkit_version"]
            assert name in held
    assert host.exists("nvidia-container-runtime") == gpu


def test_k3s_found_the_runtime_itself_and_no_containerd_config_was_edited(host, hf_vars):
    assert not host.file("/etc/containerd/config.toml").exists  # no nvidia-ctk runtime configure
    if not _has_gpu(host, hf_vars) or not host.file(K3S_CONTAINERD).exists:
        return  # no K3s on this host (molecule), or no GPU
    config = host.file(K3S_CONTAINERD).content_string
    # containerd config version 3 (K3s v1.32.2 on): runtimes.'nvidia'; version 2: runtimes."nvidia"
    assert (
        re.search(r"runtimes\.[\"']nvidia[\"']\]", config) and "nvidia-container-runtime" in config
    )
