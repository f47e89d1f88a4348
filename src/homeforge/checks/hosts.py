"""Hosts: how to reach them (address, port, key file) and no two hosts at one address."""

from __future__ import annotations

from pathlib import Path

from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import inventory_name_problem, is_address, is_port

# Connection variables that are one string each (a list here is a mistake, not a choice).
_CONNECTION_TEXT = {
    "ansible_host",
    "ansible_user",
    "ansible_connection",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_python_interpreter",
}


def check_connection(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        # The name is the peer's name in configs and file names, even with ansible_host.
        problem = inventory_name_problem(host)
        if problem:
            problems.append(f"{inv.where(host, 'inventory host name')}: {problem}")
        for key in sorted(_CONNECTION_TEXT & hvars.keys()):
            if not isinstance(hvars[key], str):
                problems.append(
                    f"{inv.where(host, key)}: must be a single string, not {type(hvars[key]).__name__}"
                )
        address = hvars.get("ansible_host", host)
        if is_template(address):
            pass
        elif not isinstance(address, str) or not is_address(address):
            problems.append(
                f"{inv.where(host, 'ansible_host')}: {address!r} is not an IP address or host name"
            )
        port = hvars.get("ansible_port", 22)
        if not is_template(port) and not is_port(port):
            problems.append(
                f"{inv.where(host, 'ansible_port')}: '{port}' is not a TCP port (1-65535)"
            )
        key_file = hvars.get("ansible_ssh_private_key_file")
        if (
            isinstance(key_file, str)
            and not is_template(key_file)
            and not Path(key_file).expanduser().is_file()
        ):
            problems.append(
                f"{inv.where(host, 'ansible_ssh_private_key_file')}: {key_file}: no such file"
            )
    return problems


def check_duplicate_addresses(inv: Inventory) -> list[str]:
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for host, hvars in inv.hostvars.items():
        if hvars.get("ansible_connection") in ("local", "podman", "containers.podman.podman"):
            continue
        endpoint = (str(hvars.get("ansible_host", host)), str(hvars.get("ansible_port", 22)))
        if endpoint in seen:
            problems.append(
                f"{inv.where(host, 'ansible_host')}: {endpoint[0]}:{endpoint[1]} is already used by host {seen[endpoint]}"
            )
        else:
            seen[endpoint] = host
    return problems


CHECKS = [check_connection, check_duplicate_addresses]
