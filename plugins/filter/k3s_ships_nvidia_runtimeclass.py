# Copyright: homeforge maintainers
# Apache License 2.0
"""Whether a K3s release ships the nvidia RuntimeClass (module_utils/k3s.py's release table)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: k3s_ships_nvidia_runtimeclass
short_description: Whether a K3s release applies the nvidia RuntimeClass itself
description:
  - K3s applies a packaged C(runtimes.yaml) (the RuntimeClasses C(nvidia),
    C(nvidia-experimental), C(crun), ...) from v1.28.5+k3s1 and in every minor from 1.29, and
    since the December 2023 backports in v1.27.9+k3s1 and v1.26.12+k3s1; no 1.25 release
    has it.
  - Returns true for a release at or past the first one of its minor that has it (the
    table in the collection's module_utils/k3s.py), so a role adds the RuntimeClass only
    where K3s does not.
  - A value that is not a release version fails with one line.
options:
  _input:
    description: The K3s release, such as C(v1.27.9+k3s1).
    type: str
    required: true
"""

EXAMPLES = r"""
k3s_has_it: "{{ k3s_version | homeforge.homelab.k3s_ships_nvidia_runtimeclass }}"
"""

RETURN = r"""
_value:
  description: True when the release applies the nvidia RuntimeClass.
  type: bool
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils import k3s


def k3s_ships_nvidia_runtimeclass(version):
    try:
        return k3s.ships_nvidia_runtimeclass(version)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"k3s_ships_nvidia_runtimeclass": k3s_ships_nvidia_runtimeclass}
