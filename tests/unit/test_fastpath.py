"""The converge fast path's parts: stamps on a host, watch lists from real run events, and
the inputs digest. The whole path against lab hosts is in tests/integration."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from homeforge import inventory, paths, runner
from homeforge.fastpath import inputs, peers
from homeforge.fastpath.effects import HANDLERS, NO_EFFECT, WRITES_FILE
from homeforge.fastpath.watch import WatchList
from homeforge.remote import stampops, stampwatch

# ------------------------------------------------------------------ stampops (host side)


@pytest.fixture
def stamps(tmp_path, monkeypatch):
    directory = tmp_path / "stamps"
    monkeypatch.setattr(stampops, "STAMP_DIR", str(directory))
    return directory


HOST = {"kind": "host"}  # every stamp has it (fastpath.Stamps.write)


def _inputs(**changes):
    parts = {"homeforge": "a", "role common": "b", "variable common_ntp_servers": "c"}
    parts.update(changes)
    return parts


def test_a_host_never_converged_says_so(stamps):
    assert stampops.stamp_check("site", _inputs())["outcome"] == "never"


def test_unchanged_when_inputs_and_every_watched_item_match(stamps, tmp_path):
    managed = tmp_path / "managed.conf"
    managed.write_text("a = 1\n")
    watch = [{"kind": "file", "path": str(managed)}, {"kind": "host"}]
    assert stampops.stamp_write("site", _inputs(), watch) == {"items": 2, "eligible": True}
    assert stampops.stamp_check("site", _inputs())["outcome"] == "unchanged"
    stamp = stamps / "site.json"
    assert oct(stamp.stat().st_mode & 0o777) == "0o600"
    assert oct(stamps.stat().st_mode & 0o777) == "0o700"
    assert "a = 1" not in stamp.read_text()  # digests only, never content


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda stamp, d: os.chmod(stamp, 0o666), "stamp not trusted: not root's, or writable"),
        (lambda stamp, d: os.chown(stamp, 1000, 1000), "stamp not trusted: not root's"),
        (lambda stamp, d: os.chmod(d, 0o777), "stamp directory not trusted"),
        (
            lambda stamp, d: stamp.write_text(
                json.dumps({**json.loads(stamp.read_text()), "watch": []})
            ),
            "lacks what every stamp has",
        ),
        (
            lambda stamp, d: (stamp.rename(d / "elsewhere"), stamp.symlink_to(d / "elsewhere")),
            "stamp not trusted",
        ),
    ],
    ids=["writable by others", "not root's", "open directory", "empty watch list", "a link"],
)
def test_a_stamp_that_cannot_be_trusted_is_no_stamp(stamps, tmp_path, spoil, why):
    """Whoever could write a stamp could declare the host converged: the probe trusts only
    root's own, unshared, complete stamps."""
    watch = [{"kind": "file", "path": str(tmp_path)}, {"kind": "host"}]
    stampops.stamp_write("site", _inputs(), watch)
    assert stampops.stamp_check("site", _inputs(), clear=False)["outcome"] == "unchanged"
    spoil(stamps / "site.json", stamps)
    found = stampops.stamp_check("site", _inputs(), clear=False)
    assert found["outcome"] == "never" and why in found["detail"], found


@pytest.mark.parametrize(
    "drift",
    [
        lambda p: p.write_text("a = 2\n"),  # hand edit
        lambda p: os.chmod(p, 0o666),  # mode
        lambda p: p.unlink(),  # removed
    ],
    ids=["content", "mode", "removed"],
)
def test_a_changed_file_is_drift_named_and_clears_the_stamps(stamps, tmp_path, drift):
    managed = tmp_path / "managed.conf"
    managed.write_text("a = 1\n")
    os.chmod(managed, 0o644)
    stampops.stamp_write("site", _inputs(), [{"kind": "file", "path": str(managed)}, HOST])
    drift(managed)
    reply = stampops.stamp_check("site", _inputs())
    assert (reply["outcome"], reply["detail"]) == (
        "drift",
        f"changed since the last converge: file {managed}",
    )
    assert [i["path"] for i in reply["drifted"]] == [str(managed)] and not reply["facts_stale"]
    assert not list(stamps.iterdir())  # the run that follows starts without a stamp


def test_check_mode_probes_without_clearing(stamps, tmp_path):
    managed = tmp_path / "managed.conf"
    managed.write_text("x")
    stampops.stamp_write("site", _inputs(), [{"kind": "file", "path": str(managed)}, HOST])
    managed.write_text("y")
    assert stampops.stamp_check("site", _inputs(), clear=False)["outcome"] == "drift"
    assert (stamps / "site.json").exists()


def test_changed_inputs_are_named_by_part(stamps):
    stampops.stamp_write("site", _inputs(), [HOST])
    reply = stampops.stamp_check("site", _inputs(**{"role common": "B", "role ollama": "new"}))
    assert (reply["outcome"], reply["detail"]) == ("inputs", "role common, role ollama")
    assert reply["parts"] == ["role common", "role ollama"]


def test_an_ineligible_stamp_keeps_its_reason(stamps):
    stampops.stamp_write("site", _inputs(), [], eligible=False, reason="task 'x': command")
    assert stampops.stamp_check("site", _inputs()) == {
        "outcome": "ineligible",
        "detail": "task 'x': command",
    }


def test_stamps_are_per_playbook_and_clear_removes_all(stamps):
    stampops.stamp_write("site", _inputs(), [HOST])
    stampops.stamp_write("mesh", _inputs(), [HOST])
    assert stampops.stamp_check("mesh", _inputs())["outcome"] == "unchanged"
    assert stampops.stamp_clear() == {"removed": ["mesh.json", "site.json"]}
    with pytest.raises(stampops.OpError):
        stampops.stamp_write("../etc/passwd", _inputs(), [])


def test_large_files_are_compared_by_inode_identity(stamps, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (stampwatch.SMALL_FILE + 1))
    before = stampops.observe([{"kind": "file", "path": str(big)}])
    assert stampops.observe([{"kind": "file", "path": str(big)}]) == before
    with big.open("r+b") as handle:  # same size, one byte rewritten
        handle.write(b"\1")
    assert stampops.observe([{"kind": "file", "path": str(big)}]) != before


def test_trees_see_a_file_removed_below(tmp_path):
    root = tmp_path / "release"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("x")
    item = [{"kind": "tree", "path": str(root)}]
    before = stampops.observe(item)
    (root / "bin" / "tool").unlink()
    assert stampops.observe(item) != before


def test_packages_sysctls_and_unknown_kinds():
    shutil.which("dpkg-query") or pytest.fail("dpkg-query is part of Debian: expected here")
    items = [
        {"kind": "package", "name": "dpkg"},
        {"kind": "package", "name": "homeforge-no-such-package"},
        {"kind": "sysctl", "key": "kernel.ostype"},
        {"kind": "sysctl", "key": "homeforge.no.such.key"},
    ]
    digests = stampops.observe(items)
    assert digests[1] == stampops._sha("absent") == digests[3]
    assert digests[0] != digests[1] and digests[2] != digests[3]
    assert stampwatch._packages(["dpkg"])["dpkg"].endswith("ii")
    with pytest.raises(stampops.OpError, match="unknown watch item kind"):
        stampops.observe([{"kind": "bogus"}])


def test_gpus_are_read_from_sysfs_and_the_driver_is_loaded_when_nvidia_smi_answers(tmp_path):
    """The module's meaning of "loaded" (and so the role's): nvidia-smi answers its query
    and its XML report. A sysfs module directory left while nvidia-smi fails (exit 9, a
    driver and library of different versions) is not a loaded driver."""
    from homeforge.module_utils import load

    query = " ".join(load("nvidia").QUERY_ARGS)
    device = tmp_path / "bus/pci/devices/0000:01:00.0"
    device.mkdir(parents=True)
    (device / "vendor").write_text("0x10de\n")
    (tmp_path / "module/nvidia").mkdir(parents=True)  # the kernel module is there
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "$@" >> "$0.log"\nexit 9\n')
    smi.chmod(0o755)
    assert stampwatch._gpus(str(tmp_path), str(smi), query) == "0000:01:00.0 loaded=no"
    smi.write_text('#!/bin/sh\necho "$@" >> "$0.log"\nexit 0\n')
    assert stampwatch._gpus(str(tmp_path), str(smi), query) == "0000:01:00.0 loaded=yes"
    asked = (tmp_path / "nvidia-smi.log").read_text().splitlines()
    assert asked[-2:] == [query, "-q -x"]  # what the module asks, in its order
    (device / "vendor").write_text("0x8086\n")
    assert stampwatch._gpus(str(tmp_path), str(smi), query) == "none loaded=yes"
    assert stampwatch._gpus(str(tmp_path), str(tmp_path / "absent"), query).endswith("loaded=no")


def test_the_default_routes_address_is_part_of_the_host(monkeypatch, tmp_path):
    """Roles read the first server's default_ipv4 fact: a new address there is drift."""
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
        "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n"
    )
    real_open = open
    monkeypatch.setattr(
        "builtins.open",
        lambda path, *a, **k: real_open(routes if path == "/proc/net/route" else path, *a, **k),
    )
    shown = {"out": "2: eth0    inet 10.0.2.5/24 brd 10.0.2.255 scope global eth0\n"}
    monkeypatch.setattr(stampwatch, "_query", lambda args, timeout=30: (0, shown["out"], ""))
    assert stampwatch._default_ipv4() == "eth0 10.0.2.5/24"
    before = stampwatch._host()
    shown["out"] = "2: eth0    inet 10.0.2.9/24 brd 10.0.2.255 scope global eth0\n"
    assert stampwatch._host() != before


def test_firewall_rules_are_filtered_by_their_comment(monkeypatch):
    out = (
        "-P INPUT ACCEPT\n"
        '-A INPUT -p udp -m udp --dport 51820 -m comment --comment "homeforge wireguard" -j ACCEPT\n'
        "-A INPUT -j KUBE-FIREWALL\n"
    )
    monkeypatch.setattr(stampwatch, "_query", lambda args, timeout=30: (0, out, ""))
    ours = stampwatch._chain("ipv4", "filter", "INPUT", "homeforge wireguard")
    monkeypatch.setattr(
        stampwatch, "_query", lambda args, timeout=30: (0, out.replace("KUBE", "X"), "")
    )
    assert stampwatch._chain("ipv4", "filter", "INPUT", "homeforge wireguard") == ours
    assert stampwatch._chain("ipv4", "filter", "INPUT") != ours
    monkeypatch.setattr(
        stampwatch,
        "_query",
        lambda args, timeout=30: (0, out.split("\n-A INPUT -j")[0].replace("51820", "51821"), ""),
    )
    assert stampwatch._chain("ipv4", "filter", "INPUT", "homeforge wireguard") != ours


def test_wireguard_peers_leave_out_endpoints_and_counters(monkeypatch):
    dump = "PRIV\tPUB\t51820\toff\npeerA\tpsk\t10.0.0.2:51820\t10.77.0.2/32\t{hs}\t{rx}\t0\t25\n"

    def run(values):
        monkeypatch.setattr(
            stampwatch, "_query", lambda args, timeout=30: (0, dump.format(**values), "")
        )
        return stampwatch._wireguard("wg0")

    assert run({"hs": 1, "rx": 10}) == run({"hs": 99, "rx": 12345})
    dropped = "PRIV\tPUB\t51820\toff\n"
    monkeypatch.setattr(stampwatch, "_query", lambda args, timeout=30: (0, dropped, ""))
    assert stampwatch._wireguard("wg0") != run({"hs": 1, "rx": 1})


# ------------------------------------------------------------------ watch lists from events

PLAYBOOK = """
- name: Local play
  hosts: all
  gather_facts: false
  tasks:
    - name: A managed file
      ansible.builtin.copy:
        dest: "{{ base }}/{{ inventory_hostname }}.conf"
        content: "x\\n"
        mode: "0640"
    - name: A directory
      ansible.builtin.file:
        path: "{{ base }}/dir-{{ inventory_hostname }}"
        state: directory
        mode: "0755"
    - name: Files in a loop
      ansible.builtin.copy:
        dest: "{{ base }}/{{ inventory_hostname }}-{{ item }}"
        content: "{{ item }}"
        mode: "0600"
      loop: [a, b]
    - name: A read its role marks as such
      ansible.builtin.command:
        argv: ["/bin/true"]
      changed_when: false
    - name: A command that makes a file once
      ansible.builtin.command:
        argv: [touch, "{{ base }}/made-{{ inventory_hostname }}"]
        creates: "{{ base }}/made-{{ inventory_hostname }}"
    - name: A secret written without a path in its result
      ansible.builtin.copy:
        dest: "{{ base }}/secret-{{ inventory_hostname }}"
        content: "s3cret"
        mode: "0600"
      no_log: true
    - name: Its path, named for the watch list
      ansible.builtin.stat:
        path: "{{ base }}/secret-{{ inventory_hostname }}"
        get_checksum: false
    - name: An effect off the host, declared as such
      ansible.builtin.command:
        argv: ["/bin/true"]
      changed_when: true
      vars:
        homeforge_unwatched: it lives in an API
    - name: A command that may change something
      ansible.builtin.command:
        argv: ["/bin/true"]
      changed_when: true
      when: inventory_hostname == 'two'
    - name: A skipped task adds nothing
      ansible.builtin.copy:
        dest: /nonexistent/never
        content: ""
        mode: "0600"
      when: false
"""


@pytest.fixture
def local(write, tmp_path):
    inv = write(
        "inv.yml",
        f"""
        all:
          vars:
            ansible_connection: local
            ansible_python_interpreter: {__import__("sys").executable}
            base: {tmp_path}/out
          hosts:
            one: {{}}
            two: {{}}
    """,
    )
    (tmp_path / "out").mkdir()
    return inventory.load(inv), write("play.yml", PLAYBOOK)


def test_watch_lists_come_from_a_real_runs_events(local, tmp_path):
    inv, playbook = local
    watch = WatchList(inv)
    result = runner.run_playbook(runner.ApplyRequest(playbook, inv), watch.add_event)
    assert result.ok and result.completed
    out = tmp_path / "out"
    one = watch.host("one")
    assert {i["path"] for i in one.ordered() if i["kind"] == "file"} == {
        f"{out}/one.conf",
        f"{out}/dir-one",
        f"{out}/one-a",
        f"{out}/one-b",
        f"{out}/made-one",
        f"{out}/secret-one",
    }
    assert one.eligible, one.problems
    two = watch.host("two")
    assert not two.eligible
    assert two.reason == (
        "task 'A command that may change something': command that may change something "
        "(mark it changed_when: false, or give creates:)"
    )
    # the stamp holds digests of what the run manages: check them on this machine
    digests = stampops.observe(one.ordered())
    (out / "one.conf").write_text("edited\n")
    assert stampops.observe(one.ordered()) != digests


def _event(host, action, res, task="t", role="r", path="/x/roles/r/tasks/main.yml:1", **data):
    return {
        "event": "runner_on_ok",
        "event_data": {
            "host": host,
            "task": task,
            "role": role,
            "task_path": path,
            "resolved_action": action,
            "res": res,
            **data,
        },
    }


def _args(**module_args):
    return {"invocation": {"module_args": module_args}, "changed": False}


@pytest.fixture
def lab_inventory(write):
    path = write(
        "lab.yml",
        """
        all:
          hosts:
            lab-1: {ansible_host: 10.0.0.1}
            lab-2: {ansible_host: 10.0.0.2}
        """,
    )
    return inventory.load(path)


def test_each_module_maps_to_its_watch_items(lab_inventory):
    watch = WatchList(lab_inventory)
    for action, res in [
        ("ansible.builtin.apt", _args(name=["jq", "curl"], state="present")),
        ("homeforge.homelab.deb_packages", _args(names=["rsync"])),
        ("ansible.builtin.systemd_service", _args(name="ollama", state="started")),
        ("ansible.builtin.iptables", _args(chain="INPUT", comment="homeforge wireguard")),
        ("homeforge.homelab.kernel_params", _args(file="/etc/sysctl.d/9.conf", params={"a.b": 1})),
        ("homeforge.homelab.wireguard_host", {**_args(interface="wg0"), "key_file": "/k"}),
        ("homeforge.homelab.release_artifact", _args(dest="/usr/local/lib/x")),
        ("homeforge.homelab.ollama_model", _args(name="m:1b", url="http://127.0.0.1:11434")),
        ("ansible.builtin.user", _args(name="ollama")),
        ("ansible.builtin.set_fact", {"ansible_facts": {}}),
        ("ansible.builtin.uri", _args(url="http://x", method="GET")),
    ]:
        watch.add_event(_event("lab-1", action, res))
    kinds = {
        (
            i["kind"],
            i.get("name") or i.get("path") or i.get("key") or i.get("iface") or i.get("chain"),
        )
        for i in watch.host("lab-1").ordered()
    }
    assert kinds == {
        ("package", "jq"),
        ("package", "curl"),
        ("package", "rsync"),
        ("unit", "ollama.service"),
        ("chain", "INPUT"),
        ("file", "/etc/sysctl.d/9.conf"),
        ("sysctl", "a.b"),
        ("file", "/k"),
        ("wireguard", "wg0"),
        ("tree", "/usr/local/lib/x"),
        ("ollama_model", "m:1b"),
        ("account", "ollama"),
    }
    assert watch.host("lab-1").eligible


@pytest.mark.parametrize(
    ("action", "res", "problem"),
    [
        ("ansible.builtin.uri", _args(url="http://x", method="POST"), "uri POST"),
        ("kubernetes.core.k8s", _args(name="x"), "module k8s"),
        ("ansible.builtin.apt", _args(name="jq", state="latest"), "state=latest"),
        ("ansible.builtin.apt", _args(upgrade="dist"), "deb/upgrade"),
        ("ansible.builtin.shell", _args(_raw_params="rm -rf /x"), "shell that may change"),
    ],
)
def test_effects_that_cannot_be_watched_make_the_host_ineligible(
    lab_inventory, action, res, problem
):
    watch = WatchList(lab_inventory)
    watch.add_event(_event("lab-1", action, res, task="Do it", role="demo"))
    assert not watch.host("lab-1").eligible
    assert watch.host("lab-1").reason.startswith("task 'Do it' (role demo): ")
    assert problem in watch.host("lab-1").reason


# One result of every module the handler table knows: the items it adds, or its problem line.
MODULE_RESULTS = [
    *[(m, _args(path="/etc/a"), [{"kind": "file", "path": "/etc/a"}], None) for m in WRITES_FILE],
    ("copy", _args(content="x"), [], "copy: no path in its result"),
    (
        "get_url",
        {**_args(url="http://x"), "dest": "/opt/x"},
        [{"kind": "file", "path": "/opt/x"}],
        None,
    ),
    ("get_url", _args(url="http://x"), [], "get_url: no dest in its result"),
    ("stat", _args(path="/etc/b"), [{"kind": "file", "path": "/etc/b"}], None),
    ("slurp", {**_args(), "source": "/etc/c"}, [{"kind": "file", "path": "/etc/c"}], None),
    ("slurp", _args(src="/proc/cpuinfo"), [], None),
    ("wait_for", _args(path="/run/x.sock"), [], None),
    ("wait_for", _args(port=22), [], None),
    ("unarchive", _args(dest="/opt/t"), [{"kind": "tree", "path": "/opt/t"}], None),
    ("unarchive", _args(src="/x.tgz"), [], "unarchive: no dest in its result"),
    (
        "fetch",
        {**_args(src="/etc/k"), "dest": "/c/k"},
        [{"kind": "file", "path": "/etc/k"}, {"kind": "local", "path": "/c/k"}],
        None,
    ),
    ("uri", _args(url="http://x", method="HEAD"), [], None),
    ("uri", _args(url="http://x", method=None), [], "uri None (an API call's effect"),
    (
        "package",
        _args(name="jq, curl"),
        [{"kind": "package", "name": n} for n in ("curl", "jq")],
        None,
    ),
    ("dpkg_selections", _args(name="jq"), [{"kind": "package", "name": "jq"}], None),
    ("deb_packages", _args(deb="/x.deb"), [], "deb_packages with deb/upgrade"),
    ("package", _args(name="jq", state="latest"), [], "package state=latest (the repository"),
    (
        "service",
        _args(name="k3s", state="stopped", enabled=False),
        [{"kind": "unit", "name": "k3s.service", "active": False, "enabled": False}],
        None,
    ),
    (
        "systemd",
        _args(name="x.timer", enabled=True),
        [{"kind": "unit", "name": "x.timer", "enabled": True}],
        None,
    ),
    ("systemd_service", _args(daemon_reload=True), [], None),
    (
        "iptables",
        {**_args(ip_version="ipv6", table="nat", comment="c"), "chain": "POSTROUTING"},
        [
            {
                "kind": "chain",
                "family": "ipv6",
                "table": "nat",
                "chain": "POSTROUTING",
                "comment": "c",
            }
        ],
        None,
    ),
    ("group", _args(name="ollama"), [{"kind": "account", "db": "group", "name": "ollama"}], None),
    ("user", _args(name="ollama"), [{"kind": "account", "db": "passwd", "name": "ollama"}], None),
    ("hostname", _args(name="lab-1"), [{"kind": "hostname"}], None),
    ("debug", _args(msg="x"), [], None),
    ("apt", _args(name=["jq"], state="present"), [{"kind": "package", "name": "jq"}], None),
    ("kernel_params", _args(params={"a.b": 1}), [{"kind": "sysctl", "key": "a.b"}], None),
    ("release_artifact", _args(dest="/opt/r"), [{"kind": "tree", "path": "/opt/r"}], None),
    ("command", _args(creates="/c"), [{"kind": "file", "path": "/c"}], None),
    ("shell", _args(removes="/r"), [{"kind": "file", "path": "/r"}], None),
    ("apt_signing_key", _args(dest="/k.asc"), [{"kind": "file", "path": "/k.asc"}], None),
    ("apt_signing_key", _args(url="http://k"), [], "apt_signing_key: no dest in its result"),
    ("release_artifact", _args(url="http://r"), [], "release_artifact: no dest in its result"),
    (
        "wireguard_host",
        _args(interface="wg1"),
        [{"kind": "wireguard", "iface": "wg1"}, {"kind": "file", "path": "/etc/wireguard/wg1.key"}],
        None,
    ),
    ("wireguard_psk", _args(directory="/w"), [{"kind": "tree", "path": "/w/wg0.psk.d"}], None),
    ("ollama_model", _args(name="m:1b", update=True), [], "ollama_model update=true"),
    (
        "nvidia_gpu_facts",
        _args(nvidia_smi="/usr/local/bin/nvidia-smi-standin"),
        [
            {
                "kind": "gpus",
                "sysfs_root": "/sys",
                "nvidia_smi": "/usr/local/bin/nvidia-smi-standin",
                "query": "--query-gpu=index,name,memory.total,driver_version,pci.bus_id"
                " --format=csv,noheader,nounits",
            }
        ],
        None,
    ),
    (
        "script",
        _args(creates="/c", removes="/r"),
        [{"kind": "file", "path": p} for p in ("/c", "/r")],
        None,
    ),
    ("raw", _args(_raw_params="x"), [], "raw that may change something"),
    ("k8s", _args(name="x"), [], "module k8s (homeforge does not know what it changes)"),
]


@pytest.mark.parametrize(("action", "res", "items", "problem"), MODULE_RESULTS)
def test_each_module_s_handler_gives_its_items_or_its_problem(
    lab_inventory, action, res, items, problem
):
    watch = WatchList(lab_inventory)
    watch.add_event(_event("lab-1", f"ansible.builtin.{action}", res))
    ordered = watch.host("lab-1").ordered()
    assert [{k: v for k, v in i.items() if k not in ("role", "reads")} for i in ordered] == items
    assert all(i["role"] == "r" for i in ordered)  # the role of the task that reported it
    # what a stat or a slurp reports, the task only read (roles reading it follow a drift)
    assert all(i.get("reads") is (True if action in ("stat", "slurp") else None) for i in ordered)
    if problem is None:
        assert watch.host("lab-1").eligible
    else:
        assert watch.host("lab-1").reason.startswith(f"task 't' (role r): {problem}")


def test_every_module_in_the_handler_table_has_a_result_above():
    assert set(HANDLERS) - NO_EFFECT <= {m for m, *_ in MODULE_RESULTS}


def test_delegated_results_count_for_the_host_they_ran_on(lab_inventory):
    watch = WatchList(lab_inventory)
    delegated = {**_args(dest="/var/lib/rancher/k3s/server/manifests/x.yaml"), "path": "/m.yaml"}
    delegated["_ansible_delegated_vars"] = {"ansible_host": "10.0.0.1"}
    watch.add_event(_event("lab-2", "ansible.builtin.template", delegated))
    assert [i["path"] for i in watch.host("lab-1").ordered()] == ["/m.yaml"]
    assert watch.host("lab-2").ordered() == []
    on_controller = {
        **_args(name="aws-ebs-csi-driver"),
        "_ansible_delegated_vars": {"ansible_host": "localhost"},
    }
    watch.add_event(_event("lab-2", "homeforge.homelab.eks_addon", on_controller, task="Add-on"))
    assert "on the controller" in watch.host("lab-2").reason


def test_handlers_failures_and_unresolved_secrets(lab_inventory):
    watch = WatchList(lab_inventory)
    handler = _event(
        "lab-1", "ansible.builtin.command", _args(argv=["x"]), path="/r/handlers/main.yml:3"
    )
    watch.add_event(handler)
    failed = _event("lab-1", "ansible.builtin.copy", _args(dest="/f"))
    failed["event"] = "runner_on_failed"
    watch.add_event(failed)
    assert watch.host("lab-1").ordered() == [] and watch.host("lab-1").eligible
    secret = _event(
        "lab-1", "ansible.builtin.copy", {"censored": "hidden", "changed": False}, task="Token"
    )
    watch.add_event(secret)
    assert "writes a secret (no_log) and no stat after it in main.yml" in watch.host("lab-1").reason
    watch.add_event(_event("lab-1", "ansible.builtin.stat", _args(path="/token")))
    assert watch.host("lab-1").eligible


# ------------------------------------------------------------------ inputs digest


@pytest.fixture
def cluster_inventory(write, tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "ollama.tgz").write_text("v1")
    path = write(
        "cluster.yml",
        f"""
        all:
          vars:
            wireguard_port: 51820
          hosts:
            lab-1: {{ansible_host: 10.0.0.1, ollama_models: [a]}}
            lab-2: {{ansible_host: 10.0.0.2, ollama_models: [a]}}
            lab-3: {{ansible_host: 10.0.0.3, ollama_release_dir: {release}}}
          children:
            server: {{hosts: {{lab-1: {{}}}}}}
            agent: {{hosts: {{lab-2: {{}}, lab-3: {{}}}}}}
            ollama: {{hosts: {{lab-1: {{}}, lab-2: {{}}}}}}
        """,
    )
    return path, release


def _digests(path):
    inv = inventory.load(path)
    return inputs.digests(inv, paths.resolve_playbook("site"), inv.hosts)


def _changed(before, after):
    return {
        h: sorted(k for k in after[h] if before[h].get(k) != after[h][k])
        for h in after
        if before[h] != after[h]
    }


def test_one_hosts_variable_changes_only_that_host(cluster_inventory):
    path, _ = cluster_inventory
    before = _digests(path)
    assert before == _digests(path)  # stable
    path.write_text(
        path.read_text().replace(
            "lab-2: {ansible_host: 10.0.0.2, ollama_models: [a]}",
            "lab-2: {ansible_host: 10.0.0.2, ollama_models: [a], ollama_keep_alive: 10m}",
        )
    )
    assert _changed(before, _digests(path)) == {"lab-2": ["variable ollama_keep_alive"]}


def test_an_ollama_hosts_models_are_an_input_of_the_gateway(cluster_inventory):
    """The AI gateway serves every Ollama host's ollama_models: a model added on one host
    must converge the gateway host too (read across hosts, so every host's input)."""
    path, _ = cluster_inventory
    before = _digests(path)
    path.write_text(
        path.read_text().replace(
            "lab-2: {ansible_host: 10.0.0.2, ollama_models: [a]}",
            "lab-2: {ansible_host: 10.0.0.2, ollama_models: [a, b]}",
        )
    )
    changed = _changed(before, _digests(path))
    assert changed["lab-2"] == ["other hosts' variable ollama_models", "variable ollama_models"]
    assert changed["lab-1"] == changed["lab-3"] == ["other hosts' variable ollama_models"]


def test_a_variable_other_hosts_read_changes_every_host(cluster_inventory):
    path, _ = cluster_inventory
    before = _digests(path)
    path.write_text(path.read_text().replace("10.0.0.3", "10.0.0.33"))
    changed = _changed(before, _digests(path))
    assert set(changed) == {"lab-1", "lab-2", "lab-3"}
    assert changed["lab-1"] == ["other hosts' variable ansible_host"]


def test_a_variable_a_peers_unresolved_template_names_changes_every_host(cluster_inventory):
    """lab-3's address is a template that needs a value the inventory does not hold (one
    given with -e when Ansible runs), so the inventory loader leaves it as written: the
    other hosts read the address it resolves to (/etc/hosts, the mesh), so a change of
    the variable it names is a change of what they read, though the value as written
    stays the same."""
    path, _ = cluster_inventory
    text = path.read_text().replace(
        "lab-3: {ansible_host: 10.0.0.3,",
        "lab-3: {lan_name: lab3, ansible_host: '{{ lan_name }}.{{ site_domain }}',",
    )
    path.write_text(text)
    before = _digests(path)
    path.write_text(text.replace("lan_name: lab3", "lan_name: lab3-new"))
    changed = _changed(before, _digests(path))
    assert changed["lab-1"] == changed["lab-2"] == ["other hosts' variable ansible_host"]
    assert changed["lab-3"] == [
        "other hosts' variable ansible_host",
        "variable ansible_host",  # its own part holds what the template names too
        "variable lan_name",
    ]


def test_a_value_that_templates_another_hosts_variable_changes_with_it(cluster_inventory):
    """lab-2's common_etc_hosts_address is written from lab-3's variable (the inventory
    loader leaves another host's variable as written): a change of lab-3's changes lab-2's
    own part, and every host's part for the variable they read across hosts."""
    path, _ = cluster_inventory
    text = (
        path.read_text()
        .replace(
            "lab-2: {ansible_host: 10.0.0.2,",
            "lab-2: {ansible_host: 10.0.0.2, common_etc_hosts_address: "
            "\"{{ hostvars['lab-3'].lan_ip }}\",",
        )
        .replace(
            "lab-3: {ansible_host: 10.0.0.3,", "lab-3: {ansible_host: 10.0.0.3, lan_ip: 10.1.0.3,"
        )
    )
    path.write_text(text)
    before = _digests(path)
    path.write_text(text.replace("lan_ip: 10.1.0.3", "lan_ip: 10.1.0.33"))
    changed = _changed(before, _digests(path))
    assert changed["lab-1"] == ["other hosts' variable common_etc_hosts_address"]
    assert changed["lab-2"] == [
        "other hosts' variable common_etc_hosts_address",
        "variable common_etc_hosts_address",
    ]
    assert changed["lab-3"] == ["other hosts' variable common_etc_hosts_address", "variable lan_ip"]


def test_group_membership_and_extra_vars_are_inputs(cluster_inventory):
    path, _ = cluster_inventory
    inv = inventory.load(path)
    site = paths.resolve_playbook("site")
    base = inputs.digests(inv, site, inv.hosts)
    with_extra = inputs.digests(inv, site, inv.hosts, ["ollama_models=[]"])
    assert all(with_extra[h]["extra variables"] != base[h]["extra variables"] for h in inv.hosts)


def test_roles_count_only_for_the_hosts_their_plays_select(cluster_inventory):
    path, _ = cluster_inventory
    got = {
        host: {k for k in parts if k.startswith("role ")} for host, parts in _digests(path).items()
    }
    # group ollama (lab-1, lab-2) and the Kubernetes-mode play on servers (lab-1)
    assert [h for h in got if "role ollama" in got[h]] == ["lab-1", "lab-2"]
    # k3s_server and k3s_agent include k3s_common's steps: their hosts' digests cover it
    assert {"role k3s_agent", "role k3s_common"} <= got["lab-2"]
    assert {"role k3s_server", "role k3s_common"} <= got["lab-1"]
    assert "role k3s_agent" not in got["lab-1"]
    assert not any("role nfs_server" in roles for roles in got.values())  # no such group here
    assert "role common" in got["lab-3"] and "role ingress_traefik" not in got["lab-3"]


def test_a_controller_file_a_variable_names_is_an_input(cluster_inventory):
    path, release = cluster_inventory
    before = _digests(path)
    os.utime(release / "ollama.tgz", ns=(1, 1))  # touched, the same content: the same input
    assert _changed(before, _digests(path)) == {}
    (release / "ollama.tgz").write_text("v10")
    assert _changed(before, _digests(path)) == {"lab-3": ["controller files"]}


@pytest.fixture
def content_copy(tmp_path, monkeypatch):
    """A copy of the roles, plugins and playbooks, taken as homeforge's content."""
    root, copy = paths.content_root(), tmp_path / "content"
    for part in ("roles", "plugins", "playbooks", "meta"):
        shutil.copytree(root / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(paths, "content_root", lambda: copy)
    return copy


def _edit(path, text="\n# edited\n"):
    path.write_text(path.read_text() + text)


def test_a_role_file_is_an_input_of_the_hosts_that_run_the_role(cluster_inventory, content_copy):
    path, _ = cluster_inventory
    inv = inventory.load(path)
    site = content_copy / "playbooks" / "site.yml"
    before = inputs.digests(inv, site, inv.hosts)
    _edit(content_copy / "roles" / "ollama" / "README.md")  # documentation: no input
    _edit(content_copy / "roles" / "ollama" / "tests" / "test_ollama.py")
    assert inputs.digests(inv, site, inv.hosts) == before
    _edit(content_copy / "roles" / "ollama" / "templates" / "ollama.service.j2")
    assert _changed(before, inputs.digests(inv, site, inv.hosts)) == {
        "lab-1": ["role ollama"],
        "lab-2": ["role ollama"],
    }


def test_a_role_other_roles_include_is_an_input_of_their_hosts_only(write, content_copy):
    """k3s_server and k3s_agent include k3s_common (include_role), which no play names."""
    path = write(
        "k3s.yml",
        """
        all:
          hosts:
            s1: {ansible_host: 10.0.0.1}
            a1: {ansible_host: 10.0.0.2}
            o1: {ansible_host: 10.0.0.3}
          children:
            server: {hosts: {s1: {}}}
            agent: {hosts: {a1: {}}}
            ollama: {hosts: {o1: {}}}
        """,
    )
    inv = inventory.load(path)
    site = content_copy / "playbooks" / "site.yml"
    before = inputs.digests(inv, site, inv.hosts)
    assert "role k3s_common" not in before["o1"]
    _edit(content_copy / "roles" / "k3s_common" / "templates" / "k3s.service.j2")
    assert _changed(before, inputs.digests(inv, site, inv.hosts)) == {
        "s1": ["role k3s_common"],
        "a1": ["role k3s_common"],
    }


def test_the_collections_meta_and_where_the_inventory_lives_are_inputs_of_every_host(
    cluster_inventory, content_copy, tmp_path
):
    """meta/runtime.yml routes plugins; roles build controller paths from inventory_dir
    (the ingress CA's export): either changing converges every host."""
    path, _ = cluster_inventory
    inv = inventory.load(path)
    site = content_copy / "playbooks" / "site.yml"
    before = inputs.digests(inv, site, inv.hosts)
    _edit(content_copy / "meta" / "runtime.yml")
    after = inputs.digests(inv, site, inv.hosts)
    assert _changed(before, after) == {h: ["collection meta"] for h in inv.hosts}
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(path, moved / path.name)
    elsewhere = inputs.digests(inventory.load(moved / path.name), site, inv.hosts)
    # only the hosts of a role that builds a path from inventory_dir (ingress_traefik: the
    # K3s servers) depend on where the inventory lives
    servers = set(inv.group_members("server"))
    assert servers and servers != set(inv.hosts)
    assert _changed(after, elsewhere) == {h: ["inventory location"] for h in servers}


def test_a_controller_file_edited_with_its_size_and_time_kept_is_seen(cluster_inventory):
    """Files a host's variables name (a release, a key) are compared by content when small:
    an edit that keeps the size and the modification time changes the host's inputs."""
    path, release = cluster_inventory
    before = _digests(path)
    archive = release / "ollama.tgz"
    st = archive.stat()
    archive.write_text("v2")  # the same size as "v1"
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert archive.stat().st_size == st.st_size and archive.stat().st_mtime_ns == st.st_mtime_ns
    assert _changed(before, _digests(path)) == {"lab-3": ["controller files"]}


def test_a_plugin_or_playbook_file_is_an_input_of_every_host(cluster_inventory, content_copy):
    path, _ = cluster_inventory
    inv = inventory.load(path)
    site = content_copy / "playbooks" / "site.yml"
    before = inputs.digests(inv, site, inv.hosts)
    _edit(content_copy / "plugins" / "module_utils" / "nfs.py")
    after = inputs.digests(inv, site, inv.hosts)
    assert _changed(before, after) == {h: ["plugins"] for h in inv.hosts}
    _edit(content_copy / "playbooks" / "reset.yml")  # the playbook's directory counts whole
    assert _changed(after, inputs.digests(inv, site, inv.hosts)) == {
        h: ["playbook"] for h in inv.hosts
    }


def test_every_cross_host_read_in_roles_is_harvested():
    """A role reading another host's variable in a way the harvest does not see would let
    an edit to that host leave this one "unchanged (probe)": fail here instead."""
    root = paths.content_root()
    keys = inputs.cross_host_keys(root)
    assert {"ansible_host", "wireguard_facts", "nfs_server_exports", "wireguard_port"} <= keys
    assert "_k3s_common_reset_done" in keys  # map('extract', hostvars) | rejectattr(...)
    unharvested = []
    for base in ("roles", "playbooks", "plugins"):
        for path in (root / base).rglob("*"):
            if path.suffix not in (".yml", ".j2", ".py") or "tests" in path.parts:
                continue
            for line in path.read_text().splitlines():
                for _match in re.finditer(r"hostvars(?!\s*\|)(?!\[[^\]]+\](\.|\[))", line):
                    if not any(k in keys for k in inputs.EXTRACT_REF.findall(line)):
                        unharvested.append(f"{path.relative_to(root)}: {line.strip()}")
    allowed = ("plugins/filter/mesh.py", "plugins/module_utils/mesh.py")
    assert [u for u in unharvested if not u.startswith(allowed)] == []


def test_role_readmes_and_tests_are_not_inputs(tmp_path):
    role = tmp_path / "roles" / "demo"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text("---\n")
    before = inputs.tree_digest(role)
    (role / "README.md").write_text("docs")
    (role / "tests").mkdir()
    (role / "tests" / "test_demo.py").write_text("def test(): pass\n")
    assert inputs.tree_digest(role) == before
    (role / "tasks" / "main.yml").write_text("---\n- name: x\n")
    assert inputs.tree_digest(role) != before
    assert inputs.role_closure(paths.content_root(), ["k3s_agent"]) >= {"k3s_agent", "k3s_common"}
    assert inputs.role_closure(paths.content_root(), ["k3s_server"]) >= {"k3s_server", "k3s_common"}


def _result(ok_hosts, failed_hosts, completed=True):
    stats = {h: runner.HostStats(ok=3) for h in ok_hosts}
    stats.update({h: runner.HostStats(ok=1, failed=1) for h in failed_hosts})
    status = "failed" if failed_hosts else "successful"
    return runner.RunResult(status, 2 if failed_hosts else 0, 1.0, None, stats, completed=completed)


def test_only_hosts_that_finished_without_failure_get_a_stamp(cluster_inventory, monkeypatch):
    from homeforge.fastpath import FastPath

    path, _ = cluster_inventory
    inv = inventory.load(path)
    fast = FastPath(inv, paths.resolve_playbook("site"), inv.hosts, [])
    assert fast.all_or_nothing is False  # site.yml and the roles use neither keyword
    last = fast.last_play
    assert (
        last
        == "AI gateway in the K3s cluster (Kubernetes mode; ai_gateway_mode kubernetes set for the servers)"
    )
    mixed = _result(["lab-1", "lab-3"], ["lab-2"])
    assert fast.stampable(mixed, inv.hosts, ["Base layer", last]) == ["lab-1", "lab-3"]
    # every host of a play failed: Ansible stopped before the last play, yet sent stats
    assert fast.stampable(mixed, inv.hosts, ["Base layer", "K3s servers"]) == []
    assert fast.stampable(_result(["lab-1"], [], completed=False), inv.hosts, [last]) == []
    fast.all_or_nothing = True
    assert fast.stampable(mixed, inv.hosts, [last]) == []


def test_hosts_that_ran_nothing_or_had_a_failure_rescued_or_ignored_get_no_stamp(
    cluster_inventory,
):
    from homeforge.fastpath import FastPath

    path, _ = cluster_inventory
    inv = inventory.load(path)
    fast = FastPath(inv, paths.resolve_playbook("site"), inv.hosts, [])
    result = _result(["lab-1"], [])
    result.stats["lab-2"] = runner.HostStats()  # in the limit, never reached
    result.stats["lab-3"] = runner.HostStats(ok=5, rescued=1)
    assert fast.stampable(result, inv.hosts, [fast.last_play]) == ["lab-1"]
    result.stats["lab-3"] = runner.HostStats(ok=5, ignored=1)
    assert fast.stampable(result, inv.hosts, [fast.last_play]) == ["lab-1"]
    result.stats["lab-3"] = runner.HostStats(ok=5, skipped=2)
    assert fast.stampable(result, inv.hosts, [fast.last_play]) == ["lab-1", "lab-3"]


def test_plays_that_stop_healthy_hosts_are_found(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text("- hosts: all\n  any_errors_fatal: true\n  tasks: []\n")
    assert inputs.stops_other_hosts(play)
    play.write_text("- hosts: all\n  tasks: []\n")
    assert not inputs.stops_other_hosts(play)
    # serial: a batch that fails whole ends the play, and the batches after it never run
    play.write_text("- hosts: agent\n  serial: 1\n  tasks: []\n")
    assert inputs.stops_other_hosts(play)
    assert inputs.stops_other_hosts(paths.resolve_playbook("upgrade"))
    assert not inputs.stops_other_hosts(paths.resolve_playbook("site"))
    # serial only in an imported playbook (upgrade.yml's steps) counts too
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "step.yml").write_text("- hosts: server\n  serial: 1\n  tasks: []\n")
    play.write_text("- name: Step\n  ansible.builtin.import_playbook: parts/step.yml\n")
    assert inputs.stops_other_hosts(play)
    (tmp_path / "parts" / "step.yml").write_text("- hosts: server\n  tasks: []\n")
    assert not inputs.stops_other_hosts(play)


def test_a_stamp_keeps_the_inputs_the_run_started_with_but_the_facts_it_learnt(
    cluster_inventory, content_copy
):
    """A role edited while a run goes on is not what the run applied: the stamp keeps the
    digest from before the run, so the next probe converges the host again."""
    from homeforge.fastpath import FastPath

    path, _ = cluster_inventory
    inv = inventory.load(path)
    fast = FastPath(inv, content_copy / "playbooks" / "site.yml", inv.hosts, [])
    started = {h: dict(parts) for h, parts in fast.digests.items()}
    _edit(content_copy / "roles" / "common" / "defaults" / "main.yml")
    fast.refresh(_Remote())
    assert {
        h: {k: v for k, v in p.items() if k != peers.PART} for h, p in fast.digests.items()
    } == {h: {k: v for k, v in p.items() if k != peers.PART} for h, p in started.items()}
    now = inputs.digests(inv, content_copy / "playbooks" / "site.yml", inv.hosts)
    assert all(now[h]["role common"] != started[h]["role common"] for h in inv.hosts)
    assert inputs.RUN_CHANGES == ("other hosts' facts",)


def test_lookups_in_variables_make_a_host_ineligible():
    assert inputs.unresolvable({"k3s_token": "{{ lookup('env', 'K3S_TOKEN') }}"}) == "k3s_token"
    assert inputs.unresolvable({"a": ["{{ query('file', '/x') }}"], "b": 1}) == "a"
    assert inputs.unresolvable({"wireguard_port": "{{ 51820 + 1 }}"}) is None


def test_group_order_is_an_input(write):
    def digest(order):
        hosts = ", ".join(f"{h}: {{}}" for h in order)
        path = write("order.yml", f"all:\n  children:\n    server:\n      hosts: {{{hosts}}}\n")
        inv = inventory.load(path)
        return inputs.digests(inv, paths.resolve_playbook("site"), inv.hosts)["s1"]["groups"]

    assert digest(["s1", "s2"]) != digest(["s2", "s1"])  # the first server is groups.server[0]


def test_pinned_packages_are_watched_by_their_name():
    assert stampwatch._package_base("nvidia-driver=535.*") == "nvidia-driver"
    assert stampwatch._package_base("libc6:amd64") == "libc6"
    got = stampwatch._packages(["dpkg=1.0", "dpkg"])
    assert got["dpkg=1.0"] == got["dpkg"] != "absent"


def test_controller_files_are_checked_on_the_controller(stamps, tmp_path):
    fetched = tmp_path / "ca.crt"
    fetched.write_text("cert")
    item = {"kind": "local", "path": str(fetched), "digest": stampops.local_digest(str(fetched))}
    stampops.stamp_write("site", _inputs(), [item, HOST])
    reply = stampops.stamp_check("site", _inputs())
    assert reply["outcome"] == "unchanged" and reply["local"] == [
        {"path": str(fetched), "digest": item["digest"]}
    ]
    fetched.unlink()
    assert stampops.local_digest(str(fetched)) != item["digest"]  # what the controller compares


def test_a_probe_that_cannot_observe_clears_the_stamps(stamps):
    stampops.stamp_write("site", _inputs(), [{"kind": "file", "path": "/etc/hostname"}, HOST])
    stamp = stamps / "site.json"
    data = json.loads(stamp.read_text())
    data["watch"][0] = {"kind": "bogus", "digest": "x"}
    stamp.write_text(json.dumps(data))
    reply = stampops.stamp_check("site", _inputs())
    assert reply["outcome"] == "error" and "unknown watch item kind" in reply["detail"]
    assert not stamp.exists()


def test_reads_of_kernel_files_fetches_and_downloads(lab_inventory):
    watch = WatchList(lab_inventory)
    watch.add_event(_event("lab-1", "ansible.builtin.slurp", _args(src="/proc/filesystems")))
    watch.add_event(
        _event(
            "lab-1", "ansible.builtin.get_url", {**_args(url="https://x/k"), "dest": "/etc/k.gpg"}
        )
    )
    watch.add_event(
        _event(
            "lab-1",
            "ansible.builtin.fetch",
            {**_args(src="/etc/ca.crt", dest="/c/"), "dest": "/c/ca.crt"},
        )
    )
    assert [(i["kind"], i["path"]) for i in watch.host("lab-1").ordered()] == [
        ("file", "/etc/ca.crt"),
        ("file", "/etc/k.gpg"),
        ("local", "/c/ca.crt"),
    ]
    command = {
        **_args(argv=["aws", "eks", "update"]),
        "_ansible_delegated_vars": {"ansible_host": "localhost"},
    }
    watch.add_event(_event("lab-2", "ansible.builtin.command", command, task="Call AWS"))
    assert "command on the controller" in watch.host("lab-2").reason


class _Remote:
    """Stands for homeforge.remote.Remote: runs the host program's operation in process,
    as if on the host, except on the hosts told to fail."""

    def __init__(self, failing=()):
        self.failing, self.calls = set(failing), []

    def call(self, host, op, timeout=60, **args):
        self.calls.append((host, op.__name__))
        if host in self.failing:
            raise OSError(f"{host}: timed out")
        return op(**args)


def test_a_host_whose_probe_fails_runs_and_its_stamp_is_cleared(cluster_inventory, stamps):
    from homeforge.fastpath import FastPath

    path, _ = cluster_inventory
    inv = inventory.load(path)
    fast = FastPath(inv, paths.resolve_playbook("site"), ["lab-1"], [])
    remote = _Remote(failing={"lab-1"})
    probes = fast.probe(remote, check=False)
    assert probes["lab-1"].outcome == "error" and fast.to_run == ["lab-1"]
    assert ("lab-1", "stamp_clear") in remote.calls  # tried, and its failure does not stop us
    remote = _Remote()
    stampops.stamp_write("site", fast.digests["lab-1"], [HOST])
    fast = FastPath(inv, paths.resolve_playbook("site"), ["lab-1"], [])
    assert fast.probe(remote, check=True)["lab-1"].unchanged
    assert remote.calls == [("lab-1", "stamp_check")]


def test_ansible_settings_from_outside_homeforge_are_inputs(
    cluster_inventory, monkeypatch, tmp_path
):
    path, _ = cluster_inventory
    inv = inventory.load(path)
    site = paths.resolve_playbook("site")
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    before = inputs.digests(inv, site, inv.hosts)
    monkeypatch.setenv("ANSIBLE_HASH_BEHAVIOUR", "merge")
    after = inputs.digests(inv, site, inv.hosts)
    assert _changed(before, after) == {h: ["Ansible settings"] for h in inv.hosts}
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\njinja2_native = True\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(config))
    with_config = inputs.digests(inv, site, inv.hosts)
    config.write_text("[defaults]\njinja2_native = False\n")
    assert _changed(with_config, inputs.digests(inv, site, inv.hosts)) == {
        h: ["Ansible settings"] for h in inv.hosts
    }


def test_a_unit_not_as_the_run_asked_refuses_the_stamp(lab_inventory, stamps, monkeypatch):
    """A service that died after its restart is not converged: its stamp would make every
    later probe report the dead service as "unchanged"."""
    watch = WatchList(lab_inventory)
    unit = "ansible.builtin.systemd_service"
    watch.add_event(_event("lab-1", unit, _args(name="chrony", state="started", enabled=True)))
    watch.add_event(_event("lab-1", unit, _args(name="old", state="stopped", enabled=False)))
    watch.add_event(_event("lab-1", unit, _args(name="chrony", state="restarted")))
    items = watch.host("lab-1").ordered()
    assert [i for i in items if i["kind"] == "unit"] == [
        {"kind": "unit", "role": "r", "name": "chrony.service", "active": True, "enabled": True},
        {"kind": "unit", "role": "r", "name": "old.service", "active": False, "enabled": False},
    ]

    def systemd(chrony, old="inactive", enabled="enabled"):
        # `systemctl show` answers UnitFileState from systemd's cache ("enabled" here even
        # after a `disable --no-reload`); `is-enabled` reads the unit files, as Ansible does
        shown = (
            f"Id=chrony.service\nLoadState=loaded\nActiveState={chrony}\nUnitFileState=enabled\n\n"
            "Id=old.service\nLoadState=loaded\nActiveState=" + old + "\nUnitFileState=disabled\n"
        )
        is_enabled = {"chrony.service": enabled, "old.service": "disabled"}

        def query(args, timeout=30):
            if args[1] == "is-enabled":
                return 0, "".join(is_enabled[name] + "\n" for name in args[3:]), ""
            return 0, shown, ""

        monkeypatch.setattr(stampwatch, "_query", query)

    systemd("active")
    assert stampops.stamp_write("site", _inputs(), items)["items"] == 2
    for state, message in [
        (dict(chrony="failed"), "unit chrony.service is failed after the run, which started it"),
        (
            dict(chrony="active", old="active"),
            "unit old.service is active after the run, which stopped it",
        ),
        (dict(chrony="active", enabled="disabled"), "is disabled after the run, which enabled it"),
    ]:
        stampops.stamp_clear()
        systemd(**state)
        with pytest.raises(stampops.OpError, match=message):
            stampops.stamp_write("site", _inputs(), items)
        assert not (stamps / "site.json").exists()
    monkeypatch.setattr(stampwatch, "_query", lambda args, timeout=30: (1, "", "no systemd"))
    with pytest.raises(stampops.OpError, match="systemd does not answer for it"):
        stampops.stamp_write("site", _inputs(), items)


def test_an_api_read_run_once_makes_every_host_of_its_play_ineligible(lab_inventory, write):
    """eks_cluster_info's answer (endpoint, CA) goes into every node's config, yet Ansible
    reports a run_once result for one host: the others of the play are ineligible too."""
    tasks = write(
        "roles/eks_node/tasks/main.yml",
        """
        - name: Cluster info
          homeforge.homelab.eks_cluster_info:
            name: demo
          delegate_to: localhost
          run_once: true
        - name: A call by the method its role wrote
          ansible.builtin.uri:
            url: https://example.invalid/x
            method: POST
          no_log: true
        """,
    )
    local = {"_ansible_delegated_vars": {"ansible_connection": "local"}}
    play = {"event": "playbook_on_play_start", "event_data": {"name": "EKS"}}
    cluster_info = _event(
        "lab-1",
        "homeforge.homelab.eks_cluster_info",
        {**_args(name="demo"), **local},
        path=f"{tasks}:1",
    )
    watch = WatchList(lab_inventory)
    watch.add_event(play)
    watch.add_event(cluster_info)
    watch.add_event(_event("lab-2", "ansible.builtin.copy", _args(dest="/etc/x")))
    for host in ("lab-1", "lab-2"):
        assert "eks_cluster_info reads the cluster's endpoint and CA" in watch.host(host).reason
    other = WatchList(lab_inventory)
    other.add_event(play)
    other.add_event(cluster_info)
    other.add_event({**play, "event_data": {"name": "Next"}})
    other.add_event(_event("lab-2", "ansible.builtin.copy", _args(dest="/etc/x")))
    assert not other.host("lab-1").eligible and other.host("lab-2").eligible
    # a uri whose arguments no_log hides is a write unless its role wrote GET or HEAD
    hidden = WatchList(lab_inventory)
    hidden.add_event(
        _event("lab-1", "ansible.builtin.uri", {"censored": "hidden"}, path=f"{tasks}:6")
    )
    assert "writes a secret (no_log)" in hidden.host("lab-1").reason
    tasks.write_text(tasks.read_text().replace("POST", "GET"))
    watch_get = WatchList(lab_inventory)
    from homeforge.fastpath import watch as watch_module

    watch_module._task_source.cache_clear()
    watch_get.add_event(
        _event("lab-1", "ansible.builtin.uri", {"censored": "hidden"}, path=f"{tasks}:6")
    )
    assert watch_get.host("lab-1").eligible


def test_facts_roles_read_across_hosts_are_inputs(cluster_inventory, isolated_state):
    """k3s_server falls back on the first server's default_ipv4 fact: when the fact cache
    says it moved, every host reading it has new inputs."""
    from ansible.plugins.loader import cache_loader

    assert "ansible_default_ipv4" in inputs.cross_host_facts(paths.content_root())
    path, _ = cluster_inventory
    inv = inventory.load(path)
    site = paths.resolve_playbook("site")
    cache = cache_loader.get("jsonfile", _uri=str(isolated_state / "facts"), _timeout=86400)
    facts = {"ansible_default_ipv4": {"address": "10.0.0.1"}, "ansible_uptime_seconds": 5}
    cache.set("lab-1", facts)
    before = inputs.digests(inv, site, inv.hosts)
    cache.set("lab-1", {**facts, "ansible_uptime_seconds": 99})  # what changes every time
    assert inputs.digests(inv, site, inv.hosts) == before
    cache.set("lab-1", {**facts, "ansible_default_ipv4": {"address": "10.0.0.9"}})
    assert _changed(before, inputs.digests(inv, site, inv.hosts)) == {
        h: ["other hosts' facts"] for h in inv.hosts
    }


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("library/tiny:1b", "tiny:1b"),
        ("registry.ollama.ai/library/tiny:1b", "tiny:1b"),
        ("tiny", "tiny:latest"),
        ("localhost:5000/ns/m", "localhost:5000/ns/m:latest"),
    ],
)
def test_a_removed_model_is_seen_whatever_form_of_its_name_the_role_used(
    lab_inventory, stamps, name, listed
):
    """The module normalises a model's name; the probe must look up that same name in
    /api/tags, or a model removed by hand stays "unchanged (probe)"."""
    import http.server
    import threading

    tags = {"models": [{"name": listed, "model": listed, "digest": "d1"}]}

    class Tags(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(tags).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tags)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        watch = WatchList(lab_inventory)
        watch.add_event(
            _event("lab-1", "homeforge.homelab.ollama_model", _args(name=name, url=url))
        )
        items = [HOST, *watch.host("lab-1").ordered()]
        assert [i["name"] for i in items if i["kind"] == "ollama_model"] == [listed]
        stampops.stamp_write("site", _inputs(), items)
        assert stampops.stamp_check("site", _inputs(), clear=False)["outcome"] == "unchanged"
        tags["models"] = []  # `ollama rm` by hand
        found = stampops.stamp_check("site", _inputs(), clear=False)
        assert found["outcome"] == "drift" and f"Ollama model {listed}" in found["detail"]
    finally:
        server.shutdown()


def test_a_drifted_host_has_its_cached_facts_dropped_before_its_converge(
    stamps, tmp_path, monkeypatch
):
    """A new kernel, distribution or address: the run must not decide on the facts the
    controller cached before (smart gathering would reuse them), so the probe says the
    facts are stale and they are dropped; a file drift alone keeps them."""
    from homeforge import runner

    managed = tmp_path / "managed.conf"
    managed.write_text("a\n")
    monkeypatch.setattr(stampwatch, "_host", lambda: "kernel 6.1 debian 12 eth0 10.0.2.5/24")
    stampops.stamp_write("site", _inputs(), [{"kind": "file", "path": str(managed)}, HOST])
    managed.write_text("b\n")
    found = stampops.stamp_check("site", _inputs(), clear=False)
    assert found["outcome"] == "drift" and found["facts_stale"] is False
    monkeypatch.setattr(stampwatch, "_host", lambda: "kernel 6.12 debian 13 eth0 10.0.2.5/24")
    found = stampops.stamp_check("site", _inputs(), clear=False)
    assert found["outcome"] == "drift" and found["facts_stale"] is True
    monkeypatch.setenv("HOMEFORGE_STATE_DIR", str(tmp_path / "state"))
    cache = runner.fact_cache_dir()
    cache.mkdir(parents=True)
    (cache / "lab-1").write_text("{}")
    (cache / "lab-2").write_text("{}")
    assert runner.forget_facts(["lab-1", "lab-3"]) == ["lab-1"]
    assert sorted(p.name for p in cache.iterdir()) == ["lab-2"]


def test_an_item_whose_drift_the_converge_did_not_repair_refuses_the_stamp(stamps, tmp_path):
    """A drift converge that leaves the drifted item as it found it (no role manages that
    state back) must not stamp the host: the next probe would call it unchanged and the
    drift would be forgotten."""
    managed = tmp_path / "managed.conf"
    managed.write_text("a\n")
    watch = [{"kind": "file", "path": str(managed)}, HOST]
    stampops.stamp_write("site", _inputs(), watch)
    managed.write_text("edited by hand\n")
    found = stampops.stamp_check("site", _inputs())
    assert found["outcome"] == "drift"
    assert [(i["kind"], i["path"]) for i in found["drifted"]] == [("file", str(managed))]
    with pytest.raises(stampops.OpError, match=f"file {managed} drifted and the converge did not"):
        stampops.stamp_write("site", _inputs(), watch, drifted=found["drifted"])
    assert not (stamps / "site.json").exists()
    managed.write_text("a\n")  # the role put it back
    assert stampops.stamp_write("site", _inputs(), watch, drifted=found["drifted"])["items"] == 2
    managed.write_text("made anew\n")  # a role that regenerates what was lost (a key) repairs too
    assert stampops.stamp_write("site", _inputs(), watch, drifted=found["drifted"])["items"] == 2
