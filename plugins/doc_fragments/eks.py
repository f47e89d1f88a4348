# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Options shared by the EKS modules (argument spec: module_utils/eks.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  region:
    description: The AWS region the cluster is in.
    type: str
    required: true
  endpoint_url:
    description:
      - Another EKS API endpoint than the region's own (tests point it at moto's server or at
        a stand-in of the EKS add-on API).
    type: str
requirements:
  - boto3
"""
