"""pytest fixtures for the roles' testinfra suites (registered as a pytest11 plugin).

The same test files run under ``molecule verify`` (testinfra's ansible backend,
molecule's inventory) and under ``homeforge verify`` (the remote layer's SSH against
real hosts, host keys checked; the inventory and host name come from the environment). Either way a
test sees the variables the role saw: role defaults overlaid by the inventory.
"""

from __future__ import annotations

import os

import pytest

from homeforge.verify.backend import register as _register_backend

_register_backend()


def _inventory_and_name(host, request) -> tuple[str, str]:
    inventory = os.environ.get("HOMEFORGE_INVENTORY") or request.config.getoption(
        "ansible_inventory", None
    )
    # paramiko: backend.host is a HostSpec; ansible: a str; podman: backend.name
    name = (
        os.environ.get("HOMEFORGE_VERIFY_HOST")
        or getattr(host.backend, "host", None)
        or host.backend.name
    )
    name = getattr(name, "name", name)
    if not inventory or not name:
        pytest.fail(
            "homeforge fixtures need an inventory: run through 'homeforge verify' or molecule verify"
        )
    return inventory, str(name)


@pytest.fixture(scope="module")
def hf_inventory(host, request):
    """The homeforge Inventory the host belongs to."""
    from homeforge.verify.rolevars import cached_inventory

    inventory, _ = _inventory_and_name(host, request)
    return cached_inventory(inventory)


@pytest.fixture(scope="module")
def hf_host(host, request) -> str:
    """The host's inventory name."""
    return _inventory_and_name(host, request)[1]


@pytest.fixture(scope="module")
def hf_vars(host, request) -> dict:
    """Role defaults overlaid by the host's inventory variables, templated."""
    from homeforge.verify.rolevars import role_vars

    inventory, name = _inventory_and_name(host, request)
    return role_vars(inventory, name)


@pytest.fixture(scope="module")
def hf_peer(host):
    """Another inventory host, reached as this one is (``hf_peer("lab-2")``): for the
    few checks that need two ends, such as a file written on one host and read on another."""
    import testinfra

    def peer(name: str):
        kind = getattr(host.backend, "NAME", "")
        if kind in ("podman", "docker"):
            return testinfra.get_host(f"{kind}://{name}")
        if kind == "homeforge":
            return testinfra.get_host(f"homeforge://{name}")
        return host.get_host(name)

    return peer
