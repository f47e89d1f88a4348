"""``homeforge gateway``: the AI gateway's consumer keys and usage, on the gateway host.

The gateway host is the first host of the inventory's group ``ai_gateway`` (the group
playbooks/site.yml gives the ``ai_gateway`` role), or in Kubernetes mode the first K3s
server, which keeps the keys' Secret. Keys are made there
(:mod:`homeforge.remote.gatewayops`), stored there only as their SHA-256, and a new key
travels once, over SSH, to the caller that prints it: nothing here writes it down.
"""

from __future__ import annotations

from homeforge.errors import BadInput
from homeforge.inventory.model import Inventory
from homeforge.module_utils import load
from homeforge.remote import Remote, gatewayops
from homeforge.roles import role_default

GROUP = "ai_gateway"


def gateway_host(inv: Inventory) -> str:
    """The first host of group ``ai_gateway``; in Kubernetes mode (``ai_gateway_mode:
    kubernetes`` on the servers) the first server, where the keys' Secret is kept."""
    for host in inv.hosts:
        hvars = inv.hostvars[host]
        if hvars.get("ai_gateway_mode") == "kubernetes":
            group = hvars.get("k3s_server_group") or role_default("ai_gateway", "k3s_server_group")
            servers = inv.group_members(str(group))
            if servers:
                return servers[0]
    members = inv.group_members(GROUP)
    if not members:
        raise BadInput(f"{inv.shown}: no hosts in group '{GROUP}' (the AI gateway's host)")
    return members[0]


def _consumer(name: str) -> str:
    """The name, by the rule inventory check applies (module_utils/gateway.py)."""
    load("validation")
    load("ollama")
    if not load("gateway").CONSUMER_NAME.match(name):
        raise BadInput(f"{name!r}: not a consumer name (lowercase letters, digits, _ and -)")
    return name


def issue(inv: Inventory, name: str, rotate: bool = False) -> dict:
    """A new key for consumer ``name`` (``rotate``: replacing the one it has); the key is
    in the result, once."""
    host = gateway_host(inv)
    with Remote(inv) as remote:
        return {
            "host": host,
            **remote.call(host, gatewayops.keys_issue, name=_consumer(name), rotate=rotate),
        }


def revoke(inv: Inventory, name: str) -> dict:
    host = gateway_host(inv)
    with Remote(inv) as remote:
        return {
            "host": host,
            **remote.call(host, gatewayops.keys_revoke, name=_consumer(name)),
        }


def consumers(inv: Inventory) -> dict:
    host = gateway_host(inv)
    with Remote(inv) as remote:
        return {"host": host, **remote.call(host, gatewayops.keys_list)}


def usage(inv: Inventory, since: float = 0.0) -> dict:
    host = gateway_host(inv)
    with Remote(inv) as remote:
        return {"host": host, **remote.call(host, gatewayops.usage, since=since)}


def ask(inv: Inventory, key: str, model: str, question: str) -> dict:
    """One question through the gateway, asked on its host with a consumer's ``key``."""
    if not key.strip():
        raise BadInput("no consumer key given (HOMEFORGE_GATEWAY_KEY or --key-stdin)")
    host = gateway_host(inv)
    with Remote(inv) as remote:
        return {
            "host": host,
            **remote.call(host, gatewayops.ask, key=key.strip(), model=model, question=question),
        }
