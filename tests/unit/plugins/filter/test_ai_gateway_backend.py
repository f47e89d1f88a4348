"""The ai_gateway_backend filter (module_utils/gateway.py ingress_backend): where the
ingress roles route the AI gateway's host name, as the ai_gateway role makes it listen."""

from __future__ import annotations

import pytest
from ansible_collections.homeforge.homelab.plugins.filter.ai_gateway_backend import (
    ai_gateway_backend,
)


@pytest.mark.parametrize(
    ("listen", "port", "mesh", "expected"),
    [
        ("", 4000, "10.77.0.2", {"address": "10.77.0.2", "port": 4000}),  # the role's default
        ("", 4100, "fd77::2", {"address": "fd77::2", "port": 4100}),
        ("0.0.0.0:4001", 4000, "10.77.0.2", {"address": "10.77.0.2", "port": 4001}),
        ("[::]:4001", 4000, "fd77::2", {"address": "fd77::2", "port": 4001}),
        ("192.168.1.5:4002", 4000, "10.77.0.2", {"address": "192.168.1.5", "port": 4002}),
        ("[fd00::5]:4003", 4000, "10.77.0.2", {"address": "fd00::5", "port": 4003}),
        ("", 4000, "", {"address": "", "port": 4000}),  # a new host in check mode: no mesh yet
        ("0.0.0.0:4001", 4000, None, {"address": "", "port": 4001}),
    ],
)
def test_the_backend_is_where_the_gateway_listens(listen, port, mesh, expected):
    assert ai_gateway_backend(listen, port, mesh) == expected
