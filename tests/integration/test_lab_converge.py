"""The main job on a real lab: lab up, apply site twice, check mode, verify, drift,
an unreachable host, and lab down. Tests run in file order and share one lab."""

from __future__ import annotations

import os
import stat

import pytest

from tests.integration.conftest import CANARY_SECRET, NAME


@pytest.fixture(autouse=True)
def isolated_state(lab):
    """These tests share the lab's state dir (overrides the unit-test one)."""
    return lab.state


def summary(lines):
    return lines[-1]["summary"]


def test_second_lab_up_is_refused_and_changes_nothing(lab):
    before = lab.podman(
        "ps", "-a", "--filter", f"label=homeforge.lab={NAME}", "--format", "{{.Names}}"
    ).stdout
    again = lab.hf("lab", "up", "--nodes", "3", "--name", NAME)
    assert again.returncode == 3
    assert f"lab '{NAME}' already exists (2 host(s))" in again.stderr
    after = lab.podman(
        "ps", "-a", "--filter", f"label=homeforge.lab={NAME}", "--format", "{{.Names}}"
    ).stdout
    assert before == after and len(after.split()) == 2


def test_lab_status_and_private_files(lab):
    rc, lines = lab.hf_json("lab", "status", "--name", NAME)
    assert rc == 0 and lines[0]["healthy"]
    assert [h["systemd"] for h in lines[0]["hosts"]] == ["running", "running"]
    key = lab.inventory.parent / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(lab.inventory.parent.stat().st_mode) == 0o700
    check = lab.hf("inventory", "check", "-i", str(lab.inventory))
    assert check.returncode == 0, check.stderr


def test_check_mode_on_new_hosts_reports_changes_and_makes_none(lab):
    rc, lines = lab.hf_json("apply", "site", "-i", str(lab.inventory), "--check", "--diff")
    result = summary(lines)
    assert rc == 0 and result["ok"], result["failures"]
    assert all(h["changed"] > 0 for h in result["hosts"].values())
    for index in (1, 2):
        container = f"{NAME}-{index}"
        assert lab.podman("exec", container, "dpkg", "-s", "jq").returncode != 0, (
            "check mode installed a package"
        )
        assert lab.podman("exec", container, "test", "-e", "/etc/wireguard/wg0.key").returncode != 0


def test_first_converge_then_second_changes_nothing(lab):
    rc, lines = lab.hf_json("apply", "site", "-i", str(lab.inventory))
    first = summary(lines)
    assert rc == 0 and first["ok"], first["failures"]
    assert all(h["changed"] > 0 for h in first["hosts"].values())
    assert any(e.get("event") == "playbook_on_task_start" for e in lines)

    # --full: the roles themselves run again (the fast path would skip both hosts)
    rc, lines = lab.hf_json("apply", "site", "-i", str(lab.inventory), "--full")
    second = summary(lines)
    assert rc == 0 and second["ok"]
    assert {h: s["changed"] for h, s in second["hosts"].items()} == {"lab-1": 0, "lab-2": 0}
    assert second["outcomes"] == {"lab-1": "converged", "lab-2": "converged"}
    assert second["reasons"] == {"lab-1": "--full", "lab-2": "--full"}


def test_check_diff_after_converge_reports_no_change(lab):
    done = lab.hf("apply", "site", "-i", str(lab.inventory), "--check", "--diff", "--full")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed=0" in done.stdout and "recap" in done.stdout
    assert "unchanged (probe)" not in done.stdout


def test_verify_passes_and_writes_junit(lab, tmp_path):
    done = lab.hf("verify", "-i", str(lab.inventory), "--junit", str(tmp_path))
    assert done.returncode == 0, done.stdout
    junit = (tmp_path / "junit.xml").read_text()
    # 2 hosts x (5 common + 7 wireguard + 2 nvidia_driver checks: no GPU, no driver)
    assert junit.count("<testcase") == 28 and "<failure" not in junit
    assert "28 passed, 0 failed" in done.stdout


def test_mesh_is_up_with_real_traffic_and_no_heavy_extras(lab):
    for index, other in ((1, 2), (2, 1)):
        peers = lab.podman("exec", f"{NAME}-{index}", "wg", "show", "wg0", "peers").stdout.split()
        assert len(peers) == 1
        address = lab.podman(
            "exec",
            f"{NAME}-{other}",
            "sh",
            "-c",
            "ip -4 -o addr show wg0 | awk '{print $4}' | cut -d/ -f1",
        ).stdout.strip()
        assert (
            lab.podman("exec", f"{NAME}-{index}", "ping", "-c", "1", "-W", "3", address).returncode
            == 0
        )
    # wireguard-tools' recommends (a kernel image or DKMS) must not be pulled onto hosts
    packages = lab.podman("exec", f"{NAME}-1", "dpkg-query", "-W", "-f=${Package}\n").stdout.split()
    assert not [p for p in packages if p.startswith(("linux-image", "wireguard-dkms", "dkms"))]


def test_mesh_status_and_plan_read_the_live_mesh_without_its_secrets(lab, tmp_path):
    import yaml

    private = [
        lab.podman("exec", f"{NAME}-{i}", "cat", "/etc/wireguard/wg0.key").stdout.strip()
        for i in (1, 2)
    ]
    status = lab.hf("mesh", "status", "-i", str(lab.inventory), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = __import__("json").loads(status.stdout)
    assert report["healthy"]
    assert {h["host"]: [p["name"] for p in h["peers"]] for h in report["hosts"]} == {
        "lab-1": ["lab-2"],
        "lab-2": ["lab-1"],
    }
    assert all(p["latest_handshake"] > 0 for h in report["hosts"] for p in h["peers"])

    plan = lab.hf("mesh", "plan", "-i", str(lab.inventory), "--json")
    assert plan.returncode == 0 and __import__("json").loads(plan.stdout)["hosts"] == {
        "lab-1": [],
        "lab-2": [],
    }

    edited = yaml.safe_load(lab.inventory.read_text())
    edited["all"]["hosts"]["lab-1"]["wireguard_extra_allowed_ips"] = ["192.168.77.0/24"]
    changed_inventory = tmp_path / "inventory.yml"
    changed_inventory.write_text(yaml.safe_dump(edited))
    plan = lab.hf("mesh", "plan", "-i", str(changed_inventory), "--json")
    changes = __import__("json").loads(plan.stdout)["hosts"]
    assert changes["lab-1"] == [] and [(c["action"], c["peer"]) for c in changes["lab-2"]] == [
        ("change", "lab-1")
    ]
    for out in (status.stdout, plan.stdout, status.stderr, plan.stderr):
        assert not any(key in out for key in private)


def test_rotate_keys_replaces_a_key_and_the_mesh_keeps_working(lab):
    import json

    old_private = lab.podman("exec", f"{NAME}-1", "cat", "/etc/wireguard/wg0.key").stdout.strip()
    done = lab.hf("mesh", "rotate-keys", "-i", str(lab.inventory), "--host", "lab-1", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    rotation = json.loads(done.stdout)["rotations"][0]
    assert rotation["host"] == "lab-1" and rotation["observer"] == "lab-2"
    assert rotation["new_key"] != rotation["old_key"] and rotation["sent"] > 0
    new_private = lab.podman("exec", f"{NAME}-1", "cat", "/etc/wireguard/wg0.key").stdout.strip()
    assert new_private != old_private
    assert (
        lab.podman("exec", f"{NAME}-1", "cat", "/etc/wireguard/wg0.key.old").stdout.strip()
        == old_private
    )
    assert (
        lab.podman(
            "exec", f"{NAME}-1", "stat", "-c", "%a", "/etc/wireguard/wg0.key.old"
        ).stdout.strip()
        == "600"
    )
    assert (
        old_private not in done.stdout + done.stderr
        and new_private not in done.stdout + done.stderr
    )
    # lab-2 now knows lab-1 by its new key, and traffic flows
    assert lab.podman("exec", f"{NAME}-2", "wg", "show", "wg0", "peers").stdout.split() == [
        rotation["new_key"]
    ]
    address = lab.podman(
        "exec", f"{NAME}-1", "sh", "-c", "ip -4 -o addr show wg0 | awk '{print $4}' | cut -d/ -f1"
    ).stdout.strip()
    assert lab.podman("exec", f"{NAME}-2", "ping", "-c", "1", "-W", "3", address).returncode == 0
    again = lab.hf_json("apply", "mesh", "-i", str(lab.inventory))
    assert again[0] == 0 and summary(again[1])["changed"] == 0


def test_rotate_keys_of_an_unknown_host_is_bad_input(lab):
    done = lab.hf("mesh", "rotate-keys", "-i", str(lab.inventory), "--host", "lab-9")
    assert done.returncode == 2 and "--host lab-9: not in the mesh" in done.stderr


def test_verify_catches_drift_and_apply_repairs_only_that_host(lab):
    lab.podman(
        "exec",
        f"{NAME}-1",
        "sh",
        "-c",
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q jq && sysctl -w net.ipv4.ip_forward=0",
    )
    rc, lines = lab.hf_json("verify", "-i", str(lab.inventory))
    assert rc == 1
    report = {h["host"]: h for h in lines[0]["hosts"]}
    failed = {c["name"] for c in report["lab-1"]["checks"] if c["outcome"] == "failed"}
    assert failed == {"test_base_packages_installed", "test_sysctls_live_and_persisted"}
    assert all(c["outcome"] == "passed" for c in report["lab-2"]["checks"])

    rc, lines = lab.hf_json("apply", "site", "-i", str(lab.inventory))
    repaired = summary(lines)
    assert (
        rc == 0
        and repaired["hosts"]["lab-1"]["changed"] == 2
        and repaired["hosts"]["lab-2"]["changed"] == 0
    )
    assert lab.hf("verify", "-i", str(lab.inventory)).returncode == 0


def test_limit_converges_only_the_named_host_and_keeps_every_peer(lab):
    keys_before = lab.podman("exec", f"{NAME}-2", "wg", "show", "wg0", "peers").stdout
    rc, lines = lab.hf_json("apply", "site", "-i", str(lab.inventory), "--limit", "lab-2", "--full")
    result = summary(lines)
    assert (
        rc == 0 and set(result["hosts"]) == {"lab-2"} and result["hosts"]["lab-2"]["changed"] == 0
    )
    # lab-1 is outside the limit: its key comes from the fact cache, its peer entry stays
    assert lab.podman("exec", f"{NAME}-2", "wg", "show", "wg0", "peers").stdout == keys_before != ""


def test_limit_works_without_a_fact_cache(lab):
    """Another checkout or a new laptop has no fact cache: the keys of the hosts the run
    leaves out are read live from them, and their peers stay."""
    import shutil

    keys_before = lab.podman("exec", f"{NAME}-2", "wg", "show", "wg0", "peers").stdout
    shutil.rmtree(lab.state / "facts")
    rc, lines = lab.hf_json("apply", "site", "-i", str(lab.inventory), "--limit", "lab-2", "--full")
    result = summary(lines)
    assert rc == 0 and set(result["hosts"]) == {"lab-2"}, lines[-3:]
    assert result["hosts"]["lab-2"]["changed"] == 0
    assert lab.podman("exec", f"{NAME}-2", "wg", "show", "wg0", "peers").stdout == keys_before != ""


# ---------------------------------------------------------------- the converge fast path
# After a clean converge each host keeps a stamp; `apply` probes it and converges only the
# hosts whose inputs or managed state changed (homeforge.fastpath). Every drift kind below
# must lead to a real converge of that host, which repairs it, and leave the other alone.


def fast(lab, *args, inventory=None):
    """apply site --json: (exit code, summary, probe event per host)."""
    rc, lines = lab.hf_json("apply", "site", "-i", str(inventory or lab.inventory), *args)
    probes = {e["host"]: e for e in lines if e.get("event") == "probe"}
    return rc, summary(lines), probes


def stamps(lab, index):
    listed = lab.podman("exec", f"{NAME}-{index}", "ls", "-A", "/var/lib/homeforge/stamps")
    return listed.stdout.split()


def test_unchanged_hosts_are_probed_and_ansible_does_not_run(lab):
    rc, result, _ = fast(lab, "--full")
    assert rc == 0 and result["ok"] and stamps(lab, 1) == stamps(lab, 2) == ["site.json"]
    mode = lab.podman(
        "exec", f"{NAME}-1", "stat", "-c", "%a %U", "/var/lib/homeforge/stamps/site.json"
    )
    assert mode.stdout.strip() == "600 root"
    runs_before = lab.runs()
    rc, result, probes = fast(lab)
    assert rc == 0 and result["ok"] and result["artifacts"] is None
    assert result["outcomes"] == {"lab-1": "unchanged (probe)", "lab-2": "unchanged (probe)"}
    assert {h: p["outcome"] for h, p in probes.items()} == {
        "lab-1": "unchanged",
        "lab-2": "unchanged",
    }
    assert lab.runs() == runs_before  # no Ansible run at all
    shown = lab.hf("apply", "site", "-i", str(lab.inventory), "--check")
    assert shown.returncode == 0 and "2 unchanged (probe)" in shown.stdout
    assert "no Ansible run needed" in shown.stdout


WG_RULE = "INPUT -p udp --dport 51820 -m comment --comment 'homeforge wireguard' -j ACCEPT"
# (what drifts, host, how, the item the recap names, a command that passes once repaired,
#  the roles the targeted converge runs: those of the drifted item and those sharing it)
DRIFTS = [
    (
        "hand-edited file",
        1,
        "echo 'server 192.0.2.1 iburst' >> /etc/chrony/chrony.conf",
        "file /etc/chrony/chrony.conf",
        "! grep -q 192.0.2.1 /etc/chrony/chrony.conf",
        ["common"],
    ),
    (
        "removed package",
        2,
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q jq",
        "package jq",
        "dpkg -s jq",
        ["common"],
    ),
    (
        "stopped unit",
        1,
        "systemctl stop chrony",
        "unit chrony.service",
        "systemctl is-active chrony",
        ["common"],
    ),
    (
        "disabled unit",
        2,
        "systemctl disable chrony",
        "unit chrony.service",
        "systemctl is-enabled chrony",
        ["common"],
    ),
    (
        # systemd's cached UnitFileState still says "enabled" until a daemon-reload
        "unit disabled without a reload",
        1,
        "systemctl disable --no-reload chrony",
        "unit chrony.service",
        "systemctl is-enabled chrony",
        ["common"],
    ),
    (
        "changed sysctl",
        1,
        "sysctl -w net.ipv4.ip_forward=0",
        "sysctl net.ipv4.ip_forward",
        "test $(sysctl -n net.ipv4.ip_forward) = 1",
        ["common"],
    ),
    (
        "deleted firewall rule",
        2,
        f"iptables -D {WG_RULE}",
        "firewall chain ipv4 filter/INPUT (rules 'homeforge wireguard')",
        f"iptables -C {WG_RULE}",
        ["wireguard"],
    ),
    (
        # wg-quick's oneshot unit stays "active": the role restarts it
        "deleted WireGuard interface",
        2,
        "ip link del wg0",
        "WireGuard peers of wg0",
        "ip link show wg0",
        ["wireguard"],
    ),
    (
        "dropped WireGuard peer",
        1,
        "wg set wg0 peer $(wg show wg0 peers | head -1) remove",
        "WireGuard peers of wg0",
        "test $(wg show wg0 peers | wc -l) = 1",
        ["wireguard"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "index", "drift", "item", "repaired", "roles"), DRIFTS, ids=[d[0] for d in DRIFTS]
)
def test_each_drift_kind_converges_only_that_host_and_repairs_it(
    lab, kind, index, drift, item, repaired, roles
):
    host, other = f"lab-{index}", f"lab-{3 - index}"
    done = lab.podman("exec", f"{NAME}-{index}", "sh", "-c", drift)
    assert done.returncode == 0, done.stderr
    assert lab.podman("exec", f"{NAME}-{index}", "sh", "-c", repaired).returncode != 0
    rc, result, probes = fast(lab)
    assert rc == 0 and result["ok"], result["failures"]
    assert result["outcomes"] == {host: "converged", other: "unchanged (probe)"}
    assert probes[host]["outcome"] == "drift" and item in probes[host]["detail"], probes[host]
    assert result["reasons"][host].startswith("drift: changed since the last converge: ")
    assert result["hosts"][host]["changed"] >= 1 and result["hosts"][other]["changed"] == 0
    assert lab.podman("exec", f"{NAME}-{index}", "sh", "-c", repaired).returncode == 0, kind
    # only the roles of what drifted ran (homeforge.fastpath.targets), and they stamped it
    assert result["targeted"] == [host] and result["roles"] == {host: roles}, result["roles"]
    rc, result, _ = fast(lab)
    assert rc == 0 and set(result["outcomes"].values()) == {"unchanged (probe)"}


def test_a_host_back_with_a_new_key_brings_its_peers_along_in_the_same_apply(lab):
    """lab-1 loses its WireGuard key (a reinstall): its converge makes a new one, which
    changes lab-2's inputs (other hosts' facts), so lab-2 converges in the same apply and
    takes the new key as its peer."""
    lab.podman("exec", f"{NAME}-1", "rm", "/etc/wireguard/wg0.key")
    rc, result, probes = fast(lab)
    assert rc == 0 and result["ok"], result["failures"]
    assert probes["lab-1"]["outcome"] == "drift" and probes["lab-2"]["outcome"] == "unchanged"
    assert result["outcomes"] == {"lab-1": "converged", "lab-2": "converged"}
    assert result["reasons"]["lab-2"] == "inputs changed: other hosts' facts (changed by this run)"
    new_key = lab.podman("exec", f"{NAME}-1", "wg", "show", "wg0", "public-key").stdout.strip()
    assert new_key in lab.podman("exec", f"{NAME}-2", "wg", "show", "wg0", "peers").stdout.split()
    rc, result, _ = fast(lab)
    assert rc == 0 and set(result["outcomes"].values()) == {"unchanged (probe)"}


def test_after_the_repairs_every_host_is_unchanged_again(lab):
    rc, result, _ = fast(lab)
    assert rc == 0 and set(result["outcomes"].values()) == {"unchanged (probe)"}
    # the targeted converges left what a whole one leaves: it would change nothing
    rc, result, _ = fast(lab, "--full", "--check")
    assert rc == 0 and result["ok"] and result["changed"] == 0, result["hosts"]


def test_a_second_controllers_apply_is_kept_out_by_the_converge_lease(lab):
    """Another controller converging the same hosts holds their converge lease: this apply
    is refused with one line naming it, before anything ran on any host; once it is
    released, the apply goes on."""
    from homeforge import inventory
    from homeforge.remote import Remote, leaseops

    inv = inventory.load(lab.inventory)
    other = {"service": "converge", "token": "elsewhere"}
    with Remote(inv) as remote:
        taken = remote.call(
            "lab-2",
            leaseops.lease_take,
            owner="ops@other-controller pid 4242",
            inventory="/home/ops/lab/hosts.yml",
            action="apply site",
            ttl=600,
            **other,
        )
        assert taken["taken"]
        try:
            runs = len(lab.runs())
            done = lab.hf("apply", "site", "-i", str(lab.inventory))
            assert done.returncode == 3, done.stdout + done.stderr
            line = done.stderr.strip().splitlines()[-1]
            assert "these hosts are being changed elsewhere: lab-2: apply site by" in line
            assert "ops@other-controller pid 4242 (inventory /home/ops/lab/hosts.yml)" in line
            assert len(lab.runs()) == runs  # no Ansible run
            # lab-1's lease (taken first, in name order) was given back
            assert remote.call("lab-1", leaseops.lease_read, service="converge")["lease"] is None
        finally:
            remote.call("lab-2", leaseops.lease_release, **other)
    rc, result, _ = fast(lab)
    assert rc == 0 and set(result["outcomes"].values()) == {"unchanged (probe)"}


def _inventory_with(lab, tmp_path, host, **values):
    import yaml

    data = yaml.safe_load(lab.inventory.read_text())
    data["all"]["hosts"][host].update(values)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_inventory_value_of_one_host_converges_that_host_only(lab, tmp_path):
    edited = _inventory_with(lab, tmp_path, "lab-2", common_ntp_servers=["192.0.2.10"])
    rc, result, probes = fast(lab, inventory=edited)
    assert rc == 0 and result["outcomes"] == {"lab-1": "unchanged (probe)", "lab-2": "converged"}
    assert probes["lab-2"]["outcome"] == "inputs"
    assert probes["lab-2"]["detail"] == "variable common_ntp_servers"
    # only the roles that read it (common), with those that read what common writes
    assert result["targeted"] == ["lab-2"], result
    roles = result["roles"]["lab-2"]
    assert "common" in roles and "wireguard" not in roles, roles
    assert result["hosts"]["lab-2"]["changed"] >= 1  # chrony.conf got the server
    conf = lab.podman("exec", f"{NAME}-2", "cat", "/etc/chrony/chrony.conf").stdout
    assert "192.0.2.10" in conf
    rc, result, _ = fast(lab)  # back to the lab's inventory: lab-2 again, and only lab-2
    assert rc == 0 and result["outcomes"] == {"lab-1": "unchanged (probe)", "lab-2": "converged"}
    assert (
        "192.0.2.10" not in lab.podman("exec", f"{NAME}-2", "cat", "/etc/chrony/chrony.conf").stdout
    )


def test_a_role_file_edit_converges_the_hosts_that_run_the_role(lab):
    """An edit to a role's file (here a comment in common's defaults) is an input of every
    host whose plays give it that role: each converges that role only (no other role
    reads what it writes), and undoing the edit is one too. The edit is made in the lab's
    private copy of the checkout, which its CLI runs from (labs beside it use the tree)."""
    assert lab.checkout is not None
    defaults = lab.checkout / "roles" / "common" / "defaults" / "main.yml"
    original = defaults.read_bytes()
    try:
        defaults.write_bytes(original + b"\n# edited by test_lab_converge\n")
        rc, result, probes = fast(lab)
        assert rc == 0 and result["outcomes"] == {"lab-1": "converged", "lab-2": "converged"}
        assert {h: (p["outcome"], p["detail"]) for h, p in probes.items()} == {
            "lab-1": ("inputs", "role common"),
            "lab-2": ("inputs", "role common"),
        }
        assert result["reasons"]["lab-1"] == "inputs changed: role common"
        assert result["targeted"] == ["lab-1", "lab-2"], result["roles"]
        assert result["roles"] == {"lab-1": ["common"], "lab-2": ["common"]}
    finally:
        defaults.write_bytes(original)
    rc, result, probes = fast(lab)
    assert rc == 0 and set(result["outcomes"].values()) == {"converged"}
    assert result["targeted"] == ["lab-1", "lab-2"]
    rc, result, _ = fast(lab)
    assert rc == 0 and set(result["outcomes"].values()) == {"unchanged (probe)"}


def test_a_host_without_a_stamp_is_converged_as_never_converged(lab):
    lab.podman("exec", f"{NAME}-2", "rm", "-rf", "/var/lib/homeforge/stamps")
    rc, result, _probes = fast(lab)
    assert rc == 0 and result["outcomes"] == {"lab-1": "unchanged (probe)", "lab-2": "converged"}
    assert result["reasons"]["lab-2"] == "never converged: no stamp of a clean converge"
    assert stamps(lab, 2) == ["site.json"]


def test_an_interrupted_run_leaves_no_stamp_and_the_next_apply_converges(lab):
    from tests.integration.conftest import kill_tree

    lab.podman("exec", f"{NAME}-1", "sysctl", "-w", "net.ipv4.ip_forward=0")
    proc = lab.hf_background("apply", "site", "-i", str(lab.inventory), "--json")
    try:
        for line in proc.stdout:  # killed once Ansible has started on the drifted host
            if '"playbook_on_task_start"' in line:
                break
        kill_tree(proc.pid)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -9
    assert stamps(lab, 1) == [] and stamps(lab, 2) == ["site.json"]
    rc, result, probes = fast(lab)
    assert rc == 0 and result["outcomes"] == {"lab-1": "converged", "lab-2": "unchanged (probe)"}
    assert probes["lab-1"]["outcome"] == "never"
    assert (
        lab.podman("exec", f"{NAME}-1", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    )


def test_mixed_outcomes_stamp_only_the_host_that_succeeded(lab, tmp_path):
    lab.podman("exec", f"{NAME}-1", "sysctl", "-w", "net.ipv4.ip_forward=0")
    broken = _inventory_with(
        lab, tmp_path, "lab-2", common_extra_packages=["homeforge-no-such-package"]
    )
    rc, result, _ = fast(lab, inventory=broken)
    assert (
        rc == 1
        and result["hosts"]["lab-2"]["failed"] == 1
        and result["hosts"]["lab-1"]["failed"] == 0
    )
    assert result["outcomes"] == {"lab-1": "converged", "lab-2": "failed"}
    assert stamps(lab, 1) == ["site.json"] and stamps(lab, 2) == []
    rc, result, probes = fast(lab)
    assert rc == 0 and result["outcomes"] == {"lab-1": "unchanged (probe)", "lab-2": "converged"}
    assert probes["lab-2"]["outcome"] == "never"


def test_unreachable_host_stops_the_run_before_any_change(lab):
    runs_before = lab.runs()
    lab.podman("stop", "--time", "2", f"{NAME}-2")
    try:
        done = lab.hf("apply", "site", "-i", str(lab.inventory))
        assert done.returncode == 1
        assert "host lab-2: ansible_host: 10.254.92.12:22 unreachable" in done.stderr
        assert "nothing was applied" in done.stderr
        assert lab.runs() == runs_before
    finally:
        lab.podman("start", f"{NAME}-2")
        lab.wait_ssh("10.254.92.12")


def test_private_keys_never_reach_the_controller(lab):
    """Neither the lab's SSH key, any host's WireGuard key, nor a token in the operator's
    environment appears in runs, facts or verify output."""
    secrets = [(lab.inventory.parent / "id_ed25519").read_text().splitlines()[1], CANARY_SECRET]
    for index in (1, 2):
        wg_key = lab.podman(
            "exec", f"{NAME}-{index}", "cat", "/etc/wireguard/wg0.key"
        ).stdout.strip()
        assert len(wg_key) == 44
        secrets.append(wg_key)
    leaks = []
    for root, _dirs, files in os.walk(lab.state):
        if os.path.join("lab", NAME) in root:
            continue  # the lab's own key file lives here, 0600
        for name in files:
            path = os.path.join(root, name)
            with open(path, errors="replace") as handle:
                text = handle.read()
            leaks += [path for secret in secrets if secret in text]
    assert lab.runs() and (lab.state / "facts").is_dir() and not leaks


def test_lab_down_removes_exactly_what_up_created(lab):
    done = lab.hf("lab", "down", "--name", NAME)
    assert done.returncode == 0
    assert (
        lab.podman("ps", "-a", "--filter", f"label=homeforge.lab={NAME}", "-q").stdout.strip() == ""
    )
    assert lab.podman("network", "exists", NAME).returncode != 0
    assert not (lab.state / "lab" / NAME).exists()
    image = lab.podman("image", "exists", __import__("homeforge.lab.image", fromlist=["tag"]).tag())
    assert image.returncode == 0, "the cached base image is kept for the next lab"
    status = lab.hf("lab", "status", "--name", NAME)
    assert status.returncode == 3 and "is not up" in status.stderr
