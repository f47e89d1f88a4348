# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Pieces shared by the WireGuard modules: their common options and the ``wg`` command."""

from __future__ import annotations

from ansible_collections.homeforge.homelab.plugins.module_utils.validation import (
    interface_name_problem,
)


def wireguard_argument_spec() -> dict:
    """Options of every WireGuard module (documented in doc_fragments/wireguard.py)."""
    return {
        "interface": {"type": "str", "default": "wg0"},
        "directory": {"type": "path", "default": "/etc/wireguard"},
    }


def checked_interface(module) -> str:
    """The ``interface`` option, or fail the module when it is not a safe interface name."""
    interface = module.params["interface"]
    problem = interface_name_problem(interface)
    if problem:
        module.fail_json(msg=f"invalid interface name {interface!r}: {problem}")
    return interface


def run_wg(module, *args: str, data: bytes | None = None, context: str = "") -> str:
    """Output of ``wg ARGS`` (looked up only when needed: check mode can run without it)."""
    command = [module.get_bin_path("wg", required=True), *args]
    if data is None:
        rc, out, err = module.run_command(command)
    else:
        rc, out, err = module.run_command(command, data=data, binary_data=True)
    if rc != 0:
        module.fail_json(msg=f"wg {args[0]} failed{context}: {err.strip()}")
    return out
