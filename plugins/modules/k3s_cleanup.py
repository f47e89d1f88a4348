#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k3s_cleanup
short_description: Remove what K3s leaves in the kernel once its service has stopped
description:
  - Does what K3s's own C(k3s-killall.sh) does after the service stops, without a shell
    (argv only), so a reset host keeps nothing of K3s but what the role's file tasks remove.
  - Kills the container shims K3s leaves running (processes whose executable or command line
    lies under O(data_dir)C(/data/)), unmounts what K3s mounted under its paths (deepest first),
    deletes the C(cni-*) network namespaces, the interfaces attached to C(cni0) and the
    interfaces in O(interfaces), and drops every iptables and ip6tables rule and chain whose
    line matches one of O(rule_patterns) (case-insensitive; the other rules, such as
    homeforge's own WireGuard rules, are written back unchanged).
  - Idempotent, as a clean host has nothing of this and reports no change.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: Reports what it would remove and removes nothing.
  diff_mode:
    support: none
options:
  data_dir:
    description: K3s's data directory (C(--data-dir)).
    type: path
    default: /var/lib/rancher/k3s
  mount_prefixes:
    description: Mount points at or below these paths are unmounted.
    type: list
    elements: path
    default: [/run/k3s, /var/lib/rancher/k3s, /var/lib/kubelet/pods, /var/lib/kubelet/plugins, /run/netns/cni-]
  interfaces:
    description: Interfaces K3s's CNI creates (deleted when present).
    type: list
    elements: str
    default: [cni0, flannel.1, flannel-v6.1, kube-ipvs0, flannel-wg, flannel-wg-v6]
  rule_patterns:
    description: Substrings (case-insensitive) of the iptables-save lines to drop.
    type: list
    elements: str
    default: [KUBE-, CNI-, flannel]
"""

EXAMPLES = r"""
- name: Leave no K3s interfaces, mounts, shims or iptables chains behind
  homeforge.homelab.k3s_cleanup:
  register: leftovers
"""

RETURN = r"""
processes:
  description: PIDs killed (or that would be).
  returned: always
  type: list
  elements: int
unmounted:
  description: Mount points unmounted.
  returned: always
  type: list
  elements: str
namespaces:
  description: Network namespaces deleted.
  returned: always
  type: list
  elements: str
interfaces:
  description: Interfaces deleted.
  returned: always
  type: list
  elements: str
rules:
  description: Number of iptables-save lines dropped, per family (C(ipv4), C(ipv6)).
  returned: always
  type: dict
"""

import contextlib
import json
import os
import signal

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "data_dir": {"type": "path", "default": "/var/lib/rancher/k3s"},
    "mount_prefixes": {
        "type": "list",
        "elements": "path",
        "default": [
            "/run/k3s",
            "/var/lib/rancher/k3s",
            "/var/lib/kubelet/pods",
            "/var/lib/kubelet/plugins",
            "/run/netns/cni-",
        ],
    },
    "interfaces": {
        "type": "list",
        "elements": "str",
        "default": [
            "cni0",
            "flannel.1",
            "flannel-v6.1",
            "kube-ipvs0",
            "flannel-wg",
            "flannel-wg-v6",
        ],
    },
    "rule_patterns": {"type": "list", "elements": "str", "default": ["KUBE-", "CNI-", "flannel"]},
}


def shims(data_dir):
    """PIDs whose executable or first argument lies under DATA/data/ (K3s's unpacked binaries)."""
    prefix = os.path.join(data_dir, "data") + "/"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            exe = ""
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                first = handle.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            first = ""
        if exe.startswith(prefix) or first.startswith(prefix):
            found.append(int(entry))
    return sorted(found)


def unescape_mount(path):
    """/proc/self/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def _below(point, prefix):
    """PREFIX itself or inside it; a prefix ending in '-' or '/' matches names (cni-*)."""
    if prefix.endswith(("-", "/")):
        return point.startswith(prefix)
    return point == prefix or point.startswith(prefix + "/")


def mounts_below(prefixes, mounts_text):
    points = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = unescape_mount(fields[1])
        if any(_below(point, p) for p in prefixes):
            points.append(point)
    # deepest first, each once
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def drop_rules(save_text, patterns):
    """The iptables-save text without the lines matching a pattern, and how many were dropped."""
    lowered = [p.lower() for p in patterns]
    kept, dropped = [], 0
    for line in save_text.splitlines(True):
        if not line.startswith("#") and any(p in line.lower() for p in lowered):
            dropped += 1
        else:
            kept.append(line)
    return "".join(kept), dropped


def links(module):
    ip = module.get_bin_path("ip")
    if ip is None:
        return []
    rc, out, err = module.run_command([ip, "-j", "link", "show"])
    if rc != 0:
        module.fail_json(msg=f"ip -j link show failed: {err.strip()}")
    try:
        return json.loads(out or "[]")
    except ValueError:
        module.fail_json(msg="ip -j link show: output is not JSON")


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    apply = not module.check_mode
    result = {
        "changed": False,
        "processes": [],
        "unmounted": [],
        "namespaces": [],
        "interfaces": [],
        "rules": {},
    }

    result["processes"] = shims(params["data_dir"])
    for pid in result["processes"] if apply else ():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    with open("/proc/self/mounts") as handle:
        result["unmounted"] = mounts_below(params["mount_prefixes"], handle.read())
    umount = module.get_bin_path("umount", required=bool(result["unmounted"]))
    for point in result["unmounted"] if apply else ():
        rc, _out, err = module.run_command([umount, "-f", point])
        if rc != 0 and os.path.ismount(point):
            module.fail_json(msg=f"umount {point} failed: {err.strip()}", **result)

    if os.path.isdir("/run/netns"):
        result["namespaces"] = sorted(n for n in os.listdir("/run/netns") if n.startswith("cni-"))
    for name in result["namespaces"] if apply else ():
        module.run_command([module.get_bin_path("ip", required=True), "netns", "delete", name])

    present = links(module)
    names = {link.get("ifname") for link in present}
    ports = sorted(
        link["ifname"] for link in present if link.get("master") == "cni0" and link.get("ifname")
    )
    result["interfaces"] = ports + [name for name in params["interfaces"] if name in names]
    for name in result["interfaces"] if apply else ():
        rc, _out, err = module.run_command(
            [module.get_bin_path("ip", required=True), "link", "delete", name]
        )
        if rc != 0 and "Cannot find device" not in err:
            module.fail_json(msg=f"ip link delete {name} failed: {err.strip()}", **result)

    for family, save, restore in (
        ("ipv4", "iptables-save", "iptables-restore"),
        ("ipv6", "ip6tables-save", "ip6tables-restore"),
    ):
        save_bin, restore_bin = module.get_bin_path(save), module.get_bin_path(restore)
        if save_bin is None or restore_bin is None:
            continue
        rc, out, err = module.run_command([save_bin])
        if rc != 0:
            module.fail_json(msg=f"{save} failed: {err.strip()}", **result)
        kept, dropped = drop_rules(out, params["rule_patterns"])
        result["rules"][family] = dropped
        if dropped and apply:
            rc, _out, err = module.run_command([restore_bin], data=kept, binary_data=True)
            if rc != 0:
                module.fail_json(msg=f"{restore} failed: {err.strip()}", **result)

    result["changed"] = bool(
        result["processes"]
        or result["unmounted"]
        or result["namespaces"]
        or result["interfaces"]
        or any(result["rules"].values())
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
