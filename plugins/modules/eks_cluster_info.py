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
  region:
    description: The AWS region the cluster is in.
    type: str
    required: true
  endpoint_url:
    description: Another EKS API endpoint (tests point it at moto's server).
    type: str
requirements:
  - boto3
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:  # reported by main()
    boto3 = None


def describe(module):
    params = module.params
    client = boto3.client(
        "eks", region_name=params["region"], endpoint_url=params["endpoint_url"] or None
    )
    try:
        return client.describe_cluster(name=params["name"])["cluster"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            module.fail_json(msg=f"EKS cluster {params['name']} not found in {params['region']}")
        module.fail_json(msg=f"EKS cluster {params['name']} in {params['region']}: {code or exc}")
    except NoCredentialsError:
        module.fail_json(
            msg="no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    except BotoCoreError as exc:
        module.fail_json(msg=f"EKS API in {params['region']}: {exc}")


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "region": {"type": "str", "required": True},
            "endpoint_url": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if boto3 is None:
        module.fail_json(msg=missing_required_lib("boto3"))
    cluster = describe(module)
    module.exit_json(
        changed=False,
        endpoint=cluster.get("endpoint", ""),
        certificate_authority=(cluster.get("certificateAuthority") or {}).get("data", ""),
        kubernetes_version=cluster.get("version", ""),
        status=cluster.get("status", ""),
    )


if __name__ == "__main__":
    main()
