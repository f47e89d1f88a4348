#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_addon
short_description: An EKS add-on installed at a version, with its IAM role (IRSA or Pod Identity) and configuration
description:
  - Makes the add-on O(name) of the EKS cluster O(cluster_name) exist at the version asked for,
    with the IAM role it runs as and its configuration values, through the EKS API
    (C(DescribeAddon), C(CreateAddon), C(UpdateAddon), C(DescribeAddonVersions), via boto3 and
    its usual credential chain). It runs where the AWS credentials are, i.e. on the controller.
  - O(version) C(default) is the version EKS marks default for the cluster's Kubernetes version,
    C(latest) the newest version EKS offers for it; with either, an installed add-on is only ever
    moved up to that version, never down. Any other value pins the version, which must be one EKS
    offers for the cluster's Kubernetes version.
  - The IAM role is given either as O(service_account_role_arn) (IAM roles for service accounts,
    IRSA) or as O(pod_identity_associations) (EKS Pod Identity). Switching to IRSA removes the
    add-on's Pod Identity associations. The EKS API cannot unset an IRSA role, so switching to
    Pod Identity leaves the old role ARN on the add-on (a warning says so).
  - Idempotent - nothing is called when the add-on already matches. A cluster that does not exist,
    a version EKS does not offer, missing credentials, an add-on that ends C(CREATE_FAILED),
    C(UPDATE_FAILED) or C(DEGRADED), or one not C(ACTIVE) within O(wait_timeout) fail with one line.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
  - homeforge.homelab.eks
attributes:
  check_mode:
    support: full
    details: Reads the add-on and reports what would change; creates and updates nothing.
  diff_mode:
    support: full
    details: The managed fields before and after.
options:
  cluster_name:
    description: The EKS cluster's name.
    type: str
    required: true
  name:
    description: The add-on's name (e.g. C(aws-ebs-csi-driver)).
    type: str
    required: true
  version:
    description: C(default), C(latest) or an add-on version such as C(v1.46.0-eksbuild.1).
    type: str
    default: default
  service_account_role_arn:
    description: The IAM role the add-on's service account assumes through IRSA.
    type: str
  pod_identity_associations:
    description: EKS Pod Identity associations (the cluster needs the C(eks-pod-identity-agent) add-on).
    type: list
    elements: dict
    suboptions:
      service_account:
        description: The add-on's Kubernetes service account (C(ebs-csi-controller-sa) for the EBS CSI driver).
        type: str
        required: true
      role_arn:
        description: The IAM role the service account's pods get.
        type: str
        required: true
  configuration:
    description:
      - The add-on's configuration values (EKS validates them against C(DescribeAddonConfiguration)).
      - Omitted - the configuration is left as it is; C({}) - none.
    type: dict
  resolve_conflicts:
    description: What EKS does with fields changed in the cluster since EKS last applied them.
    type: str
    choices: [overwrite, none, preserve]
    default: overwrite
  wait:
    description: Wait until the add-on is C(ACTIVE) after a change.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for C(ACTIVE).
    type: int
    default: 900
  wait_delay:
    description: Seconds between two looks at the add-on's status while waiting.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: The EBS CSI driver at EKS's default version for the cluster, with an IRSA role
  homeforge.homelab.eks_addon:
    cluster_name: ml-prod
    region: eu-west-1
    name: aws-ebs-csi-driver
    service_account_role_arn: arn:aws:iam::123456789012:role/ml-prod-ebs-csi
  delegate_to: localhost
  run_once: true

- name: Pinned, with EKS Pod Identity
  homeforge.homelab.eks_addon:
    cluster_name: ml-prod
    region: eu-west-1
    name: aws-ebs-csi-driver
    version: v1.46.0-eksbuild.1
    pod_identity_associations:
      - service_account: ebs-csi-controller-sa
        role_arn: arn:aws:iam::123456789012:role/ml-prod-ebs-csi
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
addon:
  description: The add-on as EKS describes it after the run (in check mode, as it would be).
  returned: success
  type: dict
  contains:
    name: {description: The add-on's name., type: str}
    version: {description: The installed version., type: str}
    status: {description: EKS's status (C(ACTIVE) once usable)., type: str}
    arn: {description: The add-on's ARN (empty in check mode before it exists)., type: str}
    service_account_role_arn: {description: The IRSA role (empty when none)., type: str}
    pod_identity_associations:
      description: The Pod Identity associations, as service account and role.
      type: list
      elements: dict
    configuration: {description: The configuration values., type: dict}
    health_issues: {description: EKS's health issues (code and message)., type: list, elements: dict}
cluster_version:
  description: The cluster's Kubernetes version.
  returned: success
  type: str
"""

import json
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homeforge.homelab.plugins.module_utils.eks import (
    EksError,
    eks_api,
    eks_argument_spec,
)

ARGUMENT_SPEC = {
    **eks_argument_spec(),
    "cluster_name": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "version": {"type": "str", "default": "default"},
    "service_account_role_arn": {"type": "str"},
    "pod_identity_associations": {
        "type": "list",
        "elements": "dict",
        "options": {
            "service_account": {"type": "str", "required": True},
            "role_arn": {"type": "str", "required": True},
        },
    },
    "configuration": {"type": "dict"},
    "resolve_conflicts": {
        "type": "str",
        "choices": ["overwrite", "none", "preserve"],
        "default": "overwrite",
    },
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 900},
    "wait_delay": {"type": "float", "default": 10},
}
TRANSITIONAL = ("CREATING", "UPDATING", "DELETING")
FAILED = ("CREATE_FAILED", "UPDATE_FAILED", "DEGRADED", "DELETE_FAILED")


def version_key(version):
    """``v1.46.0-eksbuild.2`` -> (1, 46, 0, 2), for ordering add-on versions."""
    return tuple(int(n) for n in re.findall(r"[0-9]+", version or ""))


def refused(params):
    """How EKS's own errors read for this add-on: one line naming the call."""

    def line(refusal):
        return (
            f"EKS {refusal.operation} for add-on {params['name']} of cluster"
            f" {params['cluster_name']} in {params['region']}: {refusal.code}: {refusal.message}"
        )

    return line


def describe(api, params):
    """The add-on, or None when the cluster has none of that name."""
    found = api.call(
        "describe_addon",
        not_found=lambda: {"addon": None},
        clusterName=params["cluster_name"],
        addonName=params["name"],
    )
    return found["addon"]


def offered_versions(api, params, kubernetes_version):
    """[(version, default?)] EKS offers for this add-on and Kubernetes version."""
    found = []
    token = None
    while True:
        kwargs = {"addonName": params["name"], "kubernetesVersion": kubernetes_version}
        page = api.call(
            "describe_addon_versions", **kwargs, **({"nextToken": token} if token else {})
        )
        for addon in page.get("addons", []):
            for entry in addon.get("addonVersions", []):
                default = any(
                    c.get("defaultVersion") and c.get("clusterVersion") == kubernetes_version
                    for c in entry.get("compatibilities", [])
                )
                found.append((entry["addonVersion"], default))
        token = page.get("nextToken")
        if not token:
            return found


def associations(api, params, arns):
    """[{service_account, role_arn}] of the add-on's Pod Identity association ARNs."""
    found = []
    for arn in arns or []:
        association = api.call(
            "describe_pod_identity_association",
            clusterName=params["cluster_name"],
            associationId=arn.rsplit("/", 1)[-1],
        )["association"]
        found.append(
            {"service_account": association["serviceAccount"], "role_arn": association["roleArn"]}
        )
    return sorted(found, key=lambda a: a["service_account"])


def desired_version(requested, current, offered, kubernetes_version, name):
    """The version to install: a pin as given; default/latest resolved, never below current."""
    versions = [pair[0] for pair in offered]
    if requested not in ("default", "latest"):
        if requested not in versions:
            shown = ", ".join(sorted(versions, key=version_key, reverse=True)) or "none"
            raise EksError(
                f"add-on {name} has no version {requested} for Kubernetes {kubernetes_version}"
                f" (EKS offers: {shown})"
            )
        return requested
    if not versions:
        raise EksError(
            f"EKS offers no version of add-on {name} for Kubernetes {kubernetes_version}"
        )
    if requested == "latest":
        target = max(versions, key=version_key)
    else:
        defaults = [v for v, is_default in offered if is_default]
        target = defaults[0] if defaults else max(versions, key=version_key)
    if current and version_key(current) >= version_key(target):
        return current  # never moved down
    return target


def _configuration(text):
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"_unparsed": text}
    return parsed if isinstance(parsed, dict) else {"_unparsed": text}


def state_of(addon, associations):
    """The managed fields of an add-on as EKS describes it."""
    return {
        "version": addon.get("addonVersion", ""),
        "service_account_role_arn": addon.get("serviceAccountRoleArn", ""),
        "pod_identity_associations": associations,
        "configuration": _configuration(addon.get("configurationValues")),
    }


def wanted(params, current, version):
    """The managed fields as asked for; what is not asked for stays as it is."""
    want = dict(current) if current else state_of({}, [])
    want["version"] = version
    if params["service_account_role_arn"] is not None:
        want["service_account_role_arn"] = params["service_account_role_arn"]
        want["pod_identity_associations"] = []
    if params["pod_identity_associations"] is not None:
        want["pod_identity_associations"] = sorted(
            (
                {"service_account": a["service_account"], "role_arn": a["role_arn"]}
                for a in params["pod_identity_associations"]
            ),
            key=lambda a: a["service_account"],
        )
    if params["configuration"] is not None:
        want["configuration"] = params["configuration"]
    return want


def request(params, current, want):
    """CreateAddon / UpdateAddon arguments for the fields that differ."""
    args = {"clusterName": params["cluster_name"], "addonName": params["name"]}
    args["resolveConflicts"] = params["resolve_conflicts"].upper()
    creating = current is None
    before = current or {}
    if creating or want["version"] != before.get("version"):
        args["addonVersion"] = want["version"]
    if want["service_account_role_arn"] and want["service_account_role_arn"] != before.get(
        "service_account_role_arn"
    ):
        args["serviceAccountRoleArn"] = want["service_account_role_arn"]
    if want["pod_identity_associations"] != before.get("pod_identity_associations", []):
        args["podIdentityAssociations"] = [
            {"serviceAccount": a["service_account"], "roleArn": a["role_arn"]}
            for a in want["pod_identity_associations"]
        ]
    if want["configuration"] != before.get("configuration", {}) or (
        creating and want["configuration"]
    ):
        args["configurationValues"] = json.dumps(want["configuration"], sort_keys=True)
    return args


def settle(api, params, first):
    """Wait until the add-on leaves CREATING/UPDATING; EksError when it fails or times out."""
    deadline = time.monotonic() + params["wait_timeout"]
    addon = first
    while addon["status"] in TRANSITIONAL:
        if time.monotonic() >= deadline:
            raise EksError(
                f"add-on {params['name']} of cluster {params['cluster_name']} is still {addon['status']}"
                f" after {params['wait_timeout']} s"
            )
        time.sleep(params["wait_delay"])
        addon = describe(api, params)
        if addon is None:
            raise EksError(
                f"add-on {params['name']} of cluster {params['cluster_name']} disappeared"
            )
    if addon["status"] in FAILED:
        issues = "; ".join(
            f"{i.get('code', '?')}: {i.get('message', '')}"
            for i in (addon.get("health") or {}).get("issues", [])
        )
        raise EksError(
            f"add-on {params['name']} of cluster {params['cluster_name']} is {addon['status']}"
            + (f" ({issues})" if issues else "")
        )
    return addon


def shown(addon, state):
    return {
        "name": addon.get("addonName", ""),
        "status": addon.get("status", ""),
        "arn": addon.get("addonArn", ""),
        "health_issues": (addon.get("health") or {}).get("issues", []),
        **state,
    }


def converge(module, api):
    params = module.params
    kubernetes_version = api.cluster(params["cluster_name"])["version"]
    addon = describe(api, params)
    if addon is not None and addon["status"] in TRANSITIONAL and params["wait"]:
        addon = settle(api, params, addon)  # someone else's change first
    current = (
        state_of(addon, associations(api, params, addon.get("podIdentityAssociations")))
        if addon
        else None
    )
    version = desired_version(
        params["version"],
        current and current["version"],
        offered_versions(api, params, kubernetes_version),
        kubernetes_version,
        params["name"],
    )
    want = wanted(params, current, version)
    if (
        current is not None
        and params["pod_identity_associations"] is not None
        and current["service_account_role_arn"]
    ):
        module.warn(
            f"add-on {params['name']} keeps its IRSA role {current['service_account_role_arn']}:"
            " the EKS API cannot unset it (EKS detaches it once the Pod Identity association is in place)"
        )
        want["service_account_role_arn"] = current["service_account_role_arn"]
    changed = current != want
    if not changed and addon["status"] in FAILED:
        settle(api, params, addon)  # fails with EKS's health issues
    result = {"changed": changed, "cluster_version": kubernetes_version}
    if module._diff:
        result["diff"] = {"before": current or {}, "after": want}
    if not changed or module.check_mode:
        result["addon"] = shown(addon or {"addonName": params["name"], "status": "CREATING"}, want)
        return result
    args = request(params, current, want)
    if addon is None:
        api.call("create_addon", **args)
    else:
        api.call("update_addon", **args)
    addon = describe(api, params)
    if params["wait"]:
        addon = settle(api, params, addon)
    result["addon"] = shown(
        addon, state_of(addon, associations(api, params, addon.get("podIdentityAssociations")))
    )
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("service_account_role_arn", "pod_identity_associations")],
        supports_check_mode=True,
    )
    api = eks_api(module, refused(module.params))
    try:
        result = converge(module, api)
    except EksError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
