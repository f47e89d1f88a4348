"""Cutover leases on the hosts: a live lease keeps a second controller out, a stale one is
broken only on request, a dead run's lease on the same controller is taken over, and a
refused acquisition gives back the leases already taken."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from homeforge.remote import leaseops


class _Direct:
    """A remote that runs host operations in this process, each host with its own lease
    directory under ``base``."""

    def __init__(self, base):
        self.base = base

    def call(self, host, fn, **kwargs):
        leaseops.LEASE_DIR = str(self.base / host)
        return fn(**kwargs)


def _leases(base, force=False, report=None):
    from homeforge.cutover.lease import HostLeases

    return HostLeases(
        _Direct(base),
        "ollama",
        ["gpu-b", "gpu-a"],
        "/inv/hosts.yml",
        "cutover",
        report or print,
        force,
    )


@pytest.fixture
def lease_base(tmp_path, monkeypatch):
    monkeypatch.setattr(leaseops, "LEASE_DIR", leaseops.LEASE_DIR)  # restored afterwards
    return tmp_path / "hosts"


def test_a_live_lease_keeps_a_second_controller_out(lease_base):
    from homeforge.cutover.journal import Busy

    first = _leases(lease_base)
    first.acquire(None)
    path = lease_base / "gpu-a" / "ollama.json"
    lease = json.loads(path.read_text())
    assert lease["owner"] == first.owner and lease["inventory"] == "/inv/hosts.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    second = _leases(lease_base)
    with pytest.raises(Busy, match=r"being changed elsewhere: gpu-a: cutover by .* held until"):
        second.acquire(None)
    first.release(None)
    second.acquire(None)  # free again
    assert second.taken == ["gpu-a", "gpu-b"]


def test_a_stale_lease_is_reported_and_broken_only_on_request(lease_base):
    from homeforge.cutover.journal import Busy

    _leases(lease_base).acquire(None)  # its controller dies without releasing
    path = lease_base / "gpu-a" / "ollama.json"
    lease = json.loads(path.read_text())
    lease["expires_at"] = 1.0
    path.write_text(json.dumps(lease))
    with pytest.raises(Busy, match=r"stale \(expired .*run again with --break-lease"):
        _leases(lease_base).acquire(None)
    said = []
    breaker = _leases(lease_base, force=True, report=said.append)
    breaker.acquire(None)
    assert said and said[0].startswith("broke the lease: gpu-a: cutover by")
    assert json.loads(path.read_text())["token"] == breaker.token
    breaker.release(None)
    assert not path.exists()


def test_a_refused_lease_releases_the_ones_already_taken(lease_base):
    from homeforge.cutover.journal import Busy

    leaseops.LEASE_DIR = str(lease_base / "gpu-b")
    assert leaseops.lease_take("ollama", "t-other", "x@y", "/inv", "cutover")["taken"]
    leases = _leases(lease_base)
    with pytest.raises(Busy, match="gpu-b: cutover by x@y"):
        leases.acquire(None)  # gpu-a taken first, then gpu-b refused
    assert leases.taken == [] and not (lease_base / "gpu-a" / "ollama.json").exists()
    assert json.loads((lease_base / "gpu-b" / "ollama.json").read_text())["token"] == "t-other"


def test_a_lease_of_a_dead_run_on_this_controller_is_taken_over_at_once(lease_base):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    first = _leases(lease_base)
    first.owner = first.owner.rsplit(" pid ", 1)[0] + f" pid {dead.pid}"  # killed mid-run
    first.acquire(None)
    said = []
    again = _leases(lease_base, report=said.append)
    again.acquire(None)  # the same controller, the holder's process gone: no waiting
    assert said and "broke the lease" in said[0]
    assert json.loads((lease_base / "gpu-a" / "ollama.json").read_text())["token"] == again.token
