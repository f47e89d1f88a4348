"""testinfra suite for the nvidia_driver role (molecule verify and `homeforge verify`).
In the lab the packages, nvidia-smi and the GPUs are STAND-INs (tests/standins/): these
check the role's work (packages, holds, the driver answering for the bus's GPUs)."""

from __future__ import annotations


def _gpus_on_the_bus(host, hf_vars) -> int:
    devices = host.file(f"{hf_vars['nvidia_sysfs_root']}/bus/pci/devices")
    found = 0
    for bus_id in devices.listdir() if devices.exists else []:
        vendor = host.file(f"{devices.path}/{bus_id}/vendor")
        if vendor.exists and vendor.content_string.strip() == "0x10de":
            found += host.file(f"{devices.path}/{bus_id}/class").content_string.startswith("0x03")
    return found


def test_the_driver_packages_are_installed_and_held_only_where_a_gpu_is(host, hf_vars):
    gpus = _gpus_on_the_bus(host, hf_vars)
    held = host.run("apt-mark showhold").stdout.split()
    for name in ["nvidia-driver", "nvidia-smi", "firmware-misc-nonfree"]:
        assert host.package(name).is_installed == bool(gpus), name
        assert (name in held) == bool(gpus), name


def test_nvidia_smi_lists_every_gpu_of_the_bus(host, hf_vars):
    gpus = _gpus_on_the_bus(host, hf_vars)
    if not gpus:
        assert not host.exists("nvidia-smi")
        return
    listed = host.run("nvidia-smi --query-gpu=pci.bus_id,driver_version --format=csv,noheader")
    assert listed.rc == 0, listed.stdout + listed.stderr
    rows = [line.split(", ") for line in listed.stdout.splitlines() if line.strip()]
    assert len(rows) == gpus
    assert all(row[1].startswith(hf_vars["nvidia_driver_branch"] + ".") for row in rows)
