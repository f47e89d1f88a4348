"""The Istio ingress role's settings that reach the objects K3s applies (host name,
Kubernetes names, port, URLs, paths, the pinned digest), and what it needs on the K3s
servers it runs on: a host name (the AI gateway's, or the service's, which is warned
about when the service is Ollama), K3s's bundled Traefik disabled, an allow-list of clients
unless the gateway is public (rules in plugins/module_utils/validation.py, which the role
applies again before writing; the allow-list's CIDRs are checked with every ``*_cidrs``
variable). A public gateway is allowed, with a warning."""

from __future__ import annotations

import re

from homeforge.checks.rules import is_true, rule_problems
from homeforge.inventory.groups import server_group
from homeforge.inventory.model import Inventory, is_template
from homeforge.roles import role_default
from homeforge.validation import (
    absolute_path_problem,
    dns_name_problem,
    https_url_problem,
    kube_name_problem,
    port_problem,
)


def _matches(pattern: str, what: str):
    def problem(value: object) -> str | None:
        if isinstance(value, str) and re.fullmatch(pattern, value):
            return None
        return f"must be {what}"

    return problem


RULES = {
    "ingress_istio_namespace": kube_name_problem,
    "ingress_istio_gateway_namespace": kube_name_problem,
    "ingress_istio_gateway_name": kube_name_problem,
    "ingress_istio_tls_secret": kube_name_problem,
    "ingress_istio_service_namespace": kube_name_problem,
    "ingress_istio_service_name": kube_name_problem,
    "ingress_istio_service_port": port_problem,
    "ingress_istio_ai_gateway_namespace": kube_name_problem,
    "ingress_istio_ai_gateway_tls_secret": kube_name_problem,
    "ingress_istio_chart_repo": https_url_problem,
    "ingress_istio_gateway_api_url": https_url_problem,
    "ingress_istio_version": _matches(r"[0-9]+\.[0-9]+\.[0-9]+", "a release such as 1.31.1"),
    "ingress_istio_gateway_api_version": _matches(
        r"v[0-9]+\.[0-9]+\.[0-9]+", "a release such as v1.5.0 (it names a directory)"
    ),
    "ingress_istio_gateway_api_sha256": _matches(
        r"[0-9a-f]{64}", "a SHA-256: 64 lowercase hex digits"
    ),
}
OPTIONAL_RULES = {  # empty means "not used"
    "ingress_istio_hostname": dns_name_problem,
    "ingress_istio_ai_gateway_hostname": dns_name_problem,
    "ingress_istio_artifacts_dir": absolute_path_problem,
    "ingress_istio_cni_conf_dir": absolute_path_problem,
    "ingress_istio_cni_bin_dir": absolute_path_problem,
}


def check_istio_settings(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, {**RULES, **OPTIONAL_RULES}, OPTIONAL_RULES)
    return problems


def k3s_disabled(config: object) -> list[str]:
    """The components ``k3s_server_config.disable`` names (a list, or K3s's comma-separated
    string)."""
    disabled = config.get("disable") if isinstance(config, dict) else None
    items = [disabled] if isinstance(disabled, str) else disabled or []
    if not isinstance(items, list):
        return []
    return [part.strip() for item in items for part in str(item).split(",")]


def check_istio_on_the_servers(inv: Inventory) -> list[str]:
    """What the role needs on the K3s servers it runs on (homeforge_ingress: istio)."""
    problems = []
    for host in inv.group_members(server_group(inv)):
        hvars = inv.hostvars[host]
        if hvars.get("homeforge_ingress") != "istio":
            continue
        if not hvars.get("ingress_istio_hostname") and not hvars.get(
            "ingress_istio_ai_gateway_hostname"
        ):
            problems.append(
                f"{inv.where(host, 'ingress_istio_ai_gateway_hostname')}: required when"
                " homeforge_ingress is istio, unless ingress_istio_hostname publishes the service"
                " (the host name clients use, e.g. ai.lab.example)"
            )
        in_cluster = hvars.get("ai_gateway_mode") == "kubernetes"  # its own Service
        if (
            hvars.get("ingress_istio_ai_gateway_hostname")
            and not in_cluster
            and not inv.group_members("ai_gateway")
        ):
            problems.append(
                f"{inv.where(host, 'ingress_istio_ai_gateway_hostname')}: set, but group ai_gateway"
                " has no host: there is no gateway to publish"
            )
        version = hvars.get("k3s_version", role_default("k3s_server", "k3s_version"))
        numbers = re.match(r"v?(\d+)\.(\d+)", str(version))
        if not is_template(version) and numbers and (int(numbers[1]), int(numbers[2])) < (1, 32):
            problems.append(
                f"{inv.where(host, 'k3s_version')}: {version!r}: Istio "
                f"{hvars.get('ingress_istio_version', role_default('ingress_istio', 'ingress_istio_version'))}"
                " supports Kubernetes 1.32 to 1.36: set a v1.32+ K3s release with homeforge_ingress istio"
            )
        config = hvars.get("k3s_server_config")
        if not is_template(config) and "traefik" not in k3s_disabled(config):
            problems.append(
                f"{inv.where(host, 'k3s_server_config')}: disable: must contain traefik when"
                " homeforge_ingress is istio (K3s's bundled Traefik holds ports 80 and 443)"
            )
        public = is_true(hvars.get("ingress_istio_public", False))
        if hvars.get("ingress_istio_allowed_cidrs") == [] and not public:
            problems.append(  # an AuthorizationPolicy with no ipBlocks would match everyone
                f"{inv.where(host, 'ingress_istio_allowed_cidrs')}: empty: list the networks whose"
                " clients the gateway serves, or set ingress_istio_public: true"
            )
        gateway = hvars.get("ingress_istio_gateway_namespace", "istio-ingress")
        service = hvars.get("ingress_istio_service_namespace", "ml")
        if gateway == service:
            problems.append(
                f"{inv.where(host, 'ingress_istio_gateway_namespace')}: {gateway!r}: must not be"
                " the service's namespace (the NetworkPolicy tells the two apart)"
            )
        ai_gateway = hvars.get("ingress_istio_ai_gateway_namespace", "homeforge-gateway")
        if ai_gateway in (gateway, service):
            problems.append(
                f"{inv.where(host, 'ingress_istio_ai_gateway_namespace')}: {ai_gateway!r}: must not"
                " be the Gateway's or the service's namespace (the role writes it as a Namespace"
                " of its own)"
            )
        in_namespace = hvars.get(
            "ai_gateway_k8s_namespace", role_default("ai_gateway", "ai_gateway_k8s_namespace")
        )
        if in_cluster and ai_gateway != in_namespace:
            problems.append(
                f"{inv.where(host, 'ingress_istio_ai_gateway_namespace')}: {ai_gateway!r}: with"
                f" ai_gateway_mode kubernetes it must be the gateway's namespace, {in_namespace!r}"
                " (ai_gateway_k8s_namespace: the route goes beside its Service)"
            )
    return problems


def warn_istio_public(inv: Inventory) -> list[str]:
    """The gateway open to everyone, on the first server (where the role writes it)."""
    first = next(iter(inv.group_members(server_group(inv))), None)
    hvars = inv.hostvars.get(first, {}) if first else {}
    if hvars.get("homeforge_ingress") != "istio" or not is_true(hvars.get("ingress_istio_public")):
        return []
    service = hvars.get("ingress_istio_service_name", "ollama")
    return [
        f"{inv.where(first, 'ingress_istio_public')}: true: the gateway serves {service} at"
        f" {hvars.get('ingress_istio_hostname') or '(no host name)'} to every client that reaches"
        " it (Ollama's API has no authentication: anyone can pull and delete models and use the"
        " GPUs)"
    ]


def warn_istio_ollama_route(inv: Inventory) -> list[str]:
    """Ollama's own API published at all: it has no keys, the gateway has."""
    first = next(iter(inv.group_members(server_group(inv))), None)
    hvars = inv.hostvars.get(first, {}) if first else {}
    host_name = hvars.get("ingress_istio_hostname")
    service = hvars.get("ingress_istio_service_name", "ollama")
    if hvars.get("homeforge_ingress") != "istio" or not host_name or service != "ollama":
        return []
    return [
        f"{inv.where(first, 'ingress_istio_hostname')}: {host_name}: publishes Ollama's own API,"
        " which has no keys: publish the AI gateway instead (ingress_istio_ai_gateway_hostname,"
        " a key per consumer)"
    ]


CHECKS = [check_istio_settings, check_istio_on_the_servers]
WARNINGS = [warn_istio_public, warn_istio_ollama_route]
