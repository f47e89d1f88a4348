# Copyright: homeforge maintainers
# Apache License 2.0
"""NFS exports for the nfs_server role's templates, checked by the same rules as
``homeforge inventory check`` (module_utils/nfs.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: nfs_exports
short_description: The nfs_server role's exports, checked and completed
description:
  - Checks an export list with the rules of the collection's module_utils/nfs.py and
    returns it with every key filled in (clients, options, owner, group, mode, pseudo).
  - Fails with every problem, one per line, when the list breaks a rule.
positional: default_clients, default_options, backend
options:
  _input:
    description: The exports (C(nfs_server_exports)).
    type: list
    elements: dict
    required: true
  default_clients:
    description: Clients of an export that names none.
    type: list
    elements: str
    required: true
  default_options:
    description: Options of an export that names none.
    type: list
    elements: str
    required: true
  backend:
    description: C(kernel) or C(ganesha).
    type: str
    default: kernel
"""

EXAMPLES = r"""
- ansible.builtin.set_fact:
    exports: "{{ nfs_server_exports | homeforge.homelab.nfs_exports(['10.77.0.0/24'], ['rw', 'sync']) }}"
"""

RETURN = r"""
_value:
  description: The exports, each with path, clients, options, owner, group, mode, pseudo and
    (for Ganesha) its settings and kernel line.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils import nfs


def nfs_exports(exports, default_clients, default_options, backend="kernel"):
    defaults = {"options": default_options}
    problems = nfs.exports_problems(exports, default_clients, backend)
    problems += [
        f"default options: {p}"
        for p in nfs.export_problems({"path": "/x", **defaults}, default_clients)
    ]
    if problems:
        raise AnsibleFilterError("nfs_server_exports: " + "; ".join(problems))
    done = nfs.normalise(exports, default_clients, default_options)
    for export, line in zip(done, nfs.kernel_lines(done), strict=True):
        export["kernel_line"] = line
        export["ganesha"] = nfs.ganesha_settings(export)
    return done


class FilterModule:
    def filters(self):
        return {"nfs_exports": nfs_exports}
