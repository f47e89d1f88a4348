# Copyright: homeforge maintainers
# Apache License 2.0
"""LiteLLM's proxy configuration for the AI gateway, from the inventory (module_utils/gateway.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ai_gateway_config
short_description: LiteLLM's proxy configuration and consumer list for the gateway, from the inventory
description:
  - Takes the Ollama hosts (each one's C(ollama_models), C(ollama_host) and mesh address) and returns C(config), the proxy's
    C(config.yaml) as data (every model of each host's C(ollama_models), served by every host
    that lists it, at the address the gateway reaches that host's Ollama at; the hooks for
    keys and usage; the router's retries and cooldown), and C(consumers), what the hooks read
    (each consumer's models and limits).
  - Fails with one line naming the host, model or consumer the gateway cannot serve, by the
    rules C(homeforge inventory check) applies (the collection's module_utils/gateway.py).
options:
  _input:
    description: >-
      Inventory name of each Ollama host to C({ollama_models, ollama_host, mesh_address}) (its
      C(wireguard_facts.address)).
    type: dict
    required: true
  gateway_host:
    description: The inventory name of the gateway host.
    type: str
    required: true
  consumers:
    description: C(ai_gateway_consumers).
    type: list
    elements: dict
    required: true
  settings:
    description: >-
      C(embedding_models), C(num_retries), C(allowed_fails), C(cooldown_seconds),
      C(request_timeout).
    type: dict
    required: true
"""

EXAMPLES = r"""
gateway: >-
  {{ {'gpu-1': {'ollama_models': ['llama3.2:1b'], 'ollama_host': '0.0.0.0:11434', 'mesh_address': '10.77.0.2'}}
     | homeforge.homelab.ai_gateway_config(inventory_hostname, ai_gateway_consumers, {'num_retries': 2}) }}
"""

RETURN = r"""
_value:
  description: The proxy's configuration and the consumers.
  type: dict
  contains:
    config: {description: "C(config.yaml) as data (model_list, general_settings, litellm_settings, router_settings).", type: dict}
    consumers: {description: Consumer name to its models (short names) and C(rpm) and C(tpm) limits., type: dict}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils import gateway


def ai_gateway_config(ollama_hosts, gateway_host, consumers, settings):
    if not ollama_hosts:
        raise AnsibleFilterError(
            "ai_gateway: the Ollama group has no hosts: the gateway has nothing to serve"
        )
    ollama_hosts = {host: dict(hvars) for host, hvars in dict(ollama_hosts).items()}
    try:
        config = gateway.proxy_config(ollama_hosts, gateway_host, dict(settings))
        served = set(gateway.served_models(ollama_hosts))
    except ValueError as exc:
        raise AnsibleFilterError(f"ai_gateway: {exc}") from None
    problems = gateway.consumer_problems(consumers, served)
    if problems:
        where, problem = problems[0]
        raise AnsibleFilterError(f"ai_gateway: ai_gateway_consumers{where}: {problem}")
    return {"config": config, "consumers": gateway.consumers_file(consumers)}


class FilterModule:
    def filters(self):
        return {"ai_gateway_config": ai_gateway_config}
