# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The AI gateway's inputs as pure functions: consumers, where each model is served, and
LiteLLM's proxy configuration built from them.

Used by the ``ai_gateway`` role (the ``ai_gateway_config`` filter, at the point of use)
and by ``homeforge inventory check`` (loaded as plain Python), so a consumer list or an
Ollama host the gateway cannot reach is refused by the same rule in both places.

The model list is never written twice: it is every model of ``ollama_models`` on every
host of the Ollama group, each served by every host that lists it (LiteLLM's router
balances between them, retries a failed request on another one and cools a failing host
down).
"""

from __future__ import annotations

import re

try:  # inside the collection (modules, filters)
    from ansible_collections.homeforge.homelab.plugins.module_utils import ollama as names
    from ansible_collections.homeforge.homelab.plugins.module_utils import validation as rules
except ImportError:  # loaded by the CLI (homeforge.module_utils), after validation and ollama
    import homeforge_module_utils_ollama as names  # type: ignore[no-redef]
    import homeforge_module_utils_validation as rules  # type: ignore[no-redef]

CONSUMER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
CONSUMER_KEYS = {"name", "models", "rpm", "tpm"}
OLLAMA_DEFAULT_LISTEN = "127.0.0.1:11434"  # the ollama role's default ollama_host
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
ANY = ("0.0.0.0", "::", "[::]")


def consumer_problems(consumers: object, served: set[str]) -> list[tuple[str, str]]:
    """``(where, problem)`` for each bad consumer; ``where`` is ``[i]`` or ``[i].key``.

    A consumer is ``{name, models, rpm, tpm}``: a lowercase name (it names the key on the
    gateway host and in usage records), models the gateway serves (``served``, short
    names), and positive whole requests and tokens per minute."""
    if not isinstance(consumers, list):
        return [("", "must be a list of {name, models, rpm, tpm}")]
    problems, seen = [], set()
    for i, consumer in enumerate(consumers):
        at = f"[{i}]"
        if not isinstance(consumer, dict):
            problems.append((at, "must be a mapping {name, models, rpm, tpm}"))
            continue
        unknown = sorted(set(consumer) - CONSUMER_KEYS)
        if unknown:
            problems.append((at, f"unknown key(s) {', '.join(map(str, unknown))}"))
        name = consumer.get("name")
        if not isinstance(name, str) or not CONSUMER_NAME.match(name):
            problems.append(
                (
                    f"{at}.name",
                    "a consumer name is lowercase letters, digits, _ and - "
                    "(at most 63, starting with a letter)",
                )
            )
        elif name in seen:
            problems.append((f"{at}.name", f"{name!r} is declared twice"))
        else:
            seen.add(name)
        problems += [(f"{at}.{key}", p) for key, p in _limit_problems(consumer)]
        problems += [(f"{at}.models", p) for p in _model_problems(consumer.get("models"), served)]
    return problems


def _limit_problems(consumer: dict) -> list[tuple[str, str]]:
    out = []
    for key in ("rpm", "tpm"):
        value = consumer.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            out.append((key, f"must be a positive whole number (got {value!r})"))
    return out


def _model_problems(models: object, served: set[str]) -> list[str]:
    if not isinstance(models, list) or not models:
        return ["must be a non-empty list of model names"]
    out = []
    for model in models:
        try:
            short = names.short_name(model)
        except names.ModelNameError as exc:
            out.append(str(exc))
            continue
        if short not in served:
            known = ", ".join(sorted(served)) or "none"
            out.append(f"{model!r} is not served by any Ollama host (ollama_models: {known})")
    return out


def ollama_base(host: str, listen: object, gateway_host: str, mesh_address: object) -> str:
    """The URL the gateway on ``gateway_host`` reaches ``host``'s Ollama at; ValueError
    when it cannot (Ollama on another host listening on loopback only, no mesh address)."""
    listen = OLLAMA_DEFAULT_LISTEN if listen in (None, "") else listen
    problem = rules.listen_problem(listen)
    if problem:
        raise ValueError(f"{host}: ollama_host {listen!r}: {problem}")
    address, _sep, port = str(listen).rpartition(":")
    if address in LOOPBACK:
        if host != gateway_host:
            raise ValueError(
                f"{host}: Ollama listens on {listen} (loopback only), so the gateway on "
                f"{gateway_host} cannot reach it: set ollama_host to the host's mesh address "
                "(or 0.0.0.0 with wireguard_mesh_only_ports) for that host"
            )
        address = "127.0.0.1"
    elif address in ANY:
        if not isinstance(mesh_address, str) or not mesh_address:
            raise ValueError(f"{host}: Ollama listens on {listen} and the host has no mesh address")
        address = "127.0.0.1" if host == gateway_host else mesh_address
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return f"http://{address}:{port}"


def ingress_backend(listen: object, port: object, mesh_address: object) -> dict:
    """Where an ingress reaches the gateway: ``{address, port}`` from the gateway host's
    ``ai_gateway_listen`` (``ADDRESS:PORT``; an any-address one, or none, means the host's
    mesh address) and ``ai_gateway_port``. The address is empty when there is none to
    route to (no mesh address yet: a new host in check mode)."""
    listen = "" if listen is None else str(listen)
    address = ""
    if listen:
        address, _sep, port = listen.rpartition(":")
        address = address.strip("[]")
    if address == "" or address in (a.strip("[]") for a in ANY):
        address = mesh_address if isinstance(mesh_address, str) else ""
    return {"address": address, "port": int(port)}


def served_models(ollama_hosts: dict[str, dict]) -> dict[str, list[str]]:
    """Short model name -> the hosts whose ``ollama_models`` list it (inventory order)."""
    served: dict[str, list[str]] = {}
    for host, hvars in ollama_hosts.items():
        for model in hvars.get("ollama_models") or []:
            served.setdefault(names.short_name(model), []).append(host)
    return served


def proxy_config(ollama_hosts: dict[str, dict], gateway_host: str, settings: dict) -> dict:
    """LiteLLM's proxy configuration (``config.yaml``) for the gateway on ``gateway_host``.

    ``ollama_hosts``: host -> ``{ollama_models, ollama_host, mesh_address}``, or
    ``{ollama_models, api_base}`` where the URL is known (Kubernetes mode's Service);
    ``settings``: ``embedding_models``, ``num_retries``, ``allowed_fails``,
    ``cooldown_seconds``, ``request_timeout``, ``hooks`` (the hooks module's name).
    ValueError names the first host or model the gateway cannot serve."""
    served = served_models(ollama_hosts)
    if not served:
        raise ValueError("no host of the Ollama group lists a model in ollama_models")
    embedding = {names.short_name(m) for m in settings.get("embedding_models") or []}
    unknown = sorted(embedding - set(served))
    if unknown:
        raise ValueError(f"ai_gateway_embedding_models: {', '.join(unknown)}: not served")
    model_list = []
    for model in sorted(served):
        provider = "ollama" if model in embedding else "ollama_chat"
        for host in served[model]:
            hvars = ollama_hosts[host]
            # Kubernetes mode: the Ollama chart's Service, named as the cluster's DNS has it
            base = hvars.get("api_base") or ollama_base(
                host, hvars.get("ollama_host"), gateway_host, hvars.get("mesh_address")
            )
            model_list.append(
                {
                    "model_name": model,
                    "litellm_params": {"model": f"{provider}/{model}", "api_base": base},
                    # Registered in LiteLLM's model map at start, at no cost: LiteLLM looks
                    # each answer's model up there (its price, its limits), and for a model
                    # it does not know it builds a set of the whole map and asks Ollama's
                    # /api/show, on every request (about half the gateway's time per
                    # request: bench/RESULTS.md).
                    "model_info": {
                        "id": f"{host}/{model}",
                        "mode": "embedding" if model in embedding else "chat",
                        "litellm_provider": provider,
                        "input_cost_per_token": 0,
                        "output_cost_per_token": 0,
                    },
                }
            )
    hooks = settings.get("hooks", "homeforge_gateway")
    return {
        "model_list": model_list,
        "general_settings": {"custom_auth": f"{hooks}.user_api_key_auth"},
        "litellm_settings": {
            "callbacks": f"{hooks}.usage_logger",
            "request_timeout": settings.get("request_timeout", 600),
            "telemetry": False,
        },
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": settings.get("num_retries", 2),
            "retry_after": 0,
            "allowed_fails": settings.get("allowed_fails", 1),
            "cooldown_time": settings.get("cooldown_seconds", 30),
        },
    }


def consumers_file(consumers: list[dict]) -> dict:
    """What the hooks read (``consumers.json``): name -> models (short names) and limits."""
    return {
        c["name"]: {
            "models": sorted({names.short_name(m) for m in c["models"]}),
            "rpm": c["rpm"],
            "tpm": c["tpm"],
        }
        for c in consumers
    }


def image_problem(image: object, version: object) -> str | None:
    """Kubernetes mode's image: pinned by digest (the shared ``image_digest`` rule), and
    its tag, when it has one, names the LiteLLM release the role pins
    (``ai_gateway_version``): the hooks use that release's internals."""
    problem = rules.image_digest_problem(image)
    if problem:
        return problem
    last = str(image).split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if tag and not re.search(rf"(?<![0-9.]){re.escape(str(version))}(?![0-9.])", tag):
        return (
            f"its tag {tag!r} is not of LiteLLM {version} (ai_gateway_version): the hooks use"
            " that release's internals"
        )
    return None
