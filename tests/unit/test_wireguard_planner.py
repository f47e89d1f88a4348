"""The mesh plan refuses bad inventory values itself, at the point of use, even when
``inventory check`` was not run."""

from __future__ import annotations

import pytest

from homeforge.wireguard.planner import load_mesh_utils
from tests.unit.inventory_support import INJECTION


def test_the_mesh_plan_refuses_an_injected_endpoint_even_without_the_check():
    mesh = load_mesh_utils()
    hostvars = {"h1": {"wireguard_endpoint": INJECTION}, "h2": {"ansible_host": "192.0.2.2"}}
    with pytest.raises(mesh.MeshError, match="h1: wireguard_endpoint"):
        mesh.plan("10.77.0.0/24", mesh.hosts_from_vars(["h1", "h2"], hostvars), need_keys=False)
    with pytest.raises(mesh.MeshError, match="inventory host name"):
        mesh.plan("10.77.0.0/24", mesh.hosts_from_vars(["a\nb", "h2"], {}), need_keys=False)
