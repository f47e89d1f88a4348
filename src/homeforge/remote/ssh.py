"""SSH from the controller with the inventory's credentials and Ansible's host-key trust.

Host keys are checked against the known_hosts file the inventory gives Ansible
(``-o UserKnownHostsFile=...`` in ansible_ssh_common_args) or ~/.ssh/known_hosts;
an unknown or changed key is refused, never accepted.
"""

from __future__ import annotations

import re
from pathlib import Path

from homeforge.inventory.model import Inventory


def known_hosts_file(hvars: dict) -> Path:
    match = re.search(r"UserKnownHostsFile=(\S+)", str(hvars.get("ansible_ssh_common_args", "")))
    return Path(match.group(1) if match else "~/.ssh/known_hosts").expanduser()


def connect(inv: Inventory, host: str, timeout: float = 10):
    """A connected paramiko SSHClient; raises paramiko.SSHException or OSError."""
    import paramiko

    hvars = inv.hostvars[host]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known = known_hosts_file(hvars)
    if known.is_file():
        try:
            client.load_host_keys(str(known))
        except (paramiko.hostkeys.InvalidHostKey, ValueError) as exc:
            raise paramiko.SSHException(
                f"{known}: malformed known_hosts entry ({exc.__class__.__name__})"
            ) from None
    key_file = hvars.get("ansible_ssh_private_key_file")
    try:
        client.connect(
            inv.address(host),
            port=int(hvars.get("ansible_port", 22)),
            username=inv.user(host),
            key_filename=key_file,
            timeout=timeout,
            allow_agent=False,
            look_for_keys=not key_file,
        )
    except BaseException:
        client.close()
        raise
    return client


def host_key_problem(inv: Inventory, host: str) -> str | None:
    """Connect once, refusing unknown or changed host keys (as Ansible would); None when fine."""
    import paramiko

    try:
        connect(inv, host).close()
    except paramiko.SSHException as exc:
        known = known_hosts_file(inv.hostvars[host])
        return (
            f"{inv.where(host, 'ansible_host')}: ssh to {inv.address(host)} refused: {exc} "
            f"(known_hosts: {known})"
        )
    except OSError as exc:
        return f"{inv.where(host, 'ansible_host')}: {inv.address(host)} unreachable ({exc.strerror or exc})"
    return None
