"""The NFS server's exports and the NFS provisioner's server and share, by the rules
the roles apply again before writing anything (plugins/module_utils/nfs.py)."""

from __future__ import annotations

import re

from homeforge import validation
from homeforge.checks.rules import rule_problems
from homeforge.inventory.model import Inventory, is_template
from homeforge.module_utils import load

SUB_DIR = re.compile(r"([A-Za-z0-9_.-]|\$\{pvc?\.metadata\.(name|namespace)\})+")


def sub_dir_problem(value: object) -> str | None:
    """The driver's subDir: a directory name under the share, with its placeholders."""
    if not isinstance(value, str) or not SUB_DIR.fullmatch(value) or ".." in value:
        return (
            "letters, digits, _.- and ${pvc.metadata.name}, ${pvc.metadata.namespace}, "
            "${pv.metadata.name}; one directory, no '..'"
        )
    return None


def chart_version_problem(value: object) -> str | None:
    if not re.fullmatch(r"v?[0-9]+\.[0-9]+\.[0-9]+", str(value)):
        return "a chart version X.Y.Z"
    return None


PROVISIONER_RULES = {
    "nfs_provisioner_server": validation.address_problem,
    "nfs_provisioner_share": validation.absolute_path_problem,
    "nfs_provisioner_storage_class": validation.kube_name_problem,
    "nfs_provisioner_repo": validation.https_url_problem,
    "nfs_provisioner_sub_dir": sub_dir_problem,
    "nfs_provisioner_chart_version": chart_version_problem,
}


def check_nfs_server(inv: Inventory) -> list[str]:
    nfs = load("nfs")
    problems = []
    for host, hvars in inv.hostvars.items():
        backend = hvars.get("nfs_server_backend", "kernel")
        if not is_template(backend) and backend not in nfs.BACKENDS:
            problems.append(
                f"{inv.where(host, 'nfs_server_backend')}: {backend!r}: one of {', '.join(nfs.BACKENDS)}"
            )
            continue
        clients = hvars.get("nfs_server_clients", ["10.77.0.0/24"])
        if "nfs_server_clients" in hvars and not is_template(clients):
            if not isinstance(clients, list) or not clients:
                problems.append(f"{inv.where(host, 'nfs_server_clients')}: a non-empty list")
                continue
            for client in clients:
                problem = nfs.client_problem(client)
                if problem and not is_template(client):
                    problems.append(
                        f"{inv.where(host, 'nfs_server_clients')}: {client!r}: {problem}"
                    )
        options = hvars.get("nfs_server_export_options")
        if isinstance(options, list) and not is_template(options):
            for option in options:
                problem = nfs.option_problem(option)
                if problem:
                    problems.append(
                        f"{inv.where(host, 'nfs_server_export_options')}: {option!r}: {problem}"
                    )
        exports = hvars.get("nfs_server_exports")
        if exports is None or is_template(exports):
            continue
        for problem in nfs.exports_problems(
            exports, clients if not is_template(clients) else ["x"], "kernel"
        ):
            problems.append(f"{inv.where(host, 'nfs_server_exports')}: {problem}")
    return problems


def check_nfs_provisioner(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, PROVISIONER_RULES, PROVISIONER_RULES)
        options = hvars.get("nfs_provisioner_mount_options")
        if isinstance(options, list):
            for option in options:
                if not isinstance(option, str) or not re.fullmatch(r"[A-Za-z0-9_.=,-]+", option):
                    problems.append(
                        f"{inv.where(host, 'nfs_provisioner_mount_options')}: {option!r}: "
                        "a mount option uses letters, digits and _.=,- only"
                    )
    return problems


CHECKS = [check_nfs_server, check_nfs_provisioner]
