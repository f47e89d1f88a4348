"""The ingress layer: which one (``homeforge_ingress``), and the Traefik role's settings
that reach the objects K3s applies: host names, Kubernetes names, ports, the ACME
account's address and directory, the CA's paths and permitted domains, who may use
Ollama's route (rules in plugins/module_utils/validation.py, which the role applies again
before writing; the allow-list's CIDRs are checked with every ``*_cidrs`` variable).
Publishing Ollama to everyone is allowed, with a warning."""

from __future__ import annotations

from typing import Any

from homeforge.checks.istio import k3s_disabled
from homeforge.checks.rules import is_true, list_problems, rule_problems
from homeforge.inventory.groups import server_group
from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import (
    absolute_path_problem,
    dns_name_problem,
    email_problem,
    https_url_problem,
    kube_name_problem,
    port_problem,
    version_problem,
)

# homeforge_ingress: the value, and the role site.yml then runs on the K3s servers.
INGRESSES = {"traefik": "ingress_traefik", "istio": "ingress_istio"}

RULES = {
    "ingress_traefik_acme_server": https_url_problem,
    "ingress_traefik_ollama_namespace": kube_name_problem,
    "ingress_traefik_gateway_namespace": kube_name_problem,
    "ingress_traefik_cert_manager_namespace": kube_name_problem,
    "ingress_traefik_ca_dir": absolute_path_problem,
    "ingress_traefik_ca_export_path": absolute_path_problem,
    "ingress_traefik_cert_manager_repo": https_url_problem,
    "ingress_traefik_cert_manager_chart_version": version_problem,
}
OPTIONAL_RULES = {  # empty means "not used"
    "ingress_traefik_acme_email": email_problem,
    "ingress_traefik_ollama_host": dns_name_problem,
    "ingress_traefik_gateway_host": dns_name_problem,
}
ROUTE_RULES = {
    "name": kube_name_problem,
    "namespace": kube_name_problem,
    "host": dns_name_problem,
    "service": kube_name_problem,
    "port": port_problem,
}


def check_ingress_choice(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        value = hvars.get("homeforge_ingress")
        if (
            value in (None, "")
            or is_template(value)
            or (isinstance(value, str) and value in INGRESSES)
        ):
            continue
        known = " or ".join(sorted(INGRESSES))
        problems.append(
            f"{inv.where(host, 'homeforge_ingress')}: {value!r}: must be {known}"
            " (or empty: no ingress layer)"
        )
    return problems


def check_traefik_settings(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, {**RULES, **OPTIONAL_RULES}, OPTIONAL_RULES)
        days = hvars.get("ingress_traefik_ca_days")
        if isinstance(days, int) and not isinstance(days, bool) and days <= 0:
            problems.append(
                f"{inv.where(host, 'ingress_traefik_ca_days')}: {days}: must be 1 or more days"
            )
        problems += _route_problems(inv, host, hvars.get("ingress_traefik_routes"))
        problems += list_problems(
            inv, host, "ingress_traefik_ca_permitted_domains", dns_name_problem
        )
    return problems


def _route_problems(inv: Inventory, host: str, routes: Any) -> list[str]:
    """Each route's keys by their rules; names unique (they name the route's objects)."""
    if not isinstance(routes, list) or is_template(routes):
        return []  # not a list: the role_variables check says so
    where = inv.where(host, "ingress_traefik_routes")
    problems, names = [], []
    for index, route in enumerate(routes):
        if not isinstance(route, dict):
            problems.append(f"{where}: [{index}]: must be a mapping {{name, namespace, host, ...}}")
            continue
        missing = [key for key in ROUTE_RULES if key not in route]
        if missing:
            problems.append(f"{where}: [{index}]: missing {', '.join(missing)}")
        for key, rule in ROUTE_RULES.items():
            value = route.get(key)
            if value is None or is_template(value):
                continue
            problem = rule(value)
            if problem:
                problems.append(f"{where}: [{index}] {key} {value!r}: {problem}")
        names.append(route.get("name"))
    if inv.hostvars[host].get("ingress_traefik_ollama_host"):
        names.append("ollama")  # the role's own route for Ollama
    if inv.hostvars[host].get("ingress_traefik_gateway_host"):
        names.append("ai-gateway")  # the role's own route for the AI gateway
    for name in sorted({n for n in names if n is not None and names.count(n) > 1}):
        problems.append(f"{where}: name {name!r} is used twice (it names the route's objects)")
    return problems


def check_traefik_on_the_servers(inv: Inventory) -> list[str]:
    """What the role needs on the K3s servers it runs on: an ACME account's address, and
    K3s's bundled Traefik not disabled."""
    problems = []
    for host in inv.group_members(server_group(inv)):
        hvars = inv.hostvars[host]
        if hvars.get("homeforge_ingress") != "traefik":
            continue
        if hvars.get("ingress_traefik_issuer") == "acme" and not hvars.get(
            "ingress_traefik_acme_email"
        ):
            problems.append(
                f"{inv.where(host, 'ingress_traefik_acme_email')}: required when"
                " ingress_traefik_issuer is acme (the ACME account's contact address)"
            )
        if "traefik" in k3s_disabled(hvars.get("k3s_server_config")):
            problems.append(
                f"{inv.where(host, 'k3s_server_config')}: disable: traefik, but homeforge_ingress"
                " is traefik (the role configures K3s's bundled Traefik)"
            )
        in_cluster = hvars.get("ai_gateway_mode") == "kubernetes"  # its own Service
        if (
            hvars.get("ingress_traefik_gateway_host")
            and not in_cluster
            and not inv.group_members("ai_gateway")
        ):
            problems.append(
                f"{inv.where(host, 'ingress_traefik_gateway_host')}: set, but group ai_gateway has no"
                " host: there is no gateway to publish"
            )
        allowed = hvars.get("ingress_traefik_ollama_allowed_cidrs")
        if (
            allowed == []
            and hvars.get("ingress_traefik_ollama_host")
            and not is_true(hvars.get("ingress_traefik_ollama_public", False))
        ):
            problems.append(
                f"{inv.where(host, 'ingress_traefik_ollama_allowed_cidrs')}: empty: list the networks"
                " whose clients may use Ollama, or set ingress_traefik_ollama_public: true"
            )
    return problems


def warn_traefik_ollama_public(inv: Inventory) -> list[str]:
    """Ollama's route open to everyone, on the first server (where the role writes it)."""
    first = next(iter(inv.group_members(server_group(inv))), None)
    hvars = inv.hostvars.get(first, {}) if first else {}
    host_name = hvars.get("ingress_traefik_ollama_host")
    if (
        hvars.get("homeforge_ingress") != "traefik"
        or not host_name
        or not is_true(hvars.get("ingress_traefik_ollama_public", False))
    ):
        return []
    return [
        f"{inv.where(first, 'ingress_traefik_ollama_public')}: true: Ollama at {host_name} is open"
        " to every client that reaches the ingress (its API has no authentication: anyone can"
        " pull and delete models and use the GPUs)"
    ]


def warn_traefik_ollama_route(inv: Inventory) -> list[str]:
    """Ollama's own API published at all: it has no keys, the gateway has."""
    first = next(iter(inv.group_members(server_group(inv))), None)
    hvars = inv.hostvars.get(first, {}) if first else {}
    host_name = hvars.get("ingress_traefik_ollama_host")
    if hvars.get("homeforge_ingress") != "traefik" or not host_name:
        return []
    return [
        f"{inv.where(first, 'ingress_traefik_ollama_host')}: {host_name}: publishes Ollama's own API,"
        " which has no keys: publish the AI gateway instead (ingress_traefik_gateway_host, a key"
        " per consumer)"
    ]


CHECKS = [check_ingress_choice, check_traefik_settings, check_traefik_on_the_servers]
WARNINGS = [warn_traefik_ollama_public, warn_traefik_ollama_route]
