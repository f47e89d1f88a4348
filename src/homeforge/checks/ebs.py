"""EBS storage (role ebs_csi, when ``homeforge_storage: ebs``): the StorageClasses by the
driver's rules (plugins/module_utils/ebs.py) and the add-on's settings by the shared rules,
for the host the role runs for: the first of group ``eks`` (the add-on) or the first server
(the chart on K3s). The role asserts the same before it applies anything."""

from __future__ import annotations

from homeforge.checks.rules import rule_problems
from homeforge.inventory.groups import server_group
from homeforge.inventory.model import Inventory, is_template
from homeforge.module_utils import load
from homeforge.roles import role_default
from homeforge.validation import (
    absolute_path_problem,
    aws_region_problem,
    eks_addon_version_problem,
    eks_cluster_name_problem,
    https_url_problem,
    iam_role_arn_problem,
    version_problem,
)

STORAGE = "homeforge_storage"
STORAGE_CHOICES = ("ebs", "nfs")
EKS_GROUP = "eks"

# key -> (rule, the variable it falls back to when the inventory does not set it)
ADDON_RULES = {
    "ebs_csi_cluster_name": (eks_cluster_name_problem, "eks_node_cluster_name"),
    "ebs_csi_region": (aws_region_problem, "eks_node_region"),
    "ebs_csi_role_arn": (iam_role_arn_problem, None),
    "ebs_csi_kubeconfig": (absolute_path_problem, None),
    "ebs_csi_addon_version": (eks_addon_version_problem, None),
}


def check_storage_choice(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        value = hvars.get(STORAGE)
        if value is None or is_template(value) or value in STORAGE_CHOICES:
            continue
        problems.append(
            f"{inv.where(host, STORAGE)}: {value!r} is not a storage backend ({', '.join(STORAGE_CHOICES)})"
        )
    return problems


def _value(inv: Inventory, host: str, key: str, fallback: str | None):
    """(the key that holds it, the value) as the role sees it: the inventory's, else the
    variable the role's default refers to, else the default itself."""
    hvars = inv.hostvars[host]
    if key in hvars:
        return key, hvars[key]
    if fallback is not None:
        return (fallback, hvars[fallback]) if fallback in hvars else (key, "")
    return key, role_default("ebs_csi", key)


def check_ebs(inv: Inventory) -> list[str]:
    asking = [h for h, hvars in inv.hostvars.items() if hvars.get(STORAGE) == "ebs"]
    if not asking:
        return []
    install = inv.hostvars[asking[0]].get(
        "ebs_csi_install", role_default("ebs_csi", "ebs_csi_install")
    )
    group = EKS_GROUP if install == "addon" else server_group(inv)
    members = inv.group_members(group)
    if not members:
        return [
            f"{inv.where(asking[0], STORAGE)}: ebs with ebs_csi_install {install} needs a host in group"
            f" {group} (the role runs for its first host)"
        ]
    host = members[0]
    if inv.hostvars[host].get(STORAGE) != "ebs":
        return []  # the role is not run for this cluster
    problems = _class_problems(inv, host)
    if install == "addon":
        for key, (rule, fallback) in ADDON_RULES.items():
            where, value = _value(inv, host, key, fallback)
            if is_template(value):
                continue
            problem = rule(value)
            if problem:
                shown = f"{value!r}: " if value else ""
                problems.append(f"{inv.where(host, where)}: {shown}{problem}")
    else:
        region = inv.hostvars[host].get("ebs_csi_region", "")
        if region and not is_template(region) and aws_region_problem(region):
            problems.append(
                f"{inv.where(host, 'ebs_csi_region')}: {region!r}: {aws_region_problem(region)}"
            )
    return problems


def _class_problems(inv: Inventory, host: str) -> list[str]:
    classes = inv.hostvars[host].get("ebs_csi_storage_classes")
    if classes is None or is_template(classes):
        return []
    load("validation")  # ebs.py checks KMS key ARNs with the shared rule
    rules = load("ebs")
    where = inv.where(host, "ebs_csi_storage_classes")
    return [f"{where}: {problem}" for problem in rules.storage_class_problems(classes)]


# The chart (ebs_csi_install helm): where it comes from, on every host that sets it.
CHART_RULES = {
    "ebs_csi_chart_version": version_problem,
    "ebs_csi_chart_repo": https_url_problem,
}


def check_ebs_chart(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, CHART_RULES)
    return problems


CHECKS = [check_storage_choice, check_ebs, check_ebs_chart]
