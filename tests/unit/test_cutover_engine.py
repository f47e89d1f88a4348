"""The cutover engine's steps, without inventory or SSH: resuming a switch left at intent,
and an exposure of ``none`` touching nothing on the service hosts."""

from __future__ import annotations

from homeforge.cutover.model import Consumer, Service, Variable
from homeforge.remote import envops


class _Recorder:
    """A remote that records host operations and answers like converged hosts."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def call(self, host, fn, **kwargs):
        self.calls.append((fn.__name__, kwargs))
        if fn is envops.env_write:
            return {"changed": False}  # the file already holds the mesh value
        return {"changed": True}


def _engine(tmp_path, exposure="none"):
    from homeforge.cutover.engine import Engine
    from homeforge.cutover.model import Exposure
    from homeforge.cutover.targets import Context, consumer_target, exposure_target

    consumer = Consumer("api-1", "env_file", "/etc/api.env", [Variable("URL", "gpu-a")])
    consumer.after = ("restart", "api.service")
    service = Service("svc", 1, {"gpu-a": ""}, [consumer], exposure=Exposure(exposure))
    engine = object.__new__(Engine)  # no inventory, no SSH: the steps alone
    engine.service, engine.remote = service, _Recorder()
    inv = type("Inv", (), {"path": tmp_path / "hosts.yml"})()
    engine.inv = inv
    engine.ctx = Context(inv, engine.remote, service, "wg0", "10.77.0.0/24")
    engine.exposure = exposure_target(engine.ctx)
    engine.targets = {consumer.ident: consumer_target(engine.ctx, consumer)}
    engine.report, engine.leases, engine.journal = (lambda e: None), None, None
    engine._stop = __import__("threading").Event()
    engine._started = 0.0
    engine._verify_consumer = lambda *a, **k: None
    return engine, consumer


def _plan(consumer):
    from homeforge.cutover.model import Plan

    plan = Plan(addresses={"gpu-a": "10.77.0.2"})
    plan.current[consumer.ident] = {"values": {"URL": "http://legacy:1"}}
    plan.desired[consumer.ident] = {"URL": "http://10.77.0.2:1"}
    return plan


def test_resume_restarts_a_consumer_whose_switch_stayed_at_intent(tmp_path):
    from homeforge.cutover.journal import Journal

    engine, consumer = _engine(tmp_path)
    journal = Journal.new("svc", tmp_path / "hosts.yml")
    # the interrupted run: file rewritten, then stopped before the restart
    journal.intend(consumer.ident, "api-1", "consumer", {"values": {"URL": "http://legacy:1"}}, {})
    engine._apply(journal, _plan(consumer))
    assert ("unit_action", {"unit": "api.service", "action": "restart"}) in engine.remote.calls
    assert journal.entry(consumer.ident)["state"] == "applied"
    # a consumer journaled as applied, already switched: nothing to restart
    engine.remote.calls.clear()
    engine._apply(journal, _plan(consumer))
    assert [name for name, _ in engine.remote.calls] == ["env_write"]


def test_exposure_none_changes_and_checks_nothing_on_the_service_hosts(tmp_path):
    from homeforge.cutover.journal import Journal

    engine, consumer = _engine(tmp_path, exposure="none")
    assert engine.exposure.mode == "none" and engine.exposure.read("gpu-a") == {}
    journal = Journal.new("svc", tmp_path / "hosts.yml")
    engine._apply(journal, _plan(consumer))
    assert not [name for name, _ in engine.remote.calls if name.startswith(("firewall", "dropin"))]
