"""The k3s_upgrade_plan filter: one minor at a time, no downgrade, from what nodes report."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.filter.k3s_upgrade_plan import k3s_upgrade_plan


def _nodes(**versions):
    return json.dumps(
        {
            "kind": "List",
            "items": [
                {"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": version}}}
                for name, version in versions.items()
            ],
        }
    )


def test_one_minor_up_and_patches_are_upgrades_the_current_release_is_current():
    plan = k3s_upgrade_plan(
        _nodes(s1="v1.35.2+k3s1", s2="v1.36.3+k3s1", a1="v1.36.4+k3s1"),
        "v1.36.4+k3s1",
        ["s1", "s2", "a1"],
    )
    assert [(p["host"], p["running"], p["step"], p["problem"]) for p in plan] == [
        ("s1", "v1.35.2+k3s1", "upgrade", ""),
        ("s2", "v1.36.3+k3s1", "upgrade", ""),
        ("a1", "v1.36.4+k3s1", "current", ""),
    ]


def test_a_skipped_minor_is_refused_naming_the_node_and_the_next_minor():
    (step,) = k3s_upgrade_plan(_nodes(s1="v1.31.4+k3s1"), "v1.36.4+k3s1", ["s1"])
    assert step["step"] == "skip"
    assert step["problem"].startswith(
        "k3s: s1 runs v1.31.4+k3s1; v1.36.4+k3s1 skips minor versions"
    )
    assert "none is pinned for v1.32, v1.33, v1.34, v1.35" in step["problem"]
    assert "k3s_version=v1.32.N+k3sM" in step["problem"] and "\n" not in step["problem"]
    assert step["steps"] == []


def test_a_downgrade_is_refused_even_by_a_k3s_revision():
    (step,) = k3s_upgrade_plan(_nodes(s1="v1.36.4+k3s2"), "v1.36.4+k3s1", ["s1"])
    assert step["step"] == "downgrade" and "K3s does not downgrade" in step["problem"]


def test_a_node_not_in_the_cluster_is_new_and_garbage_is_not_a_plan():
    assert k3s_upgrade_plan("not json", "v1.36.4+k3s1", ["s1"])[0]["step"] == "new"
    (odd,) = k3s_upgrade_plan(_nodes(s1="v1.36"), "v1.36.4+k3s1", ["s1"])
    assert odd["step"] == "skip" and "not a K3s version" in odd["problem"]
    with pytest.raises(AnsibleFilterError):
        k3s_upgrade_plan(_nodes(), "1.36", ["s1"])


PINNED = [
    "v1.36.4+k3s1",
    "v1.35.8+k3s1",
    "v1.34.11+k3s1",
    "v1.34.3+k3s1",
    "v1.33.13+k3s2",
    "v1.32.11+k3s1",
]


def test_the_path_goes_through_the_newest_pinned_release_of_each_minor_in_between():
    plan = k3s_upgrade_plan(
        _nodes(s1="v1.31.4+k3s1", s2="v1.33.1+k3s1", a1="v1.36.4+k3s1"),
        "v1.36.4+k3s1",
        ["s1", "s2", "a1"],
        PINNED,
    )
    by_host = {p["host"]: p for p in plan}
    assert by_host["s1"]["via"] == [
        "v1.32.11+k3s1",
        "v1.33.13+k3s2",
        "v1.34.11+k3s1",
        "v1.35.8+k3s1",
    ]
    assert by_host["s2"]["via"] == ["v1.34.11+k3s1", "v1.35.8+k3s1"]  # from its own minor
    assert by_host["a1"]["step"] == "current" and by_host["a1"]["via"] == []
    assert all(not p["problem"] for p in plan)
    steps = ["v1.32.11+k3s1", "v1.33.13+k3s2", "v1.34.11+k3s1", "v1.35.8+k3s1", "v1.36.4+k3s1"]
    assert all(p["steps"] == steps for p in plan)


def test_a_minor_without_a_pinned_release_is_refused_and_nothing_moves():
    plan = k3s_upgrade_plan(
        _nodes(s1="v1.31.4+k3s1", s2="v1.35.1+k3s1"),
        "v1.36.4+k3s1",
        ["s1", "s2"],
        ["v1.32.11+k3s1", "v1.34.11+k3s1", "v1.35.8+k3s1"],
    )
    assert plan[0]["step"] == "skip" and "none is pinned for v1.33" in plan[0]["problem"]
    assert plan[1]["step"] == "upgrade" and plan[1]["steps"] == []  # the cluster waits


def test_nothing_to_do_is_no_step_and_a_new_cluster_is_one():
    current = k3s_upgrade_plan(_nodes(s1="v1.36.4+k3s1"), "v1.36.4+k3s1", ["s1"], PINNED)
    assert current[0]["steps"] == []
    fresh = k3s_upgrade_plan("", "v1.36.4+k3s1", ["s1"], PINNED)
    assert fresh[0]["step"] == "new" and fresh[0]["steps"] == ["v1.36.4+k3s1"]


def test_from_an_airgap_directory_the_refusal_says_where_a_release_of_the_minor_goes():
    plan = k3s_upgrade_plan(
        _nodes(s1="v1.31.4+k3s1"),
        "v1.36.3+k3s1",
        ["s1"],
        ["v1.32.13+k3s1", "v1.34.12+k3s1", "v1.35.9+k3s1"],
        airgap="/srv/k3s",
    )
    assert plan[0]["step"] == "skip" and plan[0]["steps"] == []
    assert plan[0]["problem"] == (
        "k3s: s1 runs v1.31.4+k3s1; v1.36.3+k3s1 skips minor versions, and Kubernetes upgrades"
        " one minor at a time through a release of each from k3s_artifacts_dir: /srv/k3s holds"
        " none for v1.33 (add each as a directory named by its version, such as"
        " /srv/k3s/v1.33.N+k3sM/)"
    )
