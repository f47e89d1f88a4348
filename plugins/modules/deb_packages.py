#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

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
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: Reports the missing packages; installs nothing and does not refresh the lists.
  diff_mode:
    support: none
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
requirements:
  - C(dpkg-query) and C(apt-get) on the managed host (Debian and derivatives).
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

ARGUMENT_SPEC = {
    "names": {"type": "list", "elements": "str", "required": True},
    "cache_valid_time": {"type": "int", "default": 3600},
    "install_recommends": {"type": "bool", "default": True},
}
NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?")
LISTS = "/var/lib/apt/lists"
STAMP = "/var/lib/apt/periodic/update-success-stamp"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


def installed(module, dpkg_query, names):
    """Names dpkg reports as installed ('ii'); unknown names are simply not installed."""
    # dpkg-query exits 1 when some names are unknown: that is an answer, not an error.
    _rc, out, _err = module.run_command(
        [dpkg_query, "-W", "-f=${db:Status-Abbrev}|${binary:Package}|${Package}\n", *names],
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


def last_line(text):
    return (text.strip().splitlines() or ["no output"])[-1]


def install(module, missing, result):
    """apt-get update when the lists are stale, then apt-get install the missing names."""
    apt_get = module.get_bin_path("apt-get", required=True)
    if lists_age() > module.params["cache_valid_time"]:
        rc, _out, err = module.run_command([apt_get, "update", "-q"], environ_update=APT_ENV)
        if rc != 0:
            module.fail_json(msg=f"apt-get update failed: {last_line(err)}", **result)
        result["cache_updated"] = True
    recommends = [] if module.params["install_recommends"] else ["--no-install-recommends"]
    command = [apt_get, "install", "-y", "-q", *recommends]
    command += ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    rc, _out, err = module.run_command([*command, *missing], environ_update=APT_ENV)
    if rc != 0:
        module.fail_json(
            msg=f"apt-get install {' '.join(missing)} failed: {last_line(err)}", **result
        )


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    names = sorted(set(module.params["names"]))
    bad = [n for n in names if not NAME_RE.fullmatch(n)]
    if bad:
        module.fail_json(msg=f"not plain package names: {', '.join(bad)}")

    dpkg_query = module.get_bin_path("dpkg-query", required=True)
    have = installed(module, dpkg_query, names)
    missing = [n for n in names if n not in have]
    result = {"changed": bool(missing), "missing": missing, "cache_updated": False}
    if not missing or module.check_mode:
        module.exit_json(**result)

    install(module, missing, result)
    still = [n for n in missing if n not in installed(module, dpkg_query, missing)]
    if still:
        module.fail_json(
            msg=f"still not installed after apt-get install: {', '.join(still)}", **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
