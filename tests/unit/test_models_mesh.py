"""Seeding sends a model's bytes and its one-time token as HTTP: only over the mesh."""

from __future__ import annotations

import pytest

from homeforge import inventory
from homeforge.errors import BadInput
from homeforge.models import _offer_address


class NoRemote:
    def call(self, *args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("nothing may be asked of a host before the mesh is checked")


def test_a_host_outside_the_mesh_is_refused_before_anything_is_offered(write):
    path = write(
        "inv/hosts.yml",
        """
        all:
          vars: {wireguard_group: mesh}
          children:
            mesh:
              hosts:
                gpu-a: {ansible_host: 192.0.2.10}
            ollama:
              hosts:
                gpu-a: {}
                gpu-b: {ansible_host: 192.0.2.11}
        """,
    )
    inv = inventory.load(path)
    with pytest.raises(BadInput) as caught:
        _offer_address(inv, NoRemote(), "gpu-a", ["gpu-a", "gpu-b"])
    message = str(caught.value)
    assert "gpu-b" in message and "mesh" in message and "\n" not in message


class MeshAddress:
    def call(self, host, function, **kwargs):
        return {"address": "10.77.0.1"}


def test_hosts_in_the_mesh_are_served_on_the_mesh_address(write):
    path = write(
        "inv/hosts.yml",
        """
        all:
          vars: {wireguard_group: mesh}
          children:
            mesh:
              hosts:
                gpu-a: {ansible_host: 192.0.2.10}
                gpu-b: {ansible_host: 192.0.2.11}
        """,
    )
    inv = inventory.load(path)
    assert _offer_address(inv, MeshAddress(), "gpu-a", ["gpu-a", "gpu-b"]) == "10.77.0.1"
