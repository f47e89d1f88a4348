"""EKS Hybrid Nodes (role eks_node): where nodeadm comes from, what it is checked against
and the directory it is installed to, by the shared rules the role applies again before
it installs anything (the version names that directory and is part of the URL)."""

from __future__ import annotations

import re

from homeforge.checks.rules import rule_problems
from homeforge.inventory.model import Inventory
from homeforge.validation import (
    absolute_path_problem,
    https_url_problem,
    sha256_problem,
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


def check_eks_node(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, {**RULES, **OPTIONAL_RULES}, OPTIONAL_RULES)
    return problems


CHECKS = [check_eks_node]
