#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_cluster_info
short_description: An EKS cluster's API endpoint, certificate authority and version, from the AWS API
description:
  - Asks the EKS API (C(DescribeCluster), through boto3 and its usual credential chain of
    environment, profile and instance role) for the cluster O(name) in O(region) and returns
    its API server endpoint, certificate authority data, Kubernetes version and status, for a
    hybrid node's C(NodeConfig).
  - A cluster that does not exist fails with one line naming it and the region; so do missing
    credentials and a missing boto3.
  - Read-only; it runs where the AWS credentials are, i.e. on the controller (delegated to localhost).
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
  - homeforge.homelab.eks
attributes:
  check_mode:
    support: full
    details: It only reads; check mode returns the same.
  diff_mode:
    support: none
options:
  name:
    description: The EKS cluster's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Where the cluster's API is
  homeforge.homelab.eks_cluster_info:
    name: ml-prod
    region: eu-west-1
  delegate_to: localhost
  run_once: true
  register: cluster
"""

RETURN = r"""
endpoint:
  description: The API server's URL.
  returned: success
  type: str
certificate_authority:
  description: The cluster CA certificate, base64 (as C(certificateAuthority) in a NodeConfig).
  returned: success
  type: str
kubernetes_version:
  description: The cluster's Kubernetes version (major.minor).
  returned: success
  type: str
status:
  description: The cluster's status (C(ACTIVE) once usable).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homeforge.homelab.plugins.module_utils.eks import (
    EksError,
    eks_api,
    eks_argument_spec,
)

ARGUMENT_SPEC = {
    **eks_argument_spec(),
    "name": {"type": "str", "required": True},
}


def refused(params):
    """How EKS's own errors read: one line naming the cluster and the region."""
    return lambda refusal: (
        f"EKS cluster {params['name']} in {params['region']}: {refusal.code or refusal.text}"
    )


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    api = eks_api(module, refused(module.params))
    try:
        cluster = api.cluster(module.params["name"])
    except EksError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=False,
        endpoint=cluster.get("endpoint", ""),
        certificate_authority=(cluster.get("certificateAuthority") or {}).get("data", ""),
        kubernetes_version=cluster.get("version", ""),
        status=cluster.get("status", ""),
    )


if __name__ == "__main__":
    main()
