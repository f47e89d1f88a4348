"""EKS Hybrid Nodes (role eks_node): where nodeadm comes from, what it is checked against
and the directory it is installed to, by the shared rules the role applies again before
it installs anything (the version names that directory and is part of the URL); and the
NodeConfig's credentials, kubelet flags and CA by the rules nodeadm itself applies."""

from __future__ import annotations

import re

from homeforge.checks.rules import list_problems, rule_problems
from homeforge.inventory.model import Inventory, is_template
from homeforge.roles import role_default
from homeforge.validation import (
    absolute_path_problem,
    base64_problem,
    https_url_problem,
    iam_ra_node_name_problem,
    kubelet_flag_problem,
    sha256_problem,
    ssm_activation_code_problem,
    ssm_activation_id_problem,
    version_problem,
)


def nodeadm_url_problem(value: object) -> str | None:
    """An https URL in which ``{arch}`` stands for amd64 or arm64."""
    return https_url_problem(value.replace("{arch}", "amd64") if isinstance(value, str) else value)


def kubernetes_minor_problem(value: object) -> str | None:
    """The cluster's Kubernetes minor version, such as 1.31 (nodeadm installs by it)."""
    problem = version_problem(value)
    if problem is None and not re.fullmatch(r"1\.[0-9]{2}", str(value)):
        problem = (
            "must be a Kubernetes minor version such as '1.31' (quote it: 1.30 is read as 1.3)"
        )
    return problem


RULES = {
    "eks_node_nodeadm_version": version_problem,
    "eks_node_kubernetes_version": kubernetes_minor_problem,
    "eks_node_nodeadm_url": nodeadm_url_problem,
}
OPTIONAL_RULES = {  # empty: not used (the role requires the digest before it installs)
    "eks_node_artifacts_dir": absolute_path_problem,
    "eks_node_nodeadm_sha256": sha256_problem,
}
# What nodeadm refuses in the NodeConfig (aws/eks-hybrid internal/node/hybrid/validator.go;
# the rules in plugins/module_utils/validation.py). Empty: not used.
NODEADM_RULES = {
    "eks_node_ssm_activation_id": ssm_activation_id_problem,
    "eks_node_iam_ra_node_name": iam_ra_node_name_problem,
}
# Checked without repeating the value: a secret, and a CA of a thousand characters and
# more (empty: looked up with the EKS API).
UNSHOWN_RULES = {
    "eks_node_ssm_activation_code": ssm_activation_code_problem,
    "eks_node_certificate_authority": base64_problem,
}


def check_eks_node(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, {**RULES, **OPTIONAL_RULES}, OPTIONAL_RULES)
    return problems


def check_nodeadm_inputs(inv: Inventory) -> list[str]:
    """The NodeConfig's values by nodeadm's own rules; the activation code (a secret) by
    its length only, never shown."""
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, NODEADM_RULES, NODEADM_RULES)
        problems += list_problems(inv, host, "eks_node_kubelet_flags", kubelet_flag_problem)
        for key, rule in UNSHOWN_RULES.items():
            value = hvars.get(key)
            if value in (None, "") or is_template(value):
                continue
            problem = rule(value)
            if problem:
                problems.append(f"{inv.where(host, key)}: {problem}")
        problems += _node_name_problems(inv, host, hvars)
    return problems


def _node_name_problems(inv: Inventory, host: str, hvars) -> list[str]:
    """With IAM Roles Anywhere and no eks_node_iam_ra_node_name the node takes the host's
    inventory name, which nodeadm takes only up to 64 characters."""
    provider = hvars.get(
        "eks_node_credential_provider", role_default("eks_node", "eks_node_credential_provider")
    )
    if (
        provider != "iam-ra"
        or hvars.get("eks_node_iam_ra_node_name")
        or host not in inv.group_members("eks")
        or iam_ra_node_name_problem(host) is None
    ):
        return []
    return [
        f"{inv.where(host, 'eks_node_iam_ra_node_name')}: empty, so the node is named after"
        f" the host: {iam_ra_node_name_problem(host)}; set a shorter eks_node_iam_ra_node_name"
    ]


CHECKS = [check_eks_node, check_nodeadm_inputs]
