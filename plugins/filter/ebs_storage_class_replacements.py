# Copyright: homeforge maintainers
# Apache License 2.0
"""Which StorageClasses must be replaced rather than updated (module_utils/ebs.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ebs_storage_class_replacements
short_description: Names of existing StorageClasses whose immutable fields differ from the desired ones
description:
  - The API server refuses to change a StorageClass's C(parameters), C(provisioner),
    C(reclaimPolicy) or C(volumeBindingMode). This filter compares the classes the cluster
    has (C(kubernetes.core.k8s_info) resources) with the desired objects and returns the
    names to delete before they are applied again. Volumes already provisioned keep theirs.
options:
  _input:
    description: The StorageClasses the cluster has.
    type: list
    elements: dict
    required: true
  desired:
    description: The StorageClass objects to apply.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
replace: "{{ existing.resources | homeforge.homelab.ebs_storage_class_replacements(objects) }}"
"""

RETURN = r"""
_value:
  description: StorageClass names.
  type: list
  elements: str
"""

from ansible_collections.homeforge.homelab.plugins.module_utils import ebs


def ebs_storage_class_replacements(existing, desired):
    return ebs.replacements(existing, desired)


class FilterModule:
    def filters(self):
        return {"ebs_storage_class_replacements": ebs_storage_class_replacements}
