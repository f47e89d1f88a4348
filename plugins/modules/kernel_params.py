#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0

DOCUMENTATION = r"""
---
module: kernel_params
short_description: Set kernel parameters live and persist them in one sysctl.d file
description:
  - Owns one file under C(/etc/sysctl.d/) holding exactly the given parameters, and makes the
    running kernel agree with it, in a single round trip.
  - Compares the desired file and the live values with what is there and does nothing when
    they are equal, so a converged host reports no change.
  - Supports check mode and diff mode (the file's before and after).
version_added: "0.1.0"
author: homeforge maintainers
options:
  params:
    description: Parameter name (dotted, as C(sysctl) shows it) to value.
    type: dict
    required: true
  file:
    description: The sysctl.d file this module owns.
    type: path
    default: /etc/sysctl.d/90-homeforge.conf
  apply_live:
    description: Also set the running kernel's values (not only the file).
    type: bool
    default: true
notes:
  - Inside a container, network parameters are writable only when the runtime leaves
    C(/proc/sys) writable for the container's network namespace.
"""

EXAMPLES = r"""
- name: Forwarding for K3s and WireGuard
  homeforge.homelab.kernel_params:
    params:
      net.ipv4.ip_forward: 1
      net.ipv6.conf.all.forwarding: 1
"""

RETURN = r"""
file_changed:
  description: Whether the file was (or would be) rewritten.
  returned: always
  type: bool
live_changed:
  description: Parameters whose running value was (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: [net.ipv4.ip_forward]
"""

import os

from ansible.module_utils.basic import AnsibleModule

HEADER = "# Managed by homeforge (kernel_params). Local changes are overwritten.\n"


def proc_path(name):
    return os.path.join("/proc/sys", *name.split("."))


def normalize(value):
    """sysctl prints multi-value parameters separated by tabs; compare on words."""
    if isinstance(value, bool):
        value = int(value)
    return " ".join(str(value).split())


def render(params):
    return HEADER + "".join(f"{name}={normalize(params[name])}\n" for name in sorted(params))


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def main():
    module = AnsibleModule(
        argument_spec={
            "params": {"type": "dict", "required": True},
            "file": {"type": "path", "default": "/etc/sysctl.d/90-homeforge.conf"},
            "apply_live": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params, path = module.params["params"], module.params["file"]

    desired = render(params)
    current = read(path)
    file_changed = current != desired

    live_changed = []
    if module.params["apply_live"]:
        for name in sorted(params):
            live = read(proc_path(name))
            if live is None:
                module.fail_json(msg=f"unknown kernel parameter {name} (no {proc_path(name)})")
            if normalize(live) != normalize(params[name]):
                live_changed.append(name)

    result = {
        "changed": file_changed or bool(live_changed),
        "file_changed": file_changed,
        "live_changed": live_changed,
    }
    if module._diff and file_changed:
        result["diff"] = {
            "before": current or "",
            "after": desired,
            "before_header": path,
            "after_header": path,
        }
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)

    if file_changed:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
        with open(tmp, "w") as handle:
            handle.write(desired)
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
    for name in live_changed:
        try:
            with open(proc_path(name), "w") as handle:
                handle.write(normalize(params[name]))
        except OSError as exc:
            module.fail_json(msg=f"cannot set {name}: {exc.strerror} ({proc_path(name)})", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
