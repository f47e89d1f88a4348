"""The mesh planner (module_utils/mesh.py): stable addressing, topology with relays, errors.

Loaded by path as plain Python, as the homeforge CLI loads it.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys

import pytest

from tests.unit.plugins.support import ROOT, load_plain

mesh = load_plain("plugins/module_utils/mesh.py")
KEY = "u+BXBhkx/1lq8P0vY0W4QzdN8QV7m0l5UhxjQ0h3jn8="  # a syntactically valid public key


def host(name, **kw):
    kw.setdefault("public_key", KEY)
    return mesh.MeshHost(
        name=name,
        endpoint_host=kw.pop("endpoint_host", f"192.0.2.{abs(hash(name)) % 200 + 1}"),
        **kw,
    )


def test_addresses_are_deterministic_unique_and_inside_the_cidr():
    hosts = [host(f"node-{i}") for i in range(50)]
    first = mesh.allocate("10.77.0.0/24", hosts)
    assert first == mesh.allocate("10.77.0.0/24", list(reversed(hosts)))
    assert len(set(first.values())) == 50
    net = ipaddress.ip_network("10.77.0.0/24")
    assert all(
        ipaddress.ip_address(a) in net and a not in ("10.77.0.0", "10.77.0.255")
        for a in first.values()
    )


def test_adding_and_removing_hosts_never_renumbers_the_others():
    hosts = [host(f"node-{i}") for i in range(30)]
    before = mesh.allocate("10.77.0.0/24", hosts)
    # the hosts now report the addresses they were given
    settled = [host(h.name, current_address=before[h.name]) for h in hosts]
    grown = mesh.allocate("10.77.0.0/24", [*settled, *(host(f"new-{i}") for i in range(40))])
    assert all(grown[name] == address for name, address in before.items())
    shrunk = mesh.allocate("10.77.0.0/24", settled[::2])
    assert all(shrunk[h.name] == before[h.name] for h in settled[::2])


def test_explicit_address_wins_and_conflicts_are_named():
    hosts = [host("a", address="10.77.0.10"), host("b", current_address="10.77.0.10"), host("c")]
    out = mesh.allocate("10.77.0.0/24", hosts)
    assert out["a"] == "10.77.0.10" and out["b"] != "10.77.0.10"
    with pytest.raises(
        mesh.MeshError,
        match=re.escape("host b: wireguard_address: 10.77.0.10 is already used by host a"),
    ):
        mesh.allocate(
            "10.77.0.0/24", [host("a", address="10.77.0.10"), host("b", address="10.77.0.10")]
        )
    with pytest.raises(
        mesh.MeshError, match=re.escape("10.78.0.1 is not a usable address in 10.77.0.0/24")
    ):
        mesh.allocate("10.77.0.0/24", [host("a", address="10.78.0.1")])
    with pytest.raises(mesh.MeshError, match="room for 2 hosts"):
        mesh.allocate("10.77.0.0/30", [host("a"), host("b"), host("c")])


def test_full_mesh_peers_and_allowed_ips():
    plan = mesh.plan(
        "10.77.0.0/24", [host("a"), host("b", extra_allowed_ips=["192.168.50.0/24"]), host("c")]
    )
    peers_of_a = {p["name"]: p for p in plan["a"]["peers"]}
    assert set(peers_of_a) == {"b", "c"}
    assert peers_of_a["b"]["allowed_ips"] == [f"{plan['b']['address']}/32", "192.168.50.0/24"]
    assert peers_of_a["b"]["endpoint"].endswith(":51820") and peers_of_a["b"]["keepalive"] == 0


def test_unreachable_host_goes_through_its_relay():
    hosts = [
        host("relay"),
        host("x"),
        host("nat", reachable=False, relay="relay", endpoint_host=""),
    ]
    plan = mesh.plan("10.77.0.0/24", hosts)
    nat = plan["nat"]["peers"]
    assert [p["name"] for p in nat] == ["relay"]
    assert nat[0]["allowed_ips"] == ["10.77.0.0/24"] and nat[0]["keepalive"] == 25
    relay_peers = {p["name"]: p for p in plan["relay"]["peers"]}
    assert relay_peers["nat"]["endpoint"] == "" and relay_peers["nat"]["allowed_ips"] == [
        f"{plan['nat']['address']}/32"
    ]
    x_peers = {p["name"]: p for p in plan["x"]["peers"]}
    assert "nat" not in x_peers
    assert f"{plan['nat']['address']}/32" in x_peers["relay"]["allowed_ips"]
    assert plan["relay"]["relay_for"] == ["nat"]


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([host("nat", reachable=False)], "host nat: wireguard_relay: host is not reachable"),
        ([host("nat", reachable=False, relay="ghost")], "relay 'ghost' is not in the mesh"),
        (
            [host("a", reachable=False, relay="b"), host("b", reachable=False, relay="a")],
            "is itself not reachable",
        ),
        ([host("a", endpoint_host="")], "host a: wireguard_endpoint: no endpoint"),
        ([host("a", public_key="not-a-key")], "host a: wireguard_public_key: malformed"),
        ([host("a", extra_allowed_ips=["10.77.0.0/25"])], "overlaps the mesh 10.77.0.0/24"),
        ([host("a", public_key="")], "public key unknown"),
    ],
)
def test_bad_topologies_are_rejected(hosts, message):
    with pytest.raises(mesh.MeshError, match=message):
        mesh.plan("10.77.0.0/24", hosts)


def test_check_mode_plan_tolerates_unknown_keys():
    plan = mesh.plan("10.77.0.0/24", [host("a", public_key=""), host("b")], need_keys=False)
    assert plan["b"]["peers"][0]["public_key"] == ""


def test_ipv6_mesh_and_endpoints():
    plan = mesh.plan(
        "fd77::/64",
        [host("a", endpoint_host="2001:db8::1"), host("b", endpoint_host="2001:db8::2")],
    )
    assert plan["a"]["peers"][0]["endpoint"] == "[2001:db8::2]:51820"
    assert plan["a"]["peers"][0]["allowed_ips"][0].endswith("/128")


def test_public_key_shape():
    assert mesh.is_public_key(KEY)
    assert not mesh.is_public_key(KEY[:-1])  # 43 characters
    assert not mesh.is_public_key("!" * 43 + "=")  # not base64
    assert not mesh.is_public_key(None)


def test_loads_as_plain_python_without_ansible():
    # The CLI loads these by path before any Ansible import (homeforge.module_utils):
    # they must stand on the standard library alone, mesh.py finding the rules by the
    # name the CLI registers them under.
    probe = (
        "import importlib.util, sys\n"
        "sys.modules['ansible'] = sys.modules['ansible_collections'] = None\n"
        "for name in ('validation', 'mesh', 'files'):\n"
        "    path = f'plugins/module_utils/{name}.py'\n"
        "    spec = importlib.util.spec_from_file_location('homeforge_module_utils_' + name, path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    sys.modules[spec.name] = module\n"
        "    spec.loader.exec_module(module)\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)
