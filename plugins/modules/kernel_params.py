#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_params
short_description: Set kernel parameters live and persist them in one sysctl.d file
description:
  - Owns one file under C(/etc/sysctl.d/) holding exactly the given parameters, and makes the
    running kernel agree with it, in a single round trip.
  - Compares the desired file and the live values with what is there and does nothing when
    they are equal, so a converged host reports no change.
  - Reads and writes C(/proc/sys) directly (no C(sysctl) binary involved), so names and
    values never pass through a command line.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff is the file's content before and after; live values are listed in RV(live_changed).
options:
  params:
    description:
      - Parameter name (dotted, as C(sysctl) shows it) to value.
      - Names are letters, digits and C(_:@+=-) between dots.
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
from ansible_collections.homeforge.homelab.plugins.module_utils.files import atomic_write
from ansible_collections.homeforge.homelab.plugins.module_utils.validation import is_sysctl_name

ARGUMENT_SPEC = {
    "params": {"type": "dict", "required": True},
    "file": {"type": "path", "default": "/etc/sysctl.d/90-homeforge.conf"},
    "apply_live": {"type": "bool", "default": True},
}
HEADER = "# Managed by homeforge (kernel_params). Local changes are overwritten.\n"
FILE_MODE = 0o644  # sysctl.d files are world-readable, as systemd-sysctl ships them


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


def live_drift(module, params):
    """Names whose running value differs from the desired one (fails on unknown names)."""
    drift = []
    for name in sorted(params):
        live = read(proc_path(name))
        if live is None:
            module.fail_json(msg=f"unknown kernel parameter {name} (no {proc_path(name)})")
        if normalize(live) != normalize(params[name]):
            drift.append(name)
    return drift


def apply(module, params, path, desired, result):
    if result["file_changed"]:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, desired, mode=FILE_MODE)
    for name in result["live_changed"]:
        try:
            with open(proc_path(name), "w") as handle:
                handle.write(normalize(params[name]))
        except OSError as exc:
            module.fail_json(msg=f"cannot set {name}: {exc.strerror} ({proc_path(name)})", **result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params, path = module.params["params"], module.params["file"]
    bad = [name for name in sorted(params) if not is_sysctl_name(name)]
    if bad:
        module.fail_json(msg=f"invalid kernel parameter names: {', '.join(map(repr, bad))}")

    desired = render(params)
    current = read(path)
    file_changed = current != desired
    live_changed = live_drift(module, params) if module.params["apply_live"] else []

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
    if not module.check_mode and result["changed"]:
        apply(module, params, path, desired, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
