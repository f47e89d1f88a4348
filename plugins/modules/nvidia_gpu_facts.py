#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_gpu_facts
short_description: Gather facts about the host's NVIDIA GPUs from the PCI bus and nvidia-smi
description:
  - Lists the NVIDIA display controllers on the PCI bus (sysfs, PCI vendor C(0x10de), class
    C(0x03xxxx), i.e. VGA and 3D controllers; the GPUs' HDMI audio functions and bridges are
    left out) whether or not a driver is loaded.
  - When there is at least one, or when nvidia-smi is installed anyway, runs nvidia-smi
    twice (C(--query-gpu=index,name,memory.total,driver_version,pci.bus_id
    --format=csv,noheader,nounits) and C(-q -x)) for each GPU's index, name, memory and PCI
    bus id, the driver version and the highest CUDA version the driver supports.
    nvidia-smi's bus ids (C(00000000:01:00.0)) are given in sysfs's form
    (C(0000:01:00.0)), so they match RV(ansible_facts.nvidia_pci_devices[].bus_id).
    No serial numbers or UUIDs are gathered.
  - Never changes anything. nvidia-smi failing (e.g. exit 9, no driver loaded) or missing
    is not a failure of the task; it gives RV(ansible_facts.nvidia_driver_loaded=false)
    and nvidia-smi's first line (or that it is not installed) in RV(message). Output that
    nvidia-smi should not print fails the task, naming the command and the line.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: It only reads; check mode gathers the same facts.
  diff_mode:
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
options:
  sysfs_root:
    description:
      - Where sysfs is mounted; devices are read from O(sysfs_root)C(/bus/pci/devices).
      - Other than C(/sys) only for tests and the lab, which point it at a fake tree.
    type: path
    default: /sys
  nvidia_smi:
    description:
      - The nvidia-smi program to run. By default C(nvidia-smi) on the PATH, then
        C(/usr/bin/nvidia-smi).
      - Tests and the lab point it at the nvidia-smi stand-in.
    type: path
  required:
    description:
      - Fail when no NVIDIA GPU is found on the PCI bus (for plays that only make sense on a
        GPU host). Otherwise such a host gets empty facts and RV(gpu_count=0).
    type: bool
    default: false
notes:
  - The XML report's DTD (C(nvsmi_device_v*.dtd)) is not shipped with nvidia-smi and is never
    fetched; a report declaring entities is refused.
"""

EXAMPLES = r"""
- name: NVIDIA GPUs and driver
  homeforge.homelab.nvidia_gpu_facts:

- name: Stop on a host that should have a GPU but shows none on its PCI bus
  homeforge.homelab.nvidia_gpu_facts:
    required: true

- name: Name the hosts with a GPU on the bus but no driver answering
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ ansible_facts.nvidia_pci_devices | length }} GPU(s), no driver"
  when:
    - ansible_facts.nvidia_pci_devices | length > 0
    - not ansible_facts.nvidia_driver_loaded

- name: Lab host, against the nvidia-smi stand-in and a fake sysfs tree
  homeforge.homelab.nvidia_gpu_facts:
    sysfs_root: /srv/fake-sys
    nvidia_smi: /usr/local/bin/nvidia-smi-standin
"""

RETURN = r"""
gpu_count:
  description:
    - The number of NVIDIA GPUs. The GPUs nvidia-smi reports when the driver answers,
      otherwise the NVIDIA display controllers on the PCI bus.
  returned: always
  type: int
  sample: 2
message:
  description:
    - What was found, in words; when a GPU is there but nvidia-smi fails, nvidia-smi's first
      line; when nvidia-smi is missing, that it is not installed.
  returned: always
  type: str
  sample: 2 NVIDIA GPUs, driver 550.127.05, CUDA 12.4
ansible_facts:
  description: Facts about the host's NVIDIA GPUs.
  returned: always
  type: dict
  contains:
    nvidia_pci_devices:
      description: NVIDIA display controllers on the PCI bus, by bus id.
      returned: always
      type: list
      elements: dict
      contains:
        bus_id:
          description: The device's PCI address as sysfs names it.
          type: str
          sample: "0000:01:00.0"
        device_id:
          description: The PCI device id.
          type: str
          sample: "0x2204"
        class:
          description: The PCI class code (C(0x0300xx) VGA, C(0x0302xx) 3D controller).
          type: str
          sample: "0x030000"
        driver:
          description: The kernel driver bound to the device (C(nvidia), C(nouveau),
            C(vfio-pci)), or null when none is.
          type: str
          sample: nvidia
    nvidia_gpus:
      description: The GPUs nvidia-smi reports (empty when it is missing or fails).
      returned: always
      type: list
      elements: dict
      contains:
        index:
          description: nvidia-smi's index for the GPU (as in C(CUDA_VISIBLE_DEVICES)).
          type: int
          sample: 0
        name:
          description: The product name.
          type: str
          sample: NVIDIA GeForce RTX 3090
        memory_total_mib:
          description: Total framebuffer memory in MiB, or null when nvidia-smi reports none.
          type: int
          sample: 24576
        driver_version:
          description: The driver version nvidia-smi reports for the GPU.
          type: str
          sample: 550.127.05
        pci_bus_id:
          description: The GPU's PCI address in sysfs's form (matches a bus_id above).
          type: str
          sample: "0000:01:00.0"
    nvidia_driver_version:
      description: The NVIDIA driver's version, or null when no driver answered.
      returned: always
      type: str
      sample: 550.127.05
    nvidia_cuda_version:
      description:
        - The highest CUDA version the driver supports, or null when no driver answered or
          the report has none (drivers before 410 print none).
      returned: always
      type: str
      sample: "12.4"
    nvidia_driver_loaded:
      description: Whether nvidia-smi ran and got answers from the driver.
      returned: always
      type: bool
      sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homeforge.homelab.plugins.module_utils.nvidia import (
    QUERY_ARGS,
    XML_ARGS,
    NvidiaSmiParseError,
    first_line,
    no_device_message,
    parse_query_csv,
    parse_xml_report,
    scan_pci,
    summary,
)

DEFAULT_NVIDIA_SMI = "/usr/bin/nvidia-smi"


def _find_nvidia_smi(module):
    """(path or None, what was looked for)."""
    given = module.params["nvidia_smi"]
    if given:
        return (given if os.path.isfile(given) else None), given
    found = module.get_bin_path("nvidia-smi")
    if found:
        return found, found
    if os.path.isfile(DEFAULT_NVIDIA_SMI):
        return DEFAULT_NVIDIA_SMI, DEFAULT_NVIDIA_SMI
    return None, f"nvidia-smi on the PATH or {DEFAULT_NVIDIA_SMI}"


def _run(module, program, args):
    """(rc, out, err) of ``program args`` (an argv list, never a shell)."""
    return module.run_command([program, *args], check_rc=False)


def _parse(module, program, args, parser, out):
    try:
        return parser(out)
    except NvidiaSmiParseError as exc:
        module.fail_json(msg=f"{program} {' '.join(args)}: unexpected output: {exc}")


def gather(module):
    params = module.params
    devices = scan_pci(params["sysfs_root"])
    facts = {
        "nvidia_pci_devices": devices,
        "nvidia_gpus": [],
        "nvidia_driver_version": None,
        "nvidia_cuda_version": None,
        "nvidia_driver_loaded": False,
    }
    result = {"changed": False, "ansible_facts": facts, "gpu_count": len(devices)}
    if not devices and params["required"]:
        module.fail_json(msg=no_device_message(params["sysfs_root"], where=True), **result)

    program, looked_for = _find_nvidia_smi(module)
    if program is None:
        if devices:
            result["message"] = (
                f"{summary(devices, None, None)} on the PCI bus, but nvidia-smi is not "
                f"installed ({looked_for} not found)"
            )
        else:
            result["message"] = no_device_message()
        return result

    rc, out, err = _run(module, program, QUERY_ARGS)
    if rc == 0:
        gpus = _parse(module, program, QUERY_ARGS, parse_query_csv, out)
        rc, out, err = _run(module, program, XML_ARGS)
    if rc != 0:
        if devices:
            result["message"] = first_line(out, err) or f"{program} exited with {rc}"
        else:
            result["message"] = no_device_message()
        return result

    report = _parse(module, program, XML_ARGS, parse_xml_report, out)
    driver = report["driver_version"] or next(
        (gpu["driver_version"] for gpu in gpus if gpu["driver_version"]), None
    )
    facts.update(
        nvidia_gpus=gpus,
        nvidia_driver_version=driver,
        nvidia_cuda_version=report["cuda_version"],
        nvidia_driver_loaded=True,
    )
    result["gpu_count"] = len(gpus)
    if gpus or devices:
        result["message"] = summary(gpus, driver, report["cuda_version"])
    else:
        result["message"] = no_device_message()
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "sysfs_root": {"type": "path", "default": "/sys"},
            "nvidia_smi": {"type": "path"},
            "required": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    module.exit_json(**gather(module))


if __name__ == "__main__":
    main()
