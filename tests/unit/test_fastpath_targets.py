"""Converge only what drifted: which roles a drift needs, the plays that run them, and the
stamp such a run leaves. The targeted run against lab hosts is in tests/integration."""

from __future__ import annotations

import json

import pytest
import yaml

from homeforge import inventory, paths
from homeforge.fastpath import FastPath, Probe, targets
from homeforge.fastpath.watch import WatchList
from homeforge.remote import stampops
from tests.unit.test_fastpath import _event

CONF = {"kind": "file", "path": "/etc/wireguard/wg0.conf"}
PEERS = {"kind": "wireguard", "iface": "wg0"}
CHRONY = {"kind": "unit", "name": "chrony.service"}


def _item(base, role, digest="d0", **more):
    return {**base, "role": role, "digest": digest, **more}


def test_the_roles_of_the_drifted_items_run_and_those_that_read_what_they_write():
    config = {"kind": "file", "path": "/etc/rancher/k3s/config.yaml"}
    stamp = [
        {"kind": "host", "digest": "h"},
        _item(CONF, "wireguard", want_mode="0600"),
        _item(PEERS, "wireguard"),
        _item(CHRONY, "common", active=True),
        _item({"kind": "package", "name": "iptables"}, "common"),
        _item({"kind": "package", "name": "iptables"}, "wireguard"),  # both only write it
        _item(CONF, "k3s_server", reads=True),  # a stat of the WireGuard config
        _item(config, "k3s_server"),
        _item(config, "k3s_agent", reads=True),
        _item(config, "nfs_provisioner", reads=True),
    ]
    drifted = [dict(_item(PEERS, "wireguard"), found="d1")]
    # wireguard -> k3s_server (reads its config) -> k3s_agent, nfs_provisioner: never common
    assert targets.roles_to_run(drifted, stamp) == {
        "wireguard",
        "k3s_server",
        "k3s_agent",
        "nfs_provisioner",
    }
    assert targets.roles_to_run([_item(CHRONY, "common")], stamp) == {"common"}
    # an item two roles manage drifted for both: both run, and nothing follows a reader
    both = [
        _item({"kind": "package", "name": "iptables"}, r, found="x")
        for r in ("common", "wireguard")
    ]
    assert targets.roles_to_run(both, stamp) == {
        "common",
        "wireguard",
        "k3s_server",
        "k3s_agent",
        "nfs_provisioner",
    }
    assert targets.roles_to_run([_item(config, "k3s_agent", reads=True)], stamp) == {"k3s_agent"}


def test_a_drifted_item_no_role_reported_needs_the_whole_playbook():
    stamp = [_item(CONF, "wireguard"), {**CHRONY, "digest": "d0"}]
    assert targets.roles_to_run([{**CHRONY, "digest": "d0", "found": "x"}], stamp) is None
    assert targets.roles_to_run([], stamp) is None


def test_what_an_item_watches_is_the_same_whatever_the_run_asked_of_it():
    one = _item(CHRONY, "common", digest="a", active=True, enabled=True)
    other = _item(CHRONY, "ollama", digest="b", found="c", reads=True)
    assert targets.identity(one) == targets.identity(other) == targets.identity(CHRONY)
    assert targets.identity(CONF) != targets.identity({**CONF, "path": "/etc/other"})


@pytest.fixture
def cluster(write):
    path = write(
        "cluster.yml",
        """
        all:
          hosts:
            lab-1: {ansible_host: 10.0.0.1}
            lab-2: {ansible_host: 10.0.0.2}
            lab-3: {ansible_host: 10.0.0.3}
          children:
            server: {hosts: {lab-1: {}}}
            agent: {hosts: {lab-2: {}, lab-3: {}}}
            ollama: {hosts: {lab-1: {}, lab-2: {}}}
        """,
    )
    return inventory.load(path)


def _names(plan):
    return [play["name"] for play in plan.plays]


def test_a_plan_keeps_the_plays_of_its_roles_after_a_facts_play(cluster):
    site = paths.resolve_playbook("site")
    plan = targets.plan(cluster, site, {"wireguard"}, ["lab-2"])
    assert _names(plan) == ["Facts for a targeted converge", "WireGuard mesh"]
    assert plan.plays[0] == {
        "name": "Facts for a targeted converge",
        "hosts": "all",
        "gather_facts": True,
        "gather_subset": ["min"],  # as site.yml's first play gathers them
        "tasks": [],
    }
    original = next(
        p for p in yaml.safe_load(site.read_text()) if p.get("name") == "WireGuard mesh"
    )
    assert plan.plays[1] == original  # the play as written: pattern, conditions, facts
    assert plan.roles == {"wireguard"} and plan.per_host == {"lab-2": ["wireguard"]}
    assert plan.ran == {"lab-2": {"wireguard"}}
    assert plan.last_play == "WireGuard mesh"


def test_a_role_another_includes_brings_every_play_that_runs_it(cluster):
    site = paths.resolve_playbook("site")
    plan = targets.plan(cluster, site, {"k3s_common"}, ["lab-1", "lab-2"])
    kept = _names(plan)[1:]
    assert kept[:2] == [
        "K3s servers (group server; the first initialises the cluster)",
        "K3s agents (group agent)",
    ]
    # and the plays of roles that include it too (their own conditions still apply)
    assert [n.split(" (")[0] for n in kept[2:]] == [
        "EBS CSI driver and StorageClasses",
        "NFS volumes for the cluster",
    ]
    assert {"k3s_server", "k3s_agent", "k3s_common", "ebs_csi"} <= plan.roles
    assert "common" not in plan.roles and "wireguard" not in plan.roles
    assert plan.per_host["lab-2"] == ["k3s_agent", "nfs_provisioner"]
    # each host keeps the last stamp's items of what it did not run: the agent ran no
    # k3s_server, the server no k3s_agent
    assert "k3s_server" not in plan.ran["lab-2"] and "k3s_common" in plan.ran["lab-2"]
    assert "k3s_agent" not in plan.ran["lab-1"] and "k3s_common" in plan.ran["lab-1"]
    # Ollama runs on its hosts and, in Kubernetes mode, from the servers' play
    plan = targets.plan(cluster, site, {"ollama"}, ["lab-1"])
    assert [n.split(" (")[0] for n in _names(plan)[1:]] == [
        "Ollama on the hosts of group ollama",
        "Ollama in the K3s cluster",
    ]


def test_a_plan_is_written_as_a_playbook_of_its_own(cluster, tmp_path):
    plan = targets.plan(cluster, paths.resolve_playbook("site"), {"common"}, ["lab-1"])
    written = plan.write(tmp_path / "private", "site.yml")
    assert written.name == "site.yml" and written.read_text().startswith("# Generated by homeforge")
    assert yaml.safe_load(written.read_text()) == plan.plays
    assert oct(written.parent.stat().st_mode & 0o777) == "0o700"


def test_no_plan_unless_the_plays_of_a_shipped_playbook_run_every_role_asked_for(cluster, tmp_path):
    site = paths.resolve_playbook("site")
    assert targets.plan(cluster, site, {"no_such_role"}, ["lab-1"]) is None
    # a role of another collection is run by no play homeforge can find
    assert targets.plan(cluster, site, {"common", "their_role"}, ["lab-1"]) is None
    # a playbook elsewhere may have group_vars or relative files beside it
    elsewhere = tmp_path / "site.yml"
    elsewhere.write_text(site.read_text())
    assert targets.plan(cluster, elsewhere, {"common"}, ["lab-1"]) is None


def test_an_unnamed_last_play_is_known_by_its_pattern():
    plan = targets.Plan([{"name": "Facts"}, {"hosts": "server", "roles": []}], set())
    assert plan.last_play == "server"


def test_facts_roles_keep_are_read_from_the_cache_without_what_gathering_keeps(tmp_path):
    (tmp_path / "lab-1").write_text(
        '{"ansible_kernel": "6", "gather_subset": ["min"], "module_setup": true,'
        ' "wireguard_facts": {"address": "10.0.0.1"}}'
    )
    assert targets.set_facts(tmp_path, ["lab-1", "lab-2"]) == {
        "lab-1": {"wireguard_facts": {"address": "10.0.0.1"}},
        "lab-2": {},
    }


def test_a_targeted_stamp_keeps_the_other_roles_items_and_not_the_host_item():
    stamp = [{"kind": "host", "digest": "h"}, _item(CONF, "wireguard"), _item(CHRONY, "common")]
    stamp.append({"kind": "file", "path": "/etc/x", "digest": "x"})  # no role reported it
    assert targets.kept_items(stamp, {"wireguard"}) == stamp[2:]


def _probe(outcome="drift", stale=False, drifted=None, stamp=None):
    drifted = drifted if drifted is not None else [_item(CONF, "wireguard", found="d1")]
    stamp = (
        stamp if stamp is not None else [{"kind": "host", "digest": "h"}, _item(CONF, "wireguard")]
    )
    return Probe(outcome, "x", stale, drifted, stamp)


def test_only_hosts_that_drifted_with_their_inputs_and_facts_unchanged_are_targeted(cluster):
    fast = FastPath(cluster, paths.resolve_playbook("site"), cluster.hosts, [])
    fast.probes = {"lab-1": _probe(), "lab-2": _probe()}
    assert _names(fast.target(["lab-1", "lab-2"]))[1:] == ["WireGuard mesh"]
    for other in (
        _probe("inputs"),
        _probe("never", stamp=[]),
        _probe(stale=True),  # kernel or addresses changed: facts are gathered anew
        _probe(drifted=[{**CHRONY, "found": "x"}]),  # no role reported it
        _probe(stamp=[]),  # a stamp from before items named their role
        _probe(stamp=[{"kind": "file", "path": "/etc/x", "digest": "d0"}]),  # no role either
        # a controller file the host's roles copy changed since the stamp
        _probe(
            stamp=[
                _item(CONF, "wireguard"),
                _item({"kind": "local", "path": "/nonexistent"}, "wireguard"),
            ]
        ),
    ):
        fast.probes["lab-2"] = other
        assert fast.target(["lab-1", "lab-2"]) is None, other


def test_a_delegated_result_names_no_role_so_only_a_whole_run_repairs_it(write):
    inv = inventory.load(
        write(
            "lab.yml",
            "all: {hosts: {lab-1: {ansible_host: 10.0.0.1}, lab-2: {ansible_host: 10.0.0.2}}}",
        )
    )
    watch = WatchList(inv)
    res = {"invocation": {"module_args": {"dest": "/m.yaml"}}, "changed": False, "path": "/m.yaml"}
    for host, extra in (
        ("lab-2", {"_ansible_delegated_vars": {"ansible_host": "10.0.0.1"}}),
        ("lab-1", {}),
    ):
        watch.add_event(
            _event(
                host,
                "ansible.builtin.template",
                {**res, **extra},
                role="k3s_agent",
                path="/x/roles/k3s_agent/tasks/main.yml:1",
            )
        )
    assert watch.host("lab-1").ordered() == [
        {"kind": "file", "role": "k3s_agent", "path": "/m.yaml"},
        {"kind": "file", "path": "/m.yaml"},  # delegated from lab-2
    ]


@pytest.fixture
def stamps(tmp_path, monkeypatch):
    monkeypatch.setattr(stampops, "STAMP_DIR", str(tmp_path / "stamps"))
    return tmp_path


def test_a_drift_probe_returns_the_stamp_and_the_targeted_stamp_keeps_what_stands(stamps):
    mine, theirs = stamps / "wg0.conf", stamps / "chrony.conf"
    mine.write_text("a\n")
    theirs.write_text("b\n")
    watch = [{"kind": "host"}, {"kind": "file", "path": str(mine), "role": "wireguard"}]
    watch.append({"kind": "file", "path": str(theirs), "role": "common"})
    stampops.stamp_write("site", {"p": "1"}, watch)
    mine.write_text("edited\n")
    reply = stampops.stamp_check("site", {"p": "1"})
    assert reply["outcome"] == "drift" and [i.get("role") for i in reply["stamp"]] == [
        None,
        "wireguard",
        "common",
    ]
    kept = targets.kept_items(reply["stamp"], {"wireguard"})
    mine.write_text("a\n")  # the targeted run repairs it
    new = [{"kind": "host"}, {"kind": "file", "path": str(mine), "role": "wireguard"}]
    assert stampops.stamp_write("site", {"p": "1"}, new, drifted=reply["drifted"], kept=kept) == {
        "items": 3,
        "eligible": True,
    }
    assert stampops.stamp_check("site", {"p": "1"})["outcome"] == "unchanged"
    # an item of a role the run left alone that changed meanwhile is not stamped as converged
    theirs.write_text("changed during the run\n")
    with pytest.raises(stampops.OpError, match=f"file {theirs} changed during the run"):
        stampops.stamp_write("site", {"p": "1"}, new, kept=kept)


def test_the_recap_says_which_roles_each_converged_host_ran():
    from homeforge.converge import ConvergeResult
    from homeforge.display import progress

    result = ConvergeResult(None, 0.1, reasons={"a": "drift: x", "b": "never converged"})
    result.roles = {"a": ["wireguard"], "b": ["common", "wireguard"]}
    result.targeted = {"a"}
    assert progress.ran_roles(result, "a") == (
        "ran only wireguard (what changed, and the roles that read it)"
    )
    assert progress.ran_roles(result, "b") == "ran every role of its own (common, wireguard)"
    summary = progress.summary(result)["summary"]
    assert summary["roles"] == result.roles and summary["targeted"] == ["a"]


def test_inputs_that_changed_only_in_roles_content_run_those_roles_and_their_readers():
    stamp = [
        _item(CONF, "wireguard"),
        _item(CONF, "k3s_server", reads=True),
        _item(CHRONY, "common"),
    ]
    assert targets.roles_changed(["role wireguard"], stamp) == {"wireguard", "k3s_server"}
    assert targets.roles_changed(["role common", "role ollama"], stamp) == {"common", "ollama"}
    for parts in (["variable ansible_host"], ["role common", "groups"], []):
        assert targets.roles_changed(parts, stamp) is None, parts


def test_changed_variables_run_their_readers_and_the_readers_of_what_those_write():
    stamp = [
        _item(CONF, "wireguard"),
        _item(CONF, "k3s_server", reads=True),
        _item(CHRONY, "common"),
    ]
    known = {
        "wireguard_listen_port": {"wireguard"},
        "common_ntp_servers": {"common"},
        "note": set(),
    }
    of = known.get  # an unknown variable: None
    assert targets.roles_changed(["variable common_ntp_servers"], stamp, of) == {"common"}
    assert targets.roles_changed(["other hosts' variable wireguard_listen_port"], stamp, of) == {
        "wireguard",
        "k3s_server",
    }
    assert targets.roles_changed(["variable note"], stamp, of) == set()  # no role reads it
    assert targets.roles_changed(["role ollama", "variable note"], stamp, of) == {"ollama"}
    for parts in (["variable ansible_host"], ["variable note", "groups"], ["extra variables"]):
        assert targets.roles_changed(parts, stamp, of) is None, parts


def test_a_probe_with_changed_inputs_says_which_parts_and_what_drifted_since(stamps):
    conf = stamps / "chrony.conf"
    conf.write_text("a\n")
    watch = [{"kind": "host"}, {"kind": "file", "path": str(conf), "role": "common"}]
    stampops.stamp_write("site", {"role common": "1", "groups": "g"}, watch)
    reply = stampops.stamp_check("site", {"role common": "2", "groups": "g"}, clear=False)
    assert (reply["outcome"], reply["parts"], reply["drifted"]) == ("inputs", ["role common"], [])
    assert [i.get("role") for i in reply["stamp"]] == [None, "common"]
    conf.write_text("b\n")
    reply = stampops.stamp_check("site", {"role common": "2", "groups": "g"})
    assert [(i["path"], i["role"]) for i in reply["drifted"]] == [(str(conf), "common")]
    assert not (stamps / "stamps" / "site.json").exists()  # a run follows: cleared


def test_a_probe_with_changed_inputs_and_a_new_kernel_or_address_needs_fresh_facts(stamps):
    watch = [{"kind": "host"}]
    stampops.stamp_write("site", {"role common": "1"}, watch)
    recorded = json.loads((stamps / "stamps" / "site.json").read_text())
    recorded["watch"][0]["digest"] = "another kernel"
    (stamps / "stamps" / "site.json").write_text(json.dumps(recorded))
    reply = stampops.stamp_check("site", {"role common": "2"})
    assert reply["facts_stale"] is True and "stamp" not in reply


def test_a_whole_run_for_changed_inputs_need_not_repair_what_they_stopped_managing(cluster):
    fast = FastPath(cluster, paths.resolve_playbook("site"), cluster.hosts, [])
    drifted = [_item(CONF, "wireguard", found="x")]
    fast.probes = {"lab-1": Probe("inputs", "groups", drifted=drifted, parts=["groups"])}
    assert fast._must_repair("lab-1", None) == []
    fast.probes["lab-1"] = Probe("drift", "x", drifted=drifted)
    assert fast._must_repair("lab-1", None) == drifted


def test_changed_roles_are_targeted_with_what_drifted_since_but_other_inputs_are_not(cluster):
    fast = FastPath(cluster, paths.resolve_playbook("site"), cluster.hosts, [])
    stamp = [{"kind": "host", "digest": "h"}, _item(CONF, "wireguard"), _item(CHRONY, "common")]
    fast.probes = {"lab-1": Probe("inputs", "role common", stamp=stamp, parts=["role common"])}
    assert _names(fast.target(["lab-1"]))[1:] == ["Base layer"]
    fast.probes["lab-1"].drifted = [_item(CONF, "wireguard", found="x")]
    assert _names(fast.target(["lab-1"]))[1:] == ["Base layer", "WireGuard mesh"]
    fast.probes["lab-1"].drifted = [{"kind": "host", "digest": "h", "found": "new kernel"}]
    assert fast.target(["lab-1"]) is None
    fast.probes["lab-1"] = Probe(
        "inputs", "variable ansible_host", stamp=stamp, parts=["variable ansible_host"]
    )
    assert fast.target(["lab-1"]) is None  # a connection variable: the whole playbook
    fast.probes["lab-1"] = Probe(
        "inputs", "v", stamp=stamp, parts=["variable common_ntp_servers", "groups"]
    )
    assert fast.target(["lab-1"]) is None  # group membership: any role may read it


def test_a_changed_variable_runs_the_plays_of_the_roles_that_read_it(cluster):
    fast = FastPath(cluster, paths.resolve_playbook("site"), cluster.hosts, [])
    stamp = [{"kind": "host", "digest": "h"}, _item(CONF, "wireguard"), _item(CHRONY, "common")]
    fast.probes = {
        "lab-1": Probe("inputs", "v", stamp=stamp, parts=["variable common_ntp_servers"]),
        "lab-2": Probe("inputs", "v", stamp=stamp, parts=["variable my_own_note"]),
    }
    plan = fast.target(["lab-1", "lab-2"])
    assert _names(plan)[1:] == ["Base layer"]
    # plays are kept whole: lab-2, in the round and in the play's hosts, runs it too
    assert plan.ran == {"lab-1": {"common"}, "lab-2": {"common"}}
    fast.probes = {"lab-2": Probe("inputs", "v", stamp=stamp, parts=["variable my_own_note"])}
    only_facts = fast.target(["lab-2"])
    assert _names(only_facts) == ["Facts for a targeted converge"] and only_facts.ran == {
        "lab-2": set()
    }
