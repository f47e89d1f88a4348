#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0

DOCUMENTATION = r"""
---
module: wireguard_psk
short_description: Keep this host's per-peer WireGuard preshared keys; return only fingerprints
description:
  - Each pair of mesh peers shares one preshared key. One side, the pair's owner, creates it
    on its host with C(wg genpsk); the other side receives it through O(install) (the role
    copies it host to host with C(no_log), over Ansible's SSH connections; it is never written
    on the controller).
  - Keys live in C(DIRECTORY/INTERFACE.psk.d/PEER.psk), mode 0600 in a 0700 directory.
    Files for peers in neither O(owned) nor O(received) are removed.
  - Returns, per peer, a fingerprint (the first 16 hex digits of the key's SHA-256) so both
    sides can tell whether they hold the same key without revealing it.
  - Supports check mode (keys to create or remove are reported, nothing is written).
version_added: "0.1.0"
author: homeforge maintainers
options:
  interface:
    description: Interface name, e.g. C(wg0).
    type: str
    default: wg0
  directory:
    description: Where the interface's files live.
    type: path
    default: /etc/wireguard
  owned:
    description: Peers whose preshared key this host creates.
    type: list
    elements: str
    default: []
  received:
    description: Peers whose preshared key this host receives from them.
    type: list
    elements: str
    default: []
  install:
    description: Received keys to write, peer name to key (base64, as C(wg genpsk) prints it).
    type: dict
    default: {}
requirements: [wireguard-tools]
"""

EXAMPLES = r"""
- name: Preshared keys this host owns or has received
  homeforge.homelab.wireguard_psk:
    interface: wg0
    owned: [lab-2, lab-3]
    received: []
  register: psk
"""

RETURN = r"""
fingerprints:
  description: Peer name to the fingerprint of the key this host holds for it.
  returned: always
  type: dict
created:
  description: Peers whose key was created (or would be, in check mode).
  returned: always
  type: list
removed:
  description: Peers whose key was removed (or would be).
  returned: always
  type: list
"""

import base64
import hashlib
import os
import re

from ansible.module_utils.basic import AnsibleModule

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,253}$")


def fingerprint(text):
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def write_key(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text.strip() + "\n")
    os.replace(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec={
            "interface": {"type": "str", "default": "wg0"},
            "directory": {"type": "path", "default": "/etc/wireguard"},
            "owned": {"type": "list", "elements": "str", "default": []},
            "received": {"type": "list", "elements": "str", "default": []},
            "install": {"type": "dict", "default": {}, "no_log": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not re.match(r"^[A-Za-z0-9_=+.-]{1,15}$", params["interface"]):
        module.fail_json(msg=f"invalid interface name '{params['interface']}'")
    for name in params["owned"] + params["received"]:
        if not NAME_RE.match(name):
            module.fail_json(msg=f"invalid peer name '{name}'")
    for name, key in params["install"].items():
        if name not in params["received"]:
            module.fail_json(msg=f"install: '{name}' is not a peer this host receives a key from")
        try:
            if len(base64.b64decode(str(key).strip(), validate=True)) != 32:
                raise ValueError
        except ValueError:
            module.fail_json(msg=f"install: the key for '{name}' is not a WireGuard key")
    keydir = os.path.join(params["directory"], f"{params['interface']}.psk.d")
    wanted = set(params["owned"]) | set(params["received"])
    result = {"changed": False, "fingerprints": {}, "created": [], "removed": []}
    present = (
        {f[:-4] for f in os.listdir(keydir) if f.endswith(".psk")}
        if os.path.isdir(keydir)
        else set()
    )

    for name in sorted(present - wanted):
        result["removed"].append(name)
        if not module.check_mode:
            os.unlink(os.path.join(keydir, f"{name}.psk"))
    missing = [n for n in params["owned"] if n not in present]
    result["created"] = missing
    if not module.check_mode and (missing or params["install"]) and not os.path.isdir(keydir):
        os.makedirs(keydir, mode=0o700)
    for name in missing:
        if module.check_mode:
            continue
        rc, out, err = module.run_command(["wg", "genpsk"])
        if rc != 0:
            module.fail_json(msg=f"wg genpsk failed: {err.strip()}")
        write_key(os.path.join(keydir, f"{name}.psk"), out)
    for name, key in params["install"].items():
        path = os.path.join(keydir, f"{name}.psk")
        current = ""
        if os.path.exists(path):
            with open(path) as handle:
                current = handle.read()
        if current.strip() != str(key).strip():
            result["changed"] = True
            if not module.check_mode:
                write_key(path, str(key))
    for name in sorted(wanted):
        path = os.path.join(keydir, f"{name}.psk")
        if os.path.exists(path):
            if os.stat(path).st_mode & 0o777 != 0o600:
                result["changed"] = True
                if not module.check_mode:
                    os.chmod(path, 0o600)
            with open(path) as handle:
                result["fingerprints"][name] = fingerprint(handle.read())
    if module.check_mode:
        for name in params["install"]:
            result["fingerprints"][name] = fingerprint(str(params["install"][name]))
    result["changed"] = bool(result["changed"] or result["created"] or result["removed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
