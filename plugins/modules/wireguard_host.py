#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

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
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
  - homeforge.homelab.wireguard
attributes:
  check_mode:
    support: full
    details: A missing key is reported as a change and no key is created; C(wg) need not be
      installed yet.
  diff_mode:
    support: none
    details: The only content is a private key, which is never shown.
options:
  rotate:
    description: Replace the existing key with a new one.
    type: bool
    default: false
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
from ansible_collections.homeforge.homelab.plugins.module_utils.files import (
    SECRET_MODE,
    atomic_write,
    make_private_directory,
)
from ansible_collections.homeforge.homelab.plugins.module_utils.wireguard import (
    checked_interface,
    run_wg,
    wireguard_argument_spec,
)

ARGUMENT_SPEC = {
    **wireguard_argument_spec(),
    "rotate": {"type": "bool", "default": False},
}
ADDRESS_RE = re.compile(r"\s*Address\s*=\s*([^/,\s]+)")


def public_key(module, key_file):
    with open(key_file, "rb") as handle:
        private = handle.read()
    return run_wg(module, "pubkey", data=private, context=f" for {key_file}").strip()


def current_address(config_file):
    try:
        with open(config_file) as handle:
            for line in handle:
                match = ADDRESS_RE.match(line)
                if match:
                    return match.group(1)
    except FileNotFoundError:
        pass
    return ""


def is_private(path):
    """The key file is 0600 and root's."""
    info = os.stat(path)
    return info.st_mode & 0o777 == SECRET_MODE and info.st_uid == 0


def new_key(module, key_file, exists):
    """A fresh private key in key_file; the previous one, if any, kept as .old (0600)."""
    make_private_directory(os.path.dirname(key_file))
    private = run_wg(module, "genkey").strip()
    module.no_log_values.add(private)
    if exists:
        with open(key_file, "rb") as handle:
            atomic_write(key_file + ".old", handle.read())
    atomic_write(key_file, private + "\n")


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    interface = checked_interface(module)
    directory = module.params["directory"]
    key_file = os.path.join(directory, f"{interface}.key")
    result = {
        "changed": False,
        "key_file": key_file,
        "address": current_address(os.path.join(directory, f"{interface}.conf")),
        "public_key": "",
    }
    exists = os.path.exists(key_file)
    if exists and not module.params["rotate"]:
        if not is_private(key_file):
            result["changed"] = True
            if not module.check_mode:
                os.chown(key_file, 0, 0)
                os.chmod(key_file, SECRET_MODE)
        result["public_key"] = public_key(module, key_file)
        module.exit_json(**result)

    result["changed"] = True
    if module.check_mode:
        if exists:
            result["public_key"] = public_key(module, key_file)
        module.exit_json(**result)

    new_key(module, key_file, exists)
    result["public_key"] = public_key(module, key_file)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
