"""testinfra's connection for ``homeforge verify``: the remote layer's SSH.

testinfra's own paramiko backend accepts unknown host keys (it warns and goes on);
this one connects through :func:`homeforge.remote.ssh.connect`, with the
inventory's credentials and known_hosts, so an unknown or changed host key fails
the suite's connection itself, not just a check before it. Host spec:
``homeforge://HOST`` (the inventory comes from ``HOMEFORGE_INVENTORY``).
"""

from __future__ import annotations

import functools
import os

from testinfra.backend.paramiko import ParamikoBackend

NAME = "homeforge"


class HomeforgeBackend(ParamikoBackend):
    NAME = NAME

    @functools.cached_property
    def client(self):
        from homeforge.remote import ssh
        from homeforge.verify.rolevars import cached_inventory

        inventory = os.environ.get("HOMEFORGE_INVENTORY")
        if not inventory:
            raise RuntimeError(
                "homeforge:// hosts need HOMEFORGE_INVENTORY (run 'homeforge verify')"
            )
        return ssh.connect(cached_inventory(inventory), self.host.name, timeout=self.timeout)


def register() -> None:
    """Make ``homeforge://`` known to testinfra (called when the pytest plugin loads)."""
    from testinfra import backend

    backend.BACKENDS.setdefault(NAME, f"{__name__}.HomeforgeBackend")
