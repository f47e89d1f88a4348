"""The cutover's targets: consumers restarted when their switch was left at intent, mesh
addresses checked before use, and the firewall exposure verified over IPv6 too."""

from __future__ import annotations

import pytest

from homeforge.cutover.model import Consumer, Service, Variable
from homeforge.cutover.targets import EnvFileConsumer, StepFailed, checked_mesh_address
from homeforge.remote import firewallops


class _Remote:
    def __init__(self, changed: bool):
        self.changed = changed
        self.calls: list[str] = []

    def call(self, host, fn, **kwargs):
        self.calls.append(fn.__name__)
        return {"changed": self.changed}


@pytest.mark.parametrize("settle, restarted", [(False, False), (True, True)])
def test_a_consumer_left_at_intent_is_restarted_even_when_its_file_is_already_switched(
    settle, restarted
):
    consumer = Consumer("api-1", "env_file", "/etc/api.env", [Variable("URL", "gpu-a")])
    consumer.after = ("restart", "api.service")
    ctx = type("Ctx", (), {"remote": _Remote(changed=False)})()
    EnvFileConsumer(ctx, consumer).write({"URL": "http://10.77.0.2:1"}, settle=settle)
    assert ("unit_action" in ctx.remote.calls) is restarted


def test_a_mesh_address_outside_the_mesh_stops_preflight():
    assert checked_mesh_address("gpu-a", "10.77.0.5", "10.77.0.0/24") == "10.77.0.5"
    for bad in ("192.168.1.5", "10.77.0.5\nX=1", None, "fe80::1"):
        with pytest.raises(StepFailed, match="not in the mesh"):
            checked_mesh_address("gpu-a", bad, "10.77.0.0/24")
    assert Service("s", 1, {}, []).mesh_url("fd00::5") == "http://[fd00::5]:1"


class _V6Remote:
    def __init__(self, reply):
        self.reply = reply

    def call(self, host, fn, **kwargs):
        assert fn is firewallops.ipv6_exposure
        return self.reply


def _firewall(reply, address="127.0.0.1", port=1):
    from homeforge.cutover.targets import Context, FirewallExposure

    inv = type("Inv", (), {"address": lambda self, host: address})()
    service = Service("svc", port, {"h1": ""}, [])
    return FirewallExposure(Context(inv, _V6Remote(reply), service, "wg0", "10.77.0.0/24"))


def test_ipv6_addresses_without_closing_rules_fail_verify():
    exposure = _firewall({"addresses": ["2001:db8::5"], "ip6tables": False, "active": False})
    with pytest.raises(
        StepFailed, match=r"IPv6 addresses \(2001:db8::5\) but no IPv6 closing rules"
    ):
        exposure.verify("h1")


def test_a_port_answering_on_an_ipv6_address_fails_verify():
    import socket

    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        port = server.getsockname()[1]
        exposure = _firewall({"addresses": ["::1"], "ip6tables": True, "active": True}, port=port)
        with pytest.raises(StepFailed, match=r"::1:\d+ still answers outside the mesh"):
            exposure.verify("h1")
    closed = _firewall({"addresses": ["::1"], "ip6tables": True, "active": True}, port=port)
    assert f"::1:{port} closed" in closed.verify("h1")
