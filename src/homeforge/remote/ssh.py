"""SSH from the controller with the inventory's credentials and Ansible's host-key trust.

Host keys are checked against the known_hosts file the inventory gives Ansible
(``-o UserKnownHostsFile=...`` in ansible_ssh_common_args) or ~/.ssh/known_hosts;
an unknown or changed key is refused, never accepted.

paramiko's transport thread logs a connection that dies (a peer that accepts TCP and
hangs up, or answers with something other than SSH) at ERROR with its traceback, and
with no logging configured Python prints that on stderr. The same failure reaches the
caller as the exception :func:`connect` raises, which homeforge reports in one line
(:func:`one_line`), so paramiko's records are kept off stderr.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from homeforge.inventory.model import Inventory


def known_hosts_file(hvars: dict) -> Path:
    match = re.search(r"UserKnownHostsFile=(\S+)", str(hvars.get("ansible_ssh_common_args", "")))
    return Path(match.group(1) if match else "~/.ssh/known_hosts").expanduser()


def quiet_paramiko() -> None:
    """Keep paramiko's log records (tracebacks from its transport thread) off stderr."""
    logger = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def one_line(exc: BaseException) -> str:
    """An SSH failure's message on one line (its class name when it has none)."""
    if isinstance(exc, EOFError) and not str(exc):
        return "the peer closed the connection during the SSH handshake"
    return " ".join(str(exc).split()) or type(exc).__name__


def connect(inv: Inventory, host: str, timeout: float = 10):
    """A connected paramiko SSHClient; raises paramiko.SSHException, EOFError or OSError."""
    import paramiko

    quiet_paramiko()
    # Settings read through the inventory: a vaulted one is decrypted (BadInput without
    # the vault password).
    known = known_hosts_file(
        {"ansible_ssh_common_args": inv.setting(host, "ansible_ssh_common_args", "")}
    )
    key_file = inv.setting(host, "ansible_ssh_private_key_file")
    port = int(inv.setting(host, "ansible_port", 22))
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if known.is_file():
        try:
            client.load_host_keys(str(known))
        except (paramiko.hostkeys.InvalidHostKey, ValueError) as exc:
            raise paramiko.SSHException(
                f"{known}: malformed known_hosts entry ({exc.__class__.__name__})"
            ) from None
    try:
        client.connect(
            inv.address(host),
            port=port,
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
    except (paramiko.SSHException, EOFError) as exc:  # EOFError: the peer hung up mid-handshake
        known = known_hosts_file(inv.hostvars[host])
        return (
            f"{inv.where(host, 'ansible_host')}: ssh to {inv.address(host)} refused: "
            f"{one_line(exc)} (known_hosts: {known})"
        )
    except OSError as exc:
        return (
            f"{inv.where(host, 'ansible_host')}: {inv.address(host)} unreachable "
            f"({exc.strerror or one_line(exc)})"
        )
    return None
