#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0

DOCUMENTATION = r"""
---
module: wireguard_host
short_description: Make sure this host has its WireGuard private key; return only the public key
description:
  - Creates the interface's private key on the host (mode 0600, root) when it is absent, with
    C(wg genkey). The private key never leaves the host; only its public key is returned.
  - Also reports the interface's current mesh address from its config, so addresses stay
    stable across runs.
  - With O(rotate=true) a new key replaces the old one (the old one is kept as C(.key.old), 0600).
  - Supports check mode (a missing key is reported as a change; no key is created).
version_added: "0.1.0"
author: homeforge maintainers
options:
  interface:
    description: Interface name, e.g. C(wg0).
    type: str
    default: wg0
  directory:
    description: Where the key and config live.
    type: path
    default: /etc/wireguard
  rotate:
    description: Replace the existing key with a new one.
    type: bool
    default: false
requirements: [wireguard-tools]
"""

EXAMPLES = r"""
- name: Key for wg0
  homeforge.homelab.wireguard_host:
    interface: wg0
  register: wg
"""

RETURN = r"""
public_key:
  description: The interface's public key (empty in check mode when no key exists yet).
  returned: always
  type: str
address:
  description: The interface address in the current config, without prefix (empty if none).
  returned: always
  type: str
key_file:
  description: Path of the private key file.
  returned: always
  type: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule


def public_key(module, key_file):
    with open(key_file, "rb") as handle:
        private = handle.read()
    rc, out, err = module.run_command(["wg", "pubkey"], data=private, binary_data=True)
    if rc != 0:
        module.fail_json(msg=f"wg pubkey failed for {key_file}: {err.strip()}")
    return out.strip()


def current_address(config_file):
    try:
        with open(config_file) as handle:
            for line in handle:
                match = re.match(r"\s*Address\s*=\s*([^/,\s]+)", line)
                if match:
                    return match.group(1)
    except FileNotFoundError:
        pass
    return ""


def main():
    module = AnsibleModule(
        argument_spec={
            "interface": {"type": "str", "default": "wg0"},
            "directory": {"type": "path", "default": "/etc/wireguard"},
            "rotate": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    interface, directory = module.params["interface"], module.params["directory"]
    if not re.match(r"^[A-Za-z0-9_=+.-]{1,15}$", interface):
        module.fail_json(msg=f"invalid interface name '{interface}'")
    key_file = os.path.join(directory, f"{interface}.key")
    result = {
        "changed": False,
        "key_file": key_file,
        "address": current_address(os.path.join(directory, f"{interface}.conf")),
        "public_key": "",
    }
    exists = os.path.exists(key_file)
    if exists and not module.params["rotate"]:
        mode = os.stat(key_file).st_mode & 0o777
        if mode != 0o600 or os.stat(key_file).st_uid != 0:
            result["changed"] = True
            if not module.check_mode:
                os.chown(key_file, 0, 0)
                os.chmod(key_file, 0o600)
        result["public_key"] = public_key(module, key_file)
        module.exit_json(**result)

    result["changed"] = True
    if module.check_mode:
        if exists:
            result["public_key"] = public_key(module, key_file)
        module.exit_json(**result)

    os.makedirs(directory, mode=0o700, exist_ok=True)
    rc, private, err = module.run_command(["wg", "genkey"])
    if rc != 0:
        module.fail_json(msg=f"wg genkey failed: {err.strip()}")
    tmp = os.path.join(directory, f".{interface}.key.tmp")
    old_umask = os.umask(0o077)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private.strip() + "\n")
        if exists:
            os.replace(key_file, key_file + ".old")
        os.replace(tmp, key_file)
    finally:
        os.umask(old_umask)
    result["public_key"] = public_key(module, key_file)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
