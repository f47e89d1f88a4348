#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

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
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
  - homeforge.homelab.wireguard
attributes:
  check_mode:
    support: full
    details: Keys to create or remove are reported, nothing is written; C(wg) need not be
      installed yet.
  diff_mode:
    support: none
    details: The content is preshared keys, which are never shown; RV(fingerprints) tells
      whether two hosts hold the same key.
options:
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
  sample: {lab-2: 3f1c0e9a7b2d4c65}
created:
  description: Peers whose key was created (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [lab-3]
removed:
  description: Peers whose key was removed (or would be).
  returned: always
  type: list
  elements: str
  sample: []
"""

import base64
import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homeforge.homelab.plugins.module_utils.files import (
    SECRET_MODE,
    atomic_write,
    make_private_directory,
)
from ansible_collections.homeforge.homelab.plugins.module_utils.validation import is_peer_name
from ansible_collections.homeforge.homelab.plugins.module_utils.wireguard import (
    checked_interface,
    run_wg,
    wireguard_argument_spec,
)

ARGUMENT_SPEC = {
    **wireguard_argument_spec(),
    "owned": {"type": "list", "elements": "str", "default": []},
    "received": {"type": "list", "elements": "str", "default": []},
    "install": {"type": "dict", "default": {}, "no_log": True},
}


def fingerprint(text):
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def is_wireguard_key(text):
    try:
        return len(base64.b64decode(str(text).strip(), validate=True)) == 32
    except ValueError:
        return False


def check_params(module):
    """Fail on a bad interface or peer name, an unexpected sender or a malformed key."""
    params = module.params
    checked_interface(module)
    for name in params["owned"] + params["received"]:
        if not is_peer_name(name):
            module.fail_json(msg=f"invalid peer name '{name}'")
    for name, key in params["install"].items():
        if name not in params["received"]:
            module.fail_json(msg=f"install: '{name}' is not a peer this host receives a key from")
        if not is_wireguard_key(key):
            module.fail_json(msg=f"install: the key for '{name}' is not a WireGuard key")


def read(path):
    with open(path) as handle:
        return handle.read()


def present_peers(keydir):
    if not os.path.isdir(keydir):
        return set()
    return {f[:-4] for f in os.listdir(keydir) if f.endswith(".psk")}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check_params(module)
    params, check_mode = module.params, module.check_mode
    keydir = os.path.join(params["directory"], f"{params['interface']}.psk.d")
    wanted = set(params["owned"]) | set(params["received"])
    present = present_peers(keydir)
    result = {"changed": False, "fingerprints": {}, "created": [], "removed": []}

    for name in sorted(present - wanted):
        result["removed"].append(name)
        if not check_mode:
            os.unlink(os.path.join(keydir, f"{name}.psk"))
    missing = [n for n in params["owned"] if n not in present]
    result["created"] = missing
    if not check_mode and (missing or params["install"]):
        make_private_directory(keydir)
    for name in [] if check_mode else missing:
        key = run_wg(module, "genpsk").strip()
        module.no_log_values.add(key)
        atomic_write(os.path.join(keydir, f"{name}.psk"), key + "\n")
    for name, key in params["install"].items():
        path = os.path.join(keydir, f"{name}.psk")
        current = read(path) if os.path.exists(path) else ""
        if current.strip() != str(key).strip():
            result["changed"] = True
            if not check_mode:
                atomic_write(path, str(key).strip() + "\n")
    for name in sorted(wanted):
        path = os.path.join(keydir, f"{name}.psk")
        if os.path.exists(path):
            if os.stat(path).st_mode & 0o777 != SECRET_MODE:
                result["changed"] = True
                if not check_mode:
                    os.chmod(path, SECRET_MODE)
            result["fingerprints"][name] = fingerprint(read(path))
    if check_mode:
        for name, key in params["install"].items():
            result["fingerprints"][name] = fingerprint(str(key))
    result["changed"] = bool(result["changed"] or result["created"] or result["removed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
