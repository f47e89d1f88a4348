"""Services that consumers reach over the mesh: the inventory's ``homeforge_services``.

A service runs on some mesh hosts and listens on one port; consumers (other mesh
hosts) are pointed at it through environment variables in an environment file,
a systemd drop-in, or a Kubernetes Deployment. ``homeforge mesh cutover``
moves the consumers from the legacy endpoints onto the mesh; ``rollback`` moves
them back. The declaration, set once for all hosts (``group_vars/all.yml`` or
``all: vars:``)::

    homeforge_services:
      ollama:
        port: 11434
        health: /api/tags            # or {path: /api/tags, method: GET, status: [200]}
        probes: 5                    # consecutive successes required (shadow and verify)
        hosts:                       # the hosts serving it, with the endpoint used today
          gpu-a: {legacy: "http://192.168.0.110:11435"}
          gpu-b: {legacy: "http://192.168.0.110:11436"}
        exposure: firewall           # firewall | none | {mode: bind, unit: ollama.service,
                                     #   variable: OLLAMA_HOST, value: "{address}:{port}"}
        consumers:
          - host: api-1
            env_file: /etc/api/ollama.env
            restart: api.service     # or reload: UNIT, or run: "a command"
            variables: {OLLAMA_URL: gpu-a, OLLAMA_SECONDARY_URL: gpu-b}
          - host: worker-1
            systemd: worker.service  # a drop-in sets Environment=; the unit restarts
            variables: {OLLAMA_URL: {host: gpu-a, suffix: /v1}}
          - host: k3s-1
            deployment: prod/api     # kubectl on the host: set env + rollout status
            variables: {OLLAMA_URL: gpu-a}

A variable's mesh value is ``{scheme}://{mesh address of its host}:{port}{suffix}``.
:func:`check_services` reports every problem as ``FILE: homeforge_services.PATH:
what is wrong`` and runs as part of ``homeforge inventory check``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from homeforge.cutover.model import Consumer, Exposure, Service, Variable
from homeforge.errors import BadInput, InventoryInvalid
from homeforge.inventory.model import Inventory
from homeforge.inventory.model import display_path as _display
from homeforge.validation import (
    absolute_path_problem,
    bind_value_problem,
    env_name_problem,
    unit_name_problem,
    url_suffix_problem,
)
from homeforge.wireguard.settings import MeshSettings

KEY = "homeforge_services"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CONSUMER_KINDS = ("env_file", "systemd", "deployment")
AFTER_SWITCH = ("restart", "reload", "run")
EXPOSURE_MODES = ("firewall", "bind", "none")


class _Problems(list):
    def __init__(self, where: str):
        super().__init__()
        self.where = where

    def add(self, path: str, message: str) -> None:
        self.append(f"{self.where}: {KEY}.{path}: {message}")


def declaration(inv: Inventory) -> tuple[Any, str, list[str]]:
    """The raw declaration, the file that sets it, and problems with where it is set."""
    holders = [h for h in inv.hosts if KEY in inv.hostvars[h]]
    if not holders:
        return None, _display(inv.path), []
    first = holders[0]
    where = _display(inv.origin(first, KEY))
    value = inv.hostvars[first][KEY]
    differing = [h for h in holders if inv.hostvars[h][KEY] != value]
    missing = [h for h in inv.hosts if h not in holders]
    problems = []
    if differing or missing:
        odd = (differing or missing)[0]
        problems.append(
            f"{where}: host {odd}: {KEY}: set differently per host; declare it once for all hosts "
            f"(group_vars/all.yml or all: vars:)"
        )
    return value, where, problems


def parse(inv: Inventory, members: list[str]) -> tuple[dict[str, Service], list[str]]:
    """Services declared in the inventory, and every problem found in the declaration."""
    raw, where, problems = declaration(inv)
    if raw is None:
        return {}, problems
    out = _Problems(where)
    out.extend(problems)
    if not isinstance(raw, dict):
        out.append(f"{where}: {KEY}: must be a mapping of service names, not {type(raw).__name__}")
        return {}, list(out)
    services = {}
    for name, body in raw.items():
        service = _parse_service(inv, members, str(name), body, out)
        if service is not None:
            services[service.name] = service
    _check_conflicts(services, out)
    return services, list(out)


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if low <= number <= high else None


def _parse_service(inv, members, name, body, out: _Problems) -> Service | None:
    if not NAME_RE.match(name):
        out.add(name, "service names are lowercase letters, digits, - and _ (at most 31)")
        return None
    if not isinstance(body, dict):
        out.add(name, f"must be a mapping, not {type(body).__name__}")
        return None
    known = {"port", "hosts", "consumers", "health", "probes", "interval", "scheme", "exposure"}
    for key in body:
        if key not in known:
            out.add(f"{name}.{key}", f"unknown key (expected one of {', '.join(sorted(known))})")
    port = _int(body.get("port"), 1, 65535)
    if port is None:
        out.add(f"{name}.port", f"must be a TCP port 1-65535, not {body.get('port')!r}")
    scheme = str(body.get("scheme", "http"))
    if scheme not in ("http", "https"):
        out.add(f"{name}.scheme", f"must be http or https, not {scheme!r}")
    service = Service(name, port or 0, {}, [], scheme=scheme)
    _parse_health(body.get("health", "/"), service, out)
    probes = _int(body.get("probes", 5), 1, 1000)
    if probes is None:
        out.add(f"{name}.probes", f"must be a whole number 1-1000, not {body.get('probes')!r}")
    service.probes = probes or 5
    try:
        service.interval = float(body.get("interval", 0.2))
        if not 0 <= service.interval <= 60:
            raise ValueError
    except (TypeError, ValueError):
        out.add(
            f"{name}.interval", f"must be seconds between 0 and 60, not {body.get('interval')!r}"
        )
    _parse_hosts(inv, members, name, body.get("hosts"), service, out)
    _parse_exposure(name, body.get("exposure", "firewall"), service, out)
    consumers = body.get("consumers")
    if not isinstance(consumers, list) or not consumers:
        out.add(f"{name}.consumers", "must be a non-empty list of consumers")
    else:
        for index, item in enumerate(consumers):
            consumer = _parse_consumer(
                inv, members, service, f"{name}.consumers[{index}]", item, out
            )
            if consumer is not None:
                service.consumers.append(consumer)
    return service


def _parse_health(health, service: Service, out: _Problems) -> None:
    path = f"{service.name}.health"
    if isinstance(health, str):
        health = {"path": health}
    if not isinstance(health, dict):
        out.add(path, "must be a path such as /api/tags or a mapping {path, method, status}")
        return
    service.health_path = str(health.get("path", "/"))
    problem = url_suffix_problem(service.health_path) or (
        "must start with /" if not service.health_path else None
    )
    if problem:
        out.add(f"{path}.path", f"{problem}, not {service.health_path!r}")
    service.method = str(health.get("method", "GET")).upper()
    if service.method not in ("GET", "HEAD", "POST"):
        out.add(f"{path}.method", f"must be GET, HEAD or POST, not {service.method!r}")
    status = health.get("status", [])
    statuses = status if isinstance(status, list) else [status]
    for item in statuses:
        code = _int(item, 100, 599)
        if code is None:
            out.add(f"{path}.status", f"must be HTTP status codes, not {item!r}")
        else:
            service.expect.append(code)


def _parse_hosts(inv, members, name, hosts, service: Service, out: _Problems) -> None:
    if not isinstance(hosts, dict) or not hosts:
        out.add(f"{name}.hosts", "must map each host serving it to its legacy endpoint")
        return
    for host, spec in hosts.items():
        host = str(host)
        path = f"{name}.hosts.{host}"
        if host not in inv.hostvars:
            out.add(path, f"no host '{host}' in {_display(inv.path)}")
            continue
        if host not in members:
            out.add(path, f"host '{host}' is not in the mesh")
        legacy = spec.get("legacy", "") if isinstance(spec, dict) else spec
        legacy = "" if legacy is None else str(legacy)
        if legacy and (not _is_url(legacy) or re.search(r"[\x00-\x20\x7f`$\"'\\]", legacy)):
            out.add(
                f"{path}.legacy", f"must be a URL such as http://10.0.0.5:11434, not {legacy!r}"
            )
        service.hosts[host] = legacy


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        return False


def _parse_exposure(name, spec, service: Service, out: _Problems) -> None:
    path = f"{name}.exposure"
    if isinstance(spec, str):
        spec = {"mode": spec}
    if not isinstance(spec, dict):
        out.add(path, "must be firewall, none, or {mode: bind, unit, variable, value}")
        return
    mode = str(spec.get("mode", "firewall"))
    if mode not in EXPOSURE_MODES:
        out.add(f"{path}.mode", f"must be one of {', '.join(EXPOSURE_MODES)}, not {mode!r}")
        return
    exposure = Exposure(mode)
    if mode == "bind":
        exposure.unit = str(spec.get("unit", ""))
        exposure.variable = str(spec.get("variable", ""))
        exposure.value = str(spec.get("value", exposure.value))
        if unit_name_problem(exposure.unit):
            out.add(f"{path}.unit", f"bind needs the service's systemd unit, not {exposure.unit!r}")
        if env_name_problem(exposure.variable):
            out.add(
                f"{path}.variable",
                f"bind needs the variable that sets the listen address (e.g. OLLAMA_HOST), not {exposure.variable!r}",
            )
        problem = bind_value_problem(exposure.value)
        if problem:
            out.add(f"{path}.value", f"{problem}, not {exposure.value!r}")
    service.exposure = exposure


def _parse_consumer(inv, members, service: Service, path, item, out: _Problems) -> Consumer | None:
    if not isinstance(item, dict):
        out.add(path, f"must be a mapping, not {type(item).__name__}")
        return None
    known = {"host", "variables", "container", "kubectl", *CONSUMER_KINDS, *AFTER_SWITCH}
    for key in item:
        if key not in known:
            out.add(f"{path}.{key}", f"unknown key (expected one of {', '.join(sorted(known))})")
    host = str(item.get("host", ""))
    if not host:
        out.add(f"{path}.host", "missing: the host where the consumer runs")
        return None
    if host not in inv.hostvars:
        out.add(f"{path}.host", f"no host '{host}' in {_display(inv.path)}")
        return None
    if host not in members:
        out.add(
            f"{path}.host",
            f"host '{host}' is not in the mesh, so it cannot reach {service.name} over it",
        )
    kinds = [k for k in CONSUMER_KINDS if k in item]
    if len(kinds) != 1:
        out.add(
            path,
            f"give exactly one of {', '.join(CONSUMER_KINDS)} (how the consumer is pointed at {service.name})",
        )
        return None
    kind = kinds[0]
    target = str(item[kind])
    consumer = Consumer(host, kind, target, [])
    _check_target(path, item, consumer, out)
    afters = [k for k in AFTER_SWITCH if k in item]
    if afters and kind != "env_file":
        out.add(
            f"{path}.{afters[0]}",
            f"only for env_file consumers ({kind} consumers reload themselves)",
        )
    elif len(afters) > 1:
        out.add(path, f"give at most one of {', '.join(AFTER_SWITCH)}")
    elif afters:
        value = str(item[afters[0]])
        problem = unit_name_problem(value) if afters[0] != "run" else _command_problem(value)
        if problem:
            out.add(f"{path}.{afters[0]}", f"{problem}, not {value!r}")
        consumer.after = (afters[0], value)
    variables = item.get("variables")
    if not isinstance(variables, dict) or not variables:
        out.add(f"{path}.variables", "must map each variable to the service host it points at")
        return consumer
    for var, spec in variables.items():
        var_path = f"{path}.variables.{var}"
        if env_name_problem(str(var)):
            out.add(var_path, "not a valid environment variable name")
            continue
        suffix = ""
        if isinstance(spec, dict):
            suffix = str(spec.get("suffix", ""))
            spec = spec.get("host")
        target_host = str(spec or "")
        if target_host not in service.hosts:
            serving = ", ".join(service.hosts) or "none"
            out.add(
                var_path,
                f"points at '{target_host}', which does not serve {service.name} (serving: {serving})",
            )
            continue
        problem = url_suffix_problem(suffix)
        if problem:
            out.add(f"{var_path}.suffix", f"{problem}, not {suffix!r}")
        consumer.variables.append(Variable(str(var), target_host, suffix))
    return consumer


def _check_target(path: str, item: dict, consumer: Consumer, out: _Problems) -> None:
    """The consumer's file, unit or Deployment (and kubectl) by the shared rules."""
    kind, target = consumer.kind, consumer.target
    problem = kind == "env_file" and absolute_path_problem(target)
    if problem:
        out.add(f"{path}.env_file", f"{problem}, not {target!r}")
    problem = kind == "systemd" and unit_name_problem(target)
    if problem:
        out.add(f"{path}.systemd", f"{problem}, not {target!r}")
    if kind == "deployment":
        namespace, _sep, name = target.partition("/")
        if not (K8S_NAME_RE.match(namespace) and K8S_NAME_RE.match(name)):
            out.add(f"{path}.deployment", f"must be NAMESPACE/NAME, not {target!r}")
        consumer.container = str(item.get("container", ""))
        consumer.kubectl = str(item.get("kubectl", "kubectl"))
        if consumer.container and not K8S_NAME_RE.match(consumer.container):
            out.add(f"{path}.container", f"must be a container name, not {consumer.container!r}")
        if not re.fullmatch(r"[A-Za-z0-9/._=:@+ -]+", consumer.kubectl):
            out.add(
                f"{path}.kubectl",
                f"must be a command and its arguments (letters, digits, /._=:@+-), not {consumer.kubectl!r}",
            )


def _command_problem(value: str) -> str | None:
    """``run:`` is a shell command the operator writes (run with /bin/sh on the host):
    one line, so it cannot smuggle more into the journal or the log."""
    if not value.strip() or re.search(r"[\x00-\x1f\x7f]", value):
        return "must be one line of shell"
    return None


def _check_conflicts(services: dict[str, Service], out: _Problems) -> None:
    owners: dict[tuple[str, str, str, str], str] = {}
    for service in services.values():
        for index, consumer in enumerate(service.consumers):
            for var in consumer.variables:
                key = (consumer.host, consumer.kind, consumer.target, var.name)
                path = f"{service.name}.consumers[{index}].variables.{var.name}"
                if key in owners:
                    out.add(path, f"already set by {owners[key]} ({consumer.label})")
                else:
                    owners[key] = path


def check_services(inv: Inventory) -> list[str]:
    """Inventory check: the services declaration, when there is one."""
    return parse(inv, list(MeshSettings.of(inv).members))[1]


def get(inv: Inventory, name: str) -> Service:
    """One declared service; BadInput naming the file when it is not declared."""
    services, problems = parse(inv, list(MeshSettings.of(inv).members))
    if problems:
        raise InventoryInvalid(problems)
    if name not in services:
        _raw, where, _ = declaration(inv)
        known = ", ".join(sorted(services)) or "none declared"
        raise BadInput(f"{where}: {KEY}: no service '{name}' (declared: {known})")
    return services[name]
