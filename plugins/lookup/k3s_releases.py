# Copyright: homeforge maintainers
# Apache License 2.0
"""The K3s releases an airgap directory holds, one directory per version."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: k3s_releases
short_description: The K3s releases an airgap directory on the controller holds
description:
  - An airgap directory (C(k3s_artifacts_dir)) holds one release, its files at the top, or
    several, each in a directory named by its version (C(DIR/v1.32.13+k3s1/)).
  - Returns the versions of those directories (symbolic links to directories count), in
    version order; an entry whose name is not a K3s version is not a release. Empty for a
    directory that holds one release at its top.
  - Fails when the path is not an absolute path to a directory on the controller.
options:
  _terms:
    description: The airgap directory (one path).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
held: "{{ query('homeforge.homelab.k3s_releases', k3s_artifacts_dir) }}"
"""

RETURN = r"""
_raw:
  description: The versions, oldest first, such as C(v1.31.4+k3s1).
  type: list
  elements: str
"""

import os
import re

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.homeforge.homelab.plugins.module_utils.k3s import VERSION_RE


def releases(directory):
    """The version directories of ``directory``, oldest first."""
    if not isinstance(directory, str) or not os.path.isabs(directory):
        raise ValueError(f"{directory!r} is not an absolute path")
    if not os.path.isdir(directory):
        raise ValueError(f"{directory} is not a directory on the controller")
    found = []
    for name in os.listdir(directory):
        if VERSION_RE.match(name) and os.path.isdir(os.path.join(directory, name)):
            found.append((tuple(int(n) for n in re.findall(r"[0-9]+", name)), name))
    return [name for _key, name in sorted(found)]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("k3s_releases: give one directory")
        try:
            return releases(terms[0])
        except (ValueError, OSError) as problem:
            raise AnsibleLookupError(f"k3s: k3s_artifacts_dir: {problem}") from None
