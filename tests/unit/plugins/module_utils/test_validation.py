"""The shared validation rules (module_utils/validation.py)."""

from __future__ import annotations

import pytest
from ansible_collections.homeforge.homelab.plugins.module_utils import validation


@pytest.mark.parametrize("name", ["wg0", "wg-mesh", "wg_0", "wg.1", "a=b+c", "x" * 15, "0"])
def test_interface_names_accepted(name):
    assert validation.is_interface_name(name)
    assert validation.interface_name_problem(name) is None
    assert validation.INTERFACE_NAME_RE.fullmatch(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("wg0 private-key #", "only letters"),  # would split into wg arguments
        ("wg0;cmd", "only letters"),
        ("wg0\n", "only letters"),  # '$' in a regex would let this through
        ("wg0\nPrivateKey = x", "only letters"),
        ("x" * 16, "at most 15"),
        ("-x", "must not start with '-'"),  # read as an option by wg / ip
        ("wg/0", "only letters"),
        ("..", "not interface names"),
        (".", "not interface names"),
        ("", "non-empty"),
        (None, "non-empty"),
        (0, "non-empty"),
    ],
)
def test_interface_names_rejected_with_a_reason(name, why):
    assert not validation.is_interface_name(name)
    assert why in validation.interface_name_problem(name)
    assert not (isinstance(name, str) and validation.INTERFACE_NAME_RE.fullmatch(name))


@pytest.mark.parametrize("name", ["lab-1", "node_2", "a.example.org", "x" * 253])
def test_peer_names_accepted(name):
    assert validation.is_peer_name(name)


@pytest.mark.parametrize("name", ["../etc", "a/b", "a b", "a\n", "", "x" * 254, None])
def test_peer_names_rejected(name):
    assert not validation.is_peer_name(name)


@pytest.mark.parametrize(
    "name", ["net.ipv4.ip_forward", "net.ipv4.conf.wg-mesh.forwarding", "vm.swappiness"]
)
def test_sysctl_names_accepted(name):
    assert validation.is_sysctl_name(name)


@pytest.mark.parametrize(
    "name", ["net./etc/passwd", "net..ipv4", ".net", "net.", "net.ipv4.ip forward", "", None]
)
def test_sysctl_names_rejected(name):
    assert not validation.is_sysctl_name(name)
