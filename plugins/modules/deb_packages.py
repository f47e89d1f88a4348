#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0

DOCUMENTATION = r"""
---
module: deb_packages
short_description: Make sure Debian packages are installed, asking dpkg first
description:
  - Asks C(dpkg-query) which of the packages are installed, and does nothing more when all
    are, so a converged host answers in milliseconds instead of opening the apt cache.
  - Installs only the missing ones with C(apt-get install), refreshing the package lists first
    when they are older than O(cache_valid_time) or absent.
  - Does not upgrade or remove packages; use M(ansible.builtin.apt) for that.
  - Supports check mode (reports what would be installed).
version_added: "0.1.0"
author: homeforge maintainers
options:
  names:
    description: Package names (no versions, no globs).
    type: list
    elements: str
    required: true
  cache_valid_time:
    description: Seconds the package lists are trusted before C(apt-get update) runs (only when
      something must be installed).
    type: int
    default: 3600
  install_recommends:
    description: Also install recommended packages (apt's default). Turn off where a package
      recommends heavy extras, e.g. C(wireguard-tools) pulling a DKMS build toolchain.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Base packages
  homeforge.homelab.deb_packages:
    names: [curl, jq, chrony]
"""

RETURN = r"""
missing:
  description: Packages that were not installed before (and were, or would be, installed).
  returned: always
  type: list
  elements: str
  sample: [jq]
cache_updated:
  description: Whether C(apt-get update) ran.
  returned: always
  type: bool
"""

import glob
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$")
LISTS = "/var/lib/apt/lists"
STAMP = "/var/lib/apt/periodic/update-success-stamp"


def installed(module, names):
    """Names dpkg reports as installed ('ii'); unknown names are simply not installed."""
    # dpkg-query exits 1 when some names are unknown: that is an answer, not an error.
    _rc, out, _err = module.run_command(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}|${binary:Package}|${Package}\n", *names],
        environ_update={"LC_ALL": "C"},
    )
    found = set()
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("ii"):
            found.update(parts[1:])
    return found


def lists_age():
    """Seconds since the package lists were refreshed (inf when there are none)."""
    if not glob.glob(os.path.join(LISTS, "*_Packages*")):
        return float("inf")
    stamps = [p for p in (STAMP, LISTS) if os.path.exists(p)]
    return time.time() - max(os.path.getmtime(p) for p in stamps)


def main():
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "cache_valid_time": {"type": "int", "default": 3600},
            "install_recommends": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    names = sorted(set(module.params["names"]))
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        module.fail_json(msg=f"not plain package names: {', '.join(bad)}")

    have = installed(module, names)
    missing = [n for n in names if n not in have]
    result = {"changed": bool(missing), "missing": missing, "cache_updated": False}
    if not missing or module.check_mode:
        module.exit_json(**result)

    env = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    if lists_age() > module.params["cache_valid_time"]:
        rc, _out, err = module.run_command(["apt-get", "update", "-q"], environ_update=env)
        if rc != 0:
            module.fail_json(
                msg=f"apt-get update failed: {err.strip().splitlines()[-1:]}", **result
            )
        result["cache_updated"] = True
    recommends = [] if module.params["install_recommends"] else ["--no-install-recommends"]
    command = ["apt-get", "install", "-y", "-q", *recommends]
    command += ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    rc, _out, err = module.run_command([*command, *missing], environ_update=env)
    if rc != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        module.fail_json(msg=f"apt-get install {' '.join(missing)} failed: {last}", **result)
    still = [n for n in missing if n not in installed(module, missing)]
    if still:
        module.fail_json(
            msg=f"still not installed after apt-get install: {', '.join(still)}", **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
