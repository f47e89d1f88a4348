"""playbooks/upgrade.yml's plan step (roles/k3s_common/tasks/upgrade_plan.yml) run by
ansible-playbook on this host, with a `k3s` on PATH that reports the node's version."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.unit.test_release_trust import _failed, play

UPGRADE = Path(__file__).resolve().parents[2] / "playbooks" / "upgrade.yml"


def _running(tmp_path, monkeypatch, version: str) -> None:
    """A `k3s` first on PATH that reports this host as a node running ``version``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    nodes = {
        "kind": "List",
        "items": [
            {"metadata": {"name": "localhost"}, "status": {"nodeInfo": {"kubeletVersion": version}}}
        ],
    }
    (bin_dir / "k3s").write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(nodes)}\nEOF\n")
    (bin_dir / "k3s").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _shown_plan(tmp_path, variables: dict) -> list[str]:
    """The plan the tasks show, once they ran without a failure."""
    results = play(tmp_path, "k3s_server", "upgrade_plan.yml", variables)
    assert not any(r.get("failed") for r in results.values()), results
    return results["Show the plan"]["msg"]


def test_a_minor_with_no_pinned_release_stops_the_plan_with_one_line(tmp_path, monkeypatch):
    _running(tmp_path, monkeypatch, "v1.36.4+k3s1")
    name, msg = _failed(
        play(tmp_path, "k3s_server", "upgrade_plan.yml", {"k3s_version": "v1.38.0+k3s1"})
    )
    assert name == "Refuse a skipped minor or a downgrade, before any node changes"
    assert msg.startswith("k3s: localhost runs v1.36.4+k3s1; v1.38.0+k3s1 skips minor versions")
    assert "none is pinned for v1.37" in msg


def test_the_earlier_default_goes_up_one_minor_at_a_time_through_pinned_releases(
    tmp_path, monkeypatch
):
    """From v1.31.4+k3s1 (the project's earlier default) to the default, through the
    release of each minor whose digests the role pins (vars/main.yml)."""
    _running(tmp_path, monkeypatch, "v1.31.4+k3s1")
    shown = _shown_plan(tmp_path, {"k3s_version": "v1.36.4+k3s1"})
    assert shown == [
        "localhost: v1.31.4+k3s1 -> v1.32.11+k3s1 -> v1.33.13+k3s2 -> v1.34.11+k3s1"
        " -> v1.35.8+k3s1 -> v1.36.4+k3s1 (upgrade)"
    ]


def test_one_minor_up_is_planned_and_shown(tmp_path, monkeypatch):
    _running(tmp_path, monkeypatch, "v1.35.2+k3s1")
    shown = _shown_plan(tmp_path, {"k3s_version": "v1.36.4+k3s1"})
    assert shown == ["localhost: v1.35.2+k3s1 -> v1.36.4+k3s1 (upgrade)"]


def test_without_k3s_yet_every_node_is_new(tmp_path):
    shown = _shown_plan(tmp_path, {"k3s_version": "v1.36.4+k3s1"})
    assert [m[-5:] for m in shown] == ["(new)"]


def _releases(tmp_path, *versions: str):
    """An airgap directory with one directory per release, named by its version (each
    holds what the release files are named; the plan reads only the directory names)."""
    root = tmp_path / "k3s-releases"
    for version in versions:
        (root / version).mkdir(parents=True)
        (root / version / "sha256sum-amd64.txt").write_text("")
    (root / "notes").mkdir()  # not a release: not on any path
    (root / "v1.34.99+k3s1.bak").mkdir()  # nor is a name that is not a K3s version
    return root


def test_from_an_airgap_directory_of_releases_the_path_takes_the_newest_of_each_minor(
    tmp_path, monkeypatch
):
    _running(tmp_path, monkeypatch, "v1.31.4+k3s1")
    root = _releases(
        tmp_path,
        "v1.31.4+k3s1",
        "v1.32.13+k3s1",
        "v1.33.2+k3s1",
        "v1.33.14+k3s1",
        "v1.34.12+k3s1",
        "v1.35.9+k3s1",
        "v1.36.3+k3s1",
    )
    variables = {"k3s_version": "v1.36.3+k3s1", "k3s_artifacts_dir": str(root)}
    shown = _shown_plan(tmp_path, variables)
    # the pinned releases (v1.32.11, ...) are not on it: an airgap install cannot download
    assert shown == [
        "localhost: v1.31.4+k3s1 -> v1.32.13+k3s1 -> v1.33.14+k3s1 -> v1.34.12+k3s1"
        " -> v1.35.9+k3s1 -> v1.36.3+k3s1 (upgrade)"
    ]


def test_an_airgap_directory_without_a_minor_stops_the_plan_naming_it(tmp_path, monkeypatch):
    _running(tmp_path, monkeypatch, "v1.31.4+k3s1")
    root = _releases(tmp_path, "v1.32.13+k3s1", "v1.33.14+k3s1", "v1.36.3+k3s1")
    variables = {"k3s_version": "v1.36.3+k3s1", "k3s_artifacts_dir": str(root)}
    name, msg = _failed(play(tmp_path, "k3s_server", "upgrade_plan.yml", variables))
    assert name == "Refuse a skipped minor or a downgrade, before any node changes"
    assert f"{root} holds none for v1.34, v1.35" in msg


def test_a_path_longer_than_one_run_takes_is_refused_before_any_node_changes(tmp_path, monkeypatch):
    """upgrade.yml takes six steps in one run (its imports of the step playbook): from
    v1.28 to v1.36 are eight."""
    assert UPGRADE.read_text().count("import_playbook: parts/upgrade_step.yml") == 6
    _running(tmp_path, monkeypatch, "v1.28.15+k3s1")
    minors = [f"v1.{minor}.1+k3s1" for minor in range(29, 36)]
    root = _releases(tmp_path, *minors, "v1.36.3+k3s1")
    variables = {"k3s_version": "v1.36.3+k3s1", "k3s_artifacts_dir": str(root)}
    name, msg = _failed(play(tmp_path, "k3s_server", "upgrade_plan.yml", variables))
    assert name == "Refuse a path longer than one run takes, before any node changes"
    assert msg.startswith("k3s: the path to v1.36.3+k3s1 has 8 steps")
    assert msg.endswith("upgrade to v1.34.1+k3s1 first")
