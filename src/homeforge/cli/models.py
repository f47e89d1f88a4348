"""``homeforge models list | pull | rm | seed``: the fleet's Ollama models."""

from __future__ import annotations

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
def models() -> None:
    """Ollama models across the hosts of group 'ollama': list, pull, remove, seed host to host."""


@models.command("list")
@inventory_option
@json_option
@handle_errors
def models_list(inventory_path, as_json):
    """Every host's models: name, size, digest (as its Ollama lists them) and where each
    came from (pulled from a registry or seeded from a host, as homeforge recorded it)."""
    from homeforge.models import list_models, ollama_hosts

    inv = checked_inventory(inventory_path)
    found = list_models(inv, ollama_hosts(inv))
    if as_json:
        display.emit({"hosts": {h.host: {"models": h.models, "error": h.error} for h in found}})
    else:
        tables.models(found)
    finish(not any(h.error for h in found))


@models.command("seed")
@click.argument("name")
@click.option("--from", "source", required=True, help="The host that has the model.")
@click.option("--to", "targets", help="Comma-separated hosts (default: every other Ollama host).")
@inventory_option
@json_option
@handle_errors
def models_seed(name, source, targets, inventory_path, as_json):
    """Copy model NAME from one host to others, host to host, every blob checked.

    The model crosses the upstream registry's link once (to the source); the targets
    get it over the mesh or the LAN, never through this machine's disk. A seed that
    stops halfway resumes where it stopped when run again.
    """
    from homeforge.errors import BadInput
    from homeforge.models import ollama_hosts, seed

    inv = checked_inventory(inventory_path)
    hosts = ollama_hosts(inv)
    wanted = [t.strip() for t in targets.split(",")] if targets else hosts
    unknown = [h for h in [source, *wanted] if h not in hosts]
    if unknown:
        raise BadInput(f"{inv.shown}: {', '.join(unknown)}: not in group 'ollama'")
    result = seed(inv, name, source, wanted)
    if as_json:
        display.emit({"seed": vars(result)})
    else:
        tables.seed(result)
    finish(result.ok)


def _on_hosts(inv, on):
    from homeforge.errors import BadInput
    from homeforge.models import ollama_hosts

    hosts = ollama_hosts(inv)
    if not on:
        return hosts
    wanted = [h.strip() for h in on.split(",") if h.strip()]
    unknown = [h for h in wanted if h not in hosts]
    if unknown:
        raise BadInput(f"{inv.shown}: --on: {', '.join(unknown)}: not in group 'ollama'")
    return wanted


def _model_run(name, wanted, on, inventory_path, as_json):
    from homeforge.display import progress
    from homeforge.models import pulls

    inv = checked_inventory(inventory_path)
    hosts = _on_hosts(inv, on)
    if as_json:
        outcome = pulls.run(
            inv,
            name,
            wanted,
            hosts,
            on_progress=lambda host, snap: display.emit({"progress": {"host": host, **snap}}),
        )
        display.emit(
            {
                "model": outcome.model,
                "wanted": wanted,
                "ok": outcome.ok,
                "hosts": {o.host: vars(o) for o in outcome.outcomes},
            }
        )
    elif wanted == "present":
        with progress.PullBars(name, hosts) as bars:
            outcome = pulls.run(inv, name, wanted, hosts, on_progress=bars.update)
        tables.model_run(outcome)
    else:
        outcome = pulls.run(inv, name, wanted, hosts)
        tables.model_run(outcome)
    finish(outcome.ok)


@models.command("pull")
@click.argument("name")
@click.option("--on", help="Comma-separated hosts (default: every host of group 'ollama').")
@inventory_option
@json_option
@handle_errors
def models_pull(name, on, inventory_path, as_json):
    """Pull model NAME on the Ollama hosts, a progress bar per host (bytes, rate, ETA).

    A host that has the model already pulls nothing. Each host pulls from the registry
    itself: to fetch a model once per fleet, pull it on one host and 'seed' the others.
    """
    _model_run(name, "present", on, inventory_path, as_json)


@models.command("rm")
@click.argument("name")
@click.option("--on", help="Comma-separated hosts (default: every host of group 'ollama').")
@inventory_option
@json_option
@handle_errors
def models_rm(name, on, inventory_path, as_json):
    """Remove model NAME from the Ollama hosts (its blobs no other model uses go too)."""
    _model_run(name, "absent", on, inventory_path, as_json)
