"""Releases past their upstream end of support (dates in plugins/module_utils/support.py):
the K3s version (by its Kubernetes minor), the EKS hybrid nodes' Kubernetes version,
cert-manager's chart and Istio. Allowed, with a warning: one line per file and value an
inventory sets, and one line per inventory for a role's default it leaves in place."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from homeforge.inventory.groups import server_group
from homeforge.inventory.model import Inventory, is_template
from homeforge.module_utils import load
from homeforge.roles import role_default


def today() -> datetime.date:
    """The day support is judged on (tests replace it)."""
    return datetime.date.today()


def _cluster(inv: Inventory) -> list[tuple[str, str]]:
    servers = inv.group_members(server_group(inv))
    agents = [h for h in inv.group_members("agent") if h not in servers]
    return [(h, "k3s_server") for h in servers] + [(h, "k3s_agent") for h in agents]


def _eks(inv: Inventory) -> list[tuple[str, str]]:
    return [(h, "eks_node") for h in inv.group_members("eks")]


def _ingress(choice: str, role: str) -> Callable[[Inventory], list[tuple[str, str]]]:
    def hosts(inv: Inventory) -> list[tuple[str, str]]:
        servers = inv.group_members(server_group(inv))
        return [(h, role) for h in servers if inv.hostvars[h].get("homeforge_ingress") == choice]

    return hosts


# variable, product (plugins/module_utils/support.py), the hosts whose role reads it with
# that role (whose default applies where the inventory sets nothing)
VARIABLES = (
    ("k3s_version", "kubernetes", _cluster),
    ("eks_node_kubernetes_version", "eks", _eks),
    (
        "ingress_traefik_cert_manager_chart_version",
        "cert-manager",
        _ingress("traefik", "ingress_traefik"),
    ),
    ("ingress_istio_version", "istio", _ingress("istio", "ingress_istio")),
)


def warn_end_of_support(inv: Inventory, on: datetime.date | None = None) -> list[str]:
    """A release past its support on ``on`` (default: today), for each variable: one line
    per file and value set (naming the first host it reaches), one per inventory for the
    role's default."""
    rules = load("support")
    day = on or today()
    lines = []
    for key, product, hosts_of in VARIABLES:
        said: set[tuple[str, str]] = set()
        for host, role in hosts_of(inv):
            value = inv.hostvars[host].get(key)
            default = value is None
            if default:
                value = role_default(role, key)
            if is_template(value):
                continue
            why = rules.support_ended(product, value, day)
            place = ("default" if default else str(inv.origin(host, key)), repr(value))
            if why is None or place in said:
                continue
            said.add(place)
            shown = f"{value} (the role's default)" if default else f"{value}"
            lines.append(f"{inv.where(host, key)}: {shown}: {why}; set a supported release")
    return lines


CHECKS: list = []
WARNINGS = [warn_end_of_support]
