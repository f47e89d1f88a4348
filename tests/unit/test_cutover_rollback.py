"""Rollback: ``--force`` restores and verifies the values and does not fail on a legacy
endpoint that no longer answers."""

from __future__ import annotations

import pytest

from homeforge.cutover.model import Consumer, Service, Variable


def test_rollback_force_restores_verifies_values_and_does_not_fail_on_dead_legacy(tmp_path):
    from homeforge.cutover.journal import Journal
    from homeforge.cutover.rollback import RollbackSteps
    from homeforge.cutover.targets import StepFailed

    consumer = Consumer("api-1", "env_file", "/etc/api.env", [Variable("URL", "gpu-a")])
    events, written, probed = [], {}, []

    class Exposure:
        def write(self, host, state):
            return True

        def describe(self, host, state):
            return "reopened"

    class Stub(RollbackSteps):
        service = Service("ollama", 1, {"gpu-a": "http://192.0.2.1:1"}, [consumer])
        exposure = Exposure()

        def _checkpoint(self):
            pass

        def _event(self, step, status, message, host=""):
            events.append((step, status, message))

        def _switch(self, c, values, step, settle=False):
            written.update(values)

        def _verify_consumer(self, c, expected, step, probe=True):
            assert written == expected
            if probe:
                probed.append(c.host)
                raise StepFailed("legacy endpoint does not answer")

        def _probe_legacy(self, consumers):
            raise StepFailed("legacy endpoint does not answer")

    journal = Journal.new("ollama", tmp_path)
    entry = journal.intend(
        consumer.ident, "api-1", "consumer", {"values": {"URL": "http://192.0.2.1:1"}}, {}
    )
    journal.mark(entry, "applied")
    with pytest.raises(StepFailed):
        Stub()._restore(journal, verify_legacy=True)
    Stub()._restore(journal, verify_legacy=True, force=True)  # no exception: exit 0
    assert written == {"URL": "http://192.0.2.1:1"} and probed == []
    assert ("rollback", "warn", "legacy endpoints not probed (--force)") in events
    assert journal.entry(consumer.ident)["state"] == "restored"
