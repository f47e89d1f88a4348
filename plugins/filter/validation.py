# Copyright: homeforge maintainers
# Apache License 2.0
"""The collection's validation rules as a filter, so roles check values at the point of
use with the same rule ``homeforge inventory check`` applies (module_utils/validation.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: value_problem
short_description: Why a value breaks one of homeforge's validation rules (empty when it does not)
description:
  - Applies the rule of O(kind) from the collection's module_utils/validation.py.
  - Roles use it in C(assert) tasks, so a value reaching a unit file, a config file or a
    command line is checked by the same rule as in C(homeforge inventory check).
positional: kind
options:
  _input:
    description: The value to check.
    type: raw
    required: true
  kind:
    description: >-
      The rule - address, inventory_name, interface_name, cidr, port, unit_name, env_name,
      env_value, url_suffix, absolute_path, bind_value, listen, user_name, device_list,
      apt_source, dns_name, kube_name, email, https_url, iam_role_arn, kms_key_arn, aws_region,
      eks_cluster_name, eks_addon_version, version, sha256, ssm_activation_id,
      ssm_activation_code, iam_ra_node_name, kubelet_flag or base64.
    type: str
    required: true
"""

EXAMPLES = r"""
- ansible.builtin.assert:
    that: ollama_host | homeforge.homelab.value_problem('listen') == ''
"""

RETURN = r"""
_value:
  description: The problem, or an empty string.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils.validation import RULES


def value_problem(value, kind):
    if kind not in RULES:
        raise AnsibleFilterError(
            f"value_problem: unknown rule {kind!r} (known: {', '.join(sorted(RULES))})"
        )
    return RULES[kind](value) or ""


class FilterModule:
    def filters(self):
        return {"value_problem": value_problem}
