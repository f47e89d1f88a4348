# Copyright: homeforge maintainers
# Apache License 2.0
"""Where an ingress reaches the AI gateway (module_utils/gateway.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ai_gateway_backend
short_description: The address and port an ingress routes the AI gateway's host name to
description:
  - Takes the gateway host's C(ai_gateway_listen) (C(ADDRESS:PORT), possibly empty) and returns
    the address and port the gateway serves on, as the ai_gateway role makes it listen.
  - An empty C(ai_gateway_listen), or one on every address (C(0.0.0.0), C(::)), means the
    host's mesh address (C(wireguard_facts.address)) and the listen port (C(ai_gateway_port)
    when C(ai_gateway_listen) is empty).
  - The address is empty when there is none to route to (a new host in check mode has no
    mesh address yet); the roles refuse that outside check mode.
options:
  _input:
    description: The gateway host's C(ai_gateway_listen).
    type: str
    required: true
  port:
    description: The gateway host's C(ai_gateway_port).
    type: int
    required: true
  mesh_address:
    description: The gateway host's mesh address (C(wireguard_facts.address)), or empty.
    type: str
    required: true
"""

EXAMPLES = r"""
backend: >-
  {{ hostvars[gw]['ai_gateway_listen'] | default('')
     | homeforge.homelab.ai_gateway_backend(hostvars[gw]['ai_gateway_port'] | default(4000),
                                            (hostvars[gw]['wireguard_facts'] | default({})).address | default('')) }}
"""

RETURN = r"""
_value:
  description: Where the gateway serves.
  type: dict
  contains:
    address: {description: "An IPv4 or IPv6 address (no brackets), or empty.", type: str}
    port: {description: The port., type: int}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils import gateway


def ai_gateway_backend(listen, port, mesh_address):
    try:
        return gateway.ingress_backend(listen, port, mesh_address)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"ai_gateway_backend: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"ai_gateway_backend": ai_gateway_backend}
