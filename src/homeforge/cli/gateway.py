"""``homeforge gateway keys issue | rotate | revoke | list`` and ``gateway usage``: the AI
gateway's consumers (the first host of group 'ai_gateway')."""

from __future__ import annotations

import time

import click

from homeforge import display
from homeforge.cli.common import (
    checked_inventory,
    finish,
    handle_errors,
    inventory_option,
    json_option,
)
from homeforge.display import tables


@click.group()
def gateway() -> None:
    """The AI gateway (LiteLLM's proxy on group 'ai_gateway'): consumer keys and usage."""


@gateway.group()
def keys() -> None:
    """Consumer keys: made on the gateway host, kept there only as their SHA-256."""


def _key_command(name, rotate, inventory_path, as_json):
    from homeforge import gateway as gw

    issued = gw.issue(checked_inventory(inventory_path), name, rotate=rotate)
    if as_json:
        display.emit({"key": issued})
    else:
        tables.gateway_key(issued)
    finish(True)


@keys.command("issue")
@click.argument("name")
@inventory_option
@json_option
@handle_errors
def keys_issue(name, inventory_path, as_json):
    """A key for consumer NAME (declared in ai_gateway_consumers), shown once: store it
    where the consumer keeps secrets; homeforge keeps no copy."""
    _key_command(name, False, inventory_path, as_json)


@keys.command("rotate")
@click.argument("name")
@inventory_option
@json_option
@handle_errors
def keys_rotate(name, inventory_path, as_json):
    """A new key for NAME, shown once; the old key is refused from the next request."""
    _key_command(name, True, inventory_path, as_json)


@keys.command("revoke")
@click.argument("name")
@inventory_option
@json_option
@handle_errors
def keys_revoke(name, inventory_path, as_json):
    """Revoke NAME's key: refused (401) from the next request, without a restart."""
    from homeforge import gateway as gw

    done = gw.revoke(checked_inventory(inventory_path), name)
    if as_json:
        display.emit({"revoke": done})
    else:
        display.console.print(
            f"{done['host']}: {name}: " + ("key revoked" if done["revoked"] else "had no key")
        )
    finish(True)


@keys.command("list")
@inventory_option
@json_option
@handle_errors
def keys_list(inventory_path, as_json):
    """Every consumer: its models and limits, whether it has a key, when it was issued or
    revoked (no key, no hash)."""
    from homeforge import gateway as gw

    found = gw.consumers(checked_inventory(inventory_path))
    if as_json:
        display.emit(found)
    else:
        tables.gateway_consumers(found)
    finish(True)


@gateway.command("usage")
@click.option(
    "--since", default="24h", show_default=True, help="How far back: 30m, 24h, 7d or all."
)
@inventory_option
@json_option
@handle_errors
def usage(since, inventory_path, as_json):
    """Requests, errors, tokens in and out, and latency per consumer and model, from the
    gateway's own records."""
    from homeforge import gateway as gw

    found = gw.usage(checked_inventory(inventory_path), since=_since(since))
    if as_json:
        display.emit(found)
    else:
        tables.gateway_usage(found)
    finish(True)


@gateway.command("ask")
@click.argument("model")
@click.argument("question")
@click.option(
    "--key-stdin",
    is_flag=True,
    help="Read the consumer key from stdin (else HOMEFORGE_GATEWAY_KEY).",
)
@inventory_option
@json_option
@handle_errors
def ask(model, question, key_stdin, inventory_path, as_json):
    """Ask MODEL one QUESTION through the gateway, as the consumer whose key is given
    (from the environment or stdin: never an argument, which ps would show). The request
    is made on the gateway host, which listens on the mesh."""
    import os
    import sys

    from homeforge import gateway as gw

    key = sys.stdin.readline() if key_stdin else os.environ.get("HOMEFORGE_GATEWAY_KEY", "")
    answer = gw.ask(checked_inventory(inventory_path), key, model, question)
    if as_json:
        display.emit({"ask": answer})
    else:
        tables.gateway_answer(answer)
    finish(True)


def _since(text: str) -> float:
    from homeforge.errors import BadInput

    if text == "all":
        return 0.0
    units = {"m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise BadInput(
            f"--since {text!r}: a number of minutes, hours or days (30m, 24h, 7d) or all"
        )
    return time.time() - int(text[:-1]) * units[text[-1]]
