"""The AI gateway's settings: its consumers against the models the Ollama hosts serve, the
Ollama hosts it must reach, and the values that reach its unit and paths (the rules the
role applies, from the collection's module_utils/gateway.py); and the gateway declared as
a mesh service (homeforge_services) for `mesh cutover`."""

from __future__ import annotations

from homeforge.checks.rules import rule_problems
from homeforge.cutover.declaration import KEY, declaration, parse
from homeforge.inventory.model import Inventory, is_template
from homeforge.module_utils import load
from homeforge.roles import role_default
from homeforge.validation import (
    absolute_path_problem,
    https_url_problem,
    kube_name_problem,
    listen_problem,
    port_problem,
    quantity_problem,
    user_name_problem,
    version_problem,
)
from homeforge.wireguard.settings import MeshSettings

GROUP = "ai_gateway"
RULES = {
    "ai_gateway_version": version_problem,
    "ai_gateway_port": port_problem,
    "ai_gateway_user": user_name_problem,
    "ai_gateway_install_root": absolute_path_problem,
}
OPTIONAL_RULES = {
    "ai_gateway_listen": listen_problem,
    "ai_gateway_wheelhouse_dir": absolute_path_problem,
    "ai_gateway_index_url": https_url_problem,
}
# Whole numbers, each with its least value.
WHOLE = {
    "ai_gateway_num_retries": 0,
    "ai_gateway_allowed_fails": 0,
    "ai_gateway_cooldown_seconds": 0,
    "ai_gateway_request_timeout": 1,
}


def _ollama_hosts(inv: Inventory, group: str) -> dict[str, dict]:
    out = {}
    for host in inv.group_members(group):
        hvars = inv.hostvars[host]
        models = hvars.get("ollama_models") or []
        out[host] = {
            "ollama_models": [] if is_template(models) or not isinstance(models, list) else models,
            "ollama_host": hvars.get("ollama_host", ""),
            "mesh_address": "the mesh address",
        }
    return out


def _served(gw, inv: Inventory, host: str, ollama: dict[str, dict]) -> tuple[set[str], list[str]]:
    """The models the gateway serves, and a line per Ollama host it cannot reach."""
    problems, served = [], set()
    for name, hvars in ollama.items():
        listen = hvars["ollama_host"]
        if is_template(listen) or not hvars["ollama_models"]:
            continue  # a host that serves no model is not the gateway's
        try:
            gw.ollama_base(name, listen, host, hvars["mesh_address"])
        except ValueError as exc:
            problems.append(
                f"{inv.where(name, 'ollama_host')}: {str(exc).removeprefix(name + ': ')}"
            )
    try:
        served = set(gw.served_models(ollama))
    except ValueError:  # a bad model name (ModelNameError): the ollama check names it
        served = set()
    return served, problems


def check_gateway(inv: Inventory) -> list[str]:
    load("validation")  # gateway.py builds on the shared rules and Ollama's names
    load("ollama")
    gw = load("gateway")
    problems: list[str] = []
    for host in inv.group_members(GROUP):
        hvars = inv.hostvars[host]
        problems += rule_problems(inv, host, hvars, {**RULES, **OPTIONAL_RULES}, OPTIONAL_RULES)
        for key, least in WHOLE.items():
            value = hvars.get(key)
            if value is None or is_template(value):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                problems.append(
                    f"{inv.where(host, key)}: {value!r}: must be a whole number >= {least}"
                )
        group = hvars.get(
            "ai_gateway_ollama_group", role_default("ai_gateway", "ai_gateway_ollama_group")
        )
        ollama = _ollama_hosts(inv, str(group))
        if not ollama:
            problems.append(
                f"{inv.where(host, 'ai_gateway_ollama_group')}: group {group!r} has no hosts: "
                "the gateway has no Ollama host to serve"
            )
            continue
        served, unreachable = _served(gw, inv, host, ollama)
        problems += unreachable
        consumers = hvars.get("ai_gateway_consumers", [])
        if is_template(consumers):
            continue
        for where, problem in gw.consumer_problems(consumers, served):
            problems.append(f"{inv.where(host, 'ai_gateway_consumers')}{where}: {problem}")
    return list(dict.fromkeys(problems))


# Namespaces the gateway's manifest must never own (it labels its Namespace restricted).
RESERVED_NAMESPACES = (
    "default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress",
)  # fmt: skip


K8S_RULES = {
    "ai_gateway_k8s_namespace": kube_name_problem,
    "ai_gateway_k8s_storage_size": quantity_problem,
    "ai_gateway_k8s_storage_class": kube_name_problem,
    "ai_gateway_port": port_problem,
}


def check_gateway_kubernetes(inv: Inventory) -> list[str]:
    """Kubernetes mode (``ai_gateway_mode: kubernetes``, on the K3s servers): Ollama in the
    cluster too, an image pinned by digest, Kubernetes names and sizes, the consumers
    against the models Ollama's chart pulls (the servers' ``ollama_models``), and no host
    in group ``ai_gateway`` (the gateway runs in the cluster, not on a host)."""
    load("validation")
    load("ollama")
    gw = load("gateway")
    problems: list[str] = []
    for host in inv.hosts:
        hvars = inv.hostvars[host]
        if hvars.get("ai_gateway_mode") != "kubernetes":
            continue
        if inv.group_members(GROUP):
            problems.append(
                f"{inv.where(host, 'ai_gateway_mode')}: kubernetes: the gateway runs in the"
                f" cluster, so group {GROUP} must have no hosts (it is for host mode; it has"
                f" {', '.join(inv.group_members(GROUP))})"
            )
        if hvars.get("ollama_mode", "host") != "kubernetes":
            problems.append(
                f"{inv.where(host, 'ai_gateway_mode')}: kubernetes needs ollama_mode: kubernetes"
                " (the gateway serves the Ollama chart's Service)"
            )
        image = hvars.get("ai_gateway_k8s_image", "")
        version = hvars.get("ai_gateway_version", role_default("ai_gateway", "ai_gateway_version"))
        if not is_template(image) and (problem := gw.image_problem(image, version)):
            problems.append(f"{inv.where(host, 'ai_gateway_k8s_image')}: {image!r}: {problem}")
        problems += rule_problems(inv, host, hvars, K8S_RULES, ["ai_gateway_k8s_storage_class"])
        namespace = hvars.get(
            "ai_gateway_k8s_namespace", role_default("ai_gateway", "ai_gateway_k8s_namespace")
        )
        if namespace in RESERVED_NAMESPACES:
            problems.append(
                f"{inv.where(host, 'ai_gateway_k8s_namespace')}: {namespace!r}: a namespace of"
                " Kubernetes or of the ingress; the gateway's Namespace object would put Pod"
                " Security restricted on it"
            )
        if namespace == hvars.get(
            "ollama_k8s_namespace", role_default("ollama", "ollama_k8s_namespace")
        ):
            problems.append(
                f"{inv.where(host, 'ai_gateway_k8s_namespace')}: {namespace!r}: Ollama's namespace"
                " (ollama_k8s_namespace); the gateway needs its own (its NetworkPolicy)"
            )
        models = hvars.get("ollama_models") or []
        consumers = hvars.get("ai_gateway_consumers", [])
        if is_template(models) or is_template(consumers) or not isinstance(models, list):
            continue
        try:
            served = set(gw.served_models({host: {"ollama_models": models}}))
        except ValueError:  # a bad model name: the ollama check names it
            continue
        for where, problem in gw.consumer_problems(consumers, served):
            problems.append(f"{inv.where(host, 'ai_gateway_consumers')}{where}: {problem}")
    return list(dict.fromkeys(problems))


# What LiteLLM answers without a key (its health endpoints for probes); every other path
# at the gateway needs a consumer's key (401) or is refused (403).
OPEN_PATHS = ("/health/liveliness", "/health/liveness", "/health/readiness")


def check_gateway_services(inv: Inventory) -> list[str]:
    """A homeforge_services entry served by the gateway (so `mesh cutover` moves its
    consumers onto the gateway's mesh endpoint): the port the gateway listens on, a health
    path it answers without a key, and an exposure it can take (its listen address is
    ai_gateway_listen, not an environment variable a drop-in could set)."""
    gateways = inv.group_members(GROUP)
    if not gateways:
        return []
    services, problems = parse(inv, list(MeshSettings.of(inv).members))
    if problems:
        return []  # the services check reports them
    where = declaration(inv)[1]
    gw = load("gateway")
    out = []
    for name, service in services.items():
        served_by = [h for h in service.hosts if h in gateways]
        for host in served_by:
            hvars = inv.hostvars[host]
            try:
                port = gw.ingress_backend(
                    hvars.get("ai_gateway_listen"),
                    hvars.get("ai_gateway_port", role_default("ai_gateway", "ai_gateway_port")),
                    "",
                )["port"]
            except (TypeError, ValueError):
                continue  # a listen address or port the gateway's own rules report
            if service.port != port:
                out.append(
                    f"{where}: {KEY}.{name}.port: {service.port}: the AI gateway on {host}"
                    f" listens on port {port} (ai_gateway_listen, ai_gateway_port)"
                )
        if served_by and service.health_path not in OPEN_PATHS:
            out.append(
                f"{where}: {KEY}.{name}.health: {service.health_path}: the AI gateway answers"
                " it only with a consumer's key: use /health/liveliness"
            )
        if served_by and service.exposure.mode == "bind":
            out.append(
                f"{where}: {KEY}.{name}.exposure: bind: the AI gateway's address is"
                " ai_gateway_listen, not an environment variable: use firewall (or none)"
            )
    return out


CHECKS = [check_gateway, check_gateway_kubernetes, check_gateway_services]
