"""tests/tools/lanes.py: which jobs `make test` runs side by side, and in what order."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tools"))

import lanes  # noqa: E402
import molecule_all  # noqa: E402


def test_every_integration_file_and_scenario_is_a_job_once():
    files = sorted(
        p.stem.removeprefix("test_") for p in (ROOT / "tests/integration").glob("test_*.py")
    )
    scenarios = sorted(p.parent.name for p in (ROOT / "molecule").glob("[!_]*/molecule.yml"))
    found = lanes.jobs()
    assert len(found) == len(set(found))
    assert sorted(found) == sorted(
        [f"integration/{f}" for f in files] + [f"molecule/{s}" for s in scenarios]
    )


def test_every_recorded_duration_names_a_job_and_jobs_start_longest_first():
    """A recorded name left behind by a renamed file would sort its job last, unseen."""
    found = lanes.jobs()
    assert set(lanes.RECORDED) == set(found)
    seconds = [lanes.RECORDED[job] for job in found]
    assert seconds == sorted(seconds, reverse=True)
    assert set(molecule_all.SLOWEST_FIRST) == {
        j.split("/")[1] for j in found if j.startswith("molecule/")
    }


def test_the_checks_lane_runs_the_makefiles_checks_and_every_unit_test():
    make = (ROOT / "Makefile").read_text()
    assert [job.split("/")[1] for job in lanes.CHECKS] == ["lint", "sanity", "unit"]
    for name in ("lint", "sanity"):
        assert lanes.CHECK_COMMANDS[name][-1] == name and f"\n{name}: deps" in make
    assert lanes.CHECK_COMMANDS["unit"][-1] == "tests/unit"
    assert "tools/lanes.py" in make.split("\ntest: deps\n")[1].split("\n\n")[0]


def test_an_unknown_job_is_one_line_and_exit_2(capsys):
    assert lanes.main(["integration/nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no job named integration/nope" in err


def test_side_by_side_reports_each_job_and_prints_a_failed_ones_log(tmp_path, capsys):
    import signal

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    logs = {name: tmp_path / f"{name}.log" for name in ("good", "bad", "own")}
    for name, log in logs.items():
        log.write_text(f"the log of {name}\n")
    try:
        failed, seconds = molecule_all.side_by_side(
            ["good", "bad"], lambda name: (int(name == "bad"), logs[name]), 2, "job ", ["own"]
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    out = capsys.readouterr().out
    assert failed == ["bad"] and seconds >= 0
    assert "job good: passed in 0 s" in out and "job bad: FAILED in 0 s" in out
    assert "job own: passed in 0 s" in out
    assert "the log of bad" in out and "the log of good" not in out


def test_the_suites_sequence_is_molecules_without_its_first_destroy():
    """The suite clears leftovers itself (clear_leftovers), so its sequence may start at
    create; `molecule test` by hand keeps base.yml's, which starts with a destroy."""
    import yaml

    shared = ROOT / "molecule" / "_shared"
    base = yaml.safe_load((shared / "base.yml").read_text())["scenario"]["test_sequence"]
    suite = yaml.safe_load((shared / "suite.yml").read_text())["scenario"]["test_sequence"]
    assert base[0] == "destroy" and suite == base[1:]


def test_leftovers_of_an_interrupted_scenario_are_cleared_before_it_runs(tmp_path, monkeypatch):
    """Its hosts (by the label _shared/create.yml gives them), volume, network and state."""
    calls = tmp_path / "calls"
    podman = tmp_path / "bin" / "podman"
    podman.parent.mkdir()
    podman.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = ps ] && echo c0ffee && echo beef\nexit 0\n'
    )
    podman.chmod(0o755)
    monkeypatch.setenv("PATH", f"{podman.parent}:{os.environ['PATH']}")
    monkeypatch.setattr(molecule_all, "LOGS", tmp_path / "logs")
    state = molecule_all.state_directory("nfs_server")
    (state / "inventory").mkdir(parents=True)
    (state / "state.yml").write_text("created: true\n")
    molecule_all.clear_leftovers("nfs_server")
    assert not state.exists()
    assert calls.read_text().splitlines() == [
        "ps --all --quiet --filter label=homeforge-molecule=homeforge-molecule-nfs-server",
        "rm --force --volumes --time 2 c0ffee beef",
        "volume rm --force homeforge-molecule-nfs-server-nfs",
        "network rm --force homeforge-molecule-nfs-server",
    ]
    # the label is the one create.yml sets on every host it makes
    create = (ROOT / "molecule" / "_shared" / "create.yml").read_text()
    assert "'homeforge-molecule=' ~ molecule_network" in create
    assert 'molecule_network: "homeforge-molecule-{{ molecule_yml.scenario.name' in create
