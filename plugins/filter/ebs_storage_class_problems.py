# Copyright: homeforge maintainers
# Apache License 2.0
"""The EBS CSI driver's StorageClass rules as a filter, so the ebs_csi role checks its classes
with the rule ``homeforge inventory check`` applies (module_utils/ebs.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ebs_storage_class_problems
short_description: Everything wrong with a list of EBS StorageClasses (empty when nothing is)
description:
  - Applies module_utils/ebs.py to the ebs_csi role's C(ebs_csi_storage_classes) - names,
    keys, policies, parameters the EBS CSI driver does not have, IOPS and throughput outside
    the volume type's limits.
options:
  _input:
    description: The classes, as the role's C(ebs_csi_storage_classes) lists them.
    type: raw
    required: true
"""

EXAMPLES = r"""
- ansible.builtin.assert:
    that: ebs_csi_storage_classes | homeforge.homelab.ebs_storage_class_problems == []
"""

RETURN = r"""
_value:
  description: One line per problem, each naming the class and the key.
  type: list
  elements: str
"""

from ansible_collections.homeforge.homelab.plugins.module_utils import ebs


def ebs_storage_class_problems(classes):
    return ebs.storage_class_problems(classes)


class FilterModule:
    def filters(self):
        return {"ebs_storage_class_problems": ebs_storage_class_problems}
