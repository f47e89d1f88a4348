"""Cutover and rollback on a real three-host lab with a real WireGuard mesh (wireguard-go).

lab-1 and lab-2 serve a small HTTP service on port 18080; lab-3 runs two consumers
that send requests all the time: one re-reads an environment file before every
round, one takes its endpoint from its systemd unit's environment. Their request
logs are the evidence: every request is one JSON line with the URL and the
outcome. Tests run in file order and share the lab.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from homeforge.cutover.journal import inventory_key
from tests.integration import cutover_lab as cl
from tests.integration.conftest import LabEnv, start_lab

NAME = "hf-cutover"
STANDINS = Path(__file__).resolve().parents[1] / "standins"
SUBNET = "10.254.96.0/24"
ENV_FILE = "/etc/hf-consumer/service.env"

# homeforge-mesh-only's chain for the cutover of cl.SERVICE (a digest of the instance name)
SERVICE_CHAIN = "HF-MO-" + hashlib.sha256(f"service-{cl.SERVICE}".encode()).hexdigest()[:16].upper()


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 3, SUBNET)
    inventory = cl.make_inventory(env.inventory, env.state / "inventory")
    cl.declare(inventory, {cl.SERVICE: cl.service(inventory)})
    env.inventory = inventory
    for playbook in ("site", str(cl.APPS)):
        done = env.hf("apply", playbook, "-i", str(inventory))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


def sh(env: LabEnv, index: int, command: str) -> subprocess.CompletedProcess:
    return env.podman("exec", f"{NAME}-{index}", "sh", "-c", command)


def env_file(env: LabEnv) -> dict[str, str]:
    text = sh(env, 3, f"cat {ENV_FILE}").stdout
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def mesh_address(env: LabEnv, index: int) -> str:
    out = sh(env, index, "ip -o -4 addr show dev wg0").stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def log_size(env: LabEnv) -> dict[str, int]:
    return {
        name: len(cl.consumer_log(f"{NAME}-3", env.podman, name))
        for name in ("hf-consumer", "hf-consumer-sd")
    }


def log_since(env: LabEnv, marks: dict[str, int], name: str) -> list[dict]:
    return cl.consumer_log(f"{NAME}-3", env.podman, name)[marks[name] :]


def sequence(rows: list[dict], key: str) -> list[str]:
    """The URLs a consumer used for one variable, in order, repeats collapsed."""
    out: list[str] = []
    for row in rows:
        if row["key"] == key and (not out or out[-1] != row["url"]):
            out.append(row["url"])
    return out


def cutover(env: LabEnv, *args: str) -> subprocess.CompletedProcess:
    return env.hf("mesh", "cutover", cl.SERVICE, "-i", str(env.inventory), *args)


def rollback(env: LabEnv, *args: str) -> subprocess.CompletedProcess:
    return env.hf("mesh", "rollback", cl.SERVICE, "-i", str(env.inventory), *args)


def cutover_in_background(env: LabEnv) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeforge",
            "mesh",
            "cutover",
            cl.SERVICE,
            "-i",
            str(env.inventory),
        ],
        env={**os.environ, "HOMEFORGE_STATE_DIR": str(env.state), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def journal_path(env: LabEnv) -> Path:
    return env.state / "cutover" / inventory_key(env.inventory) / f"{cl.SERVICE}.json"


def journal(env: LabEnv) -> dict:
    return json.loads(journal_path(env).read_text())


def port_open(address: str, port: int = cl.PORT) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def test_check_mode_validates_and_changes_nothing(cut):
    before = env_file(cut)
    events, summary = cl.run_json(cutover(cut, "--check", "--json"))
    assert summary and summary["check"] and summary["ok"]
    assert {e["step"] for e in events} >= {"preflight", "shadow", "check"}
    assert len(summary["would_change"]) == 5  # 3 variables, 2 service hosts' port
    assert env_file(cut) == before
    assert not journal_path(cut).exists()
    assert port_open(cl.addresses(cut.inventory)["lab-1"])


def test_cutover_and_rollback_fail_no_request_under_continuous_load(cut):
    addr = cl.addresses(cut.inventory)
    legacy1, legacy2 = cl.legacy(addr["lab-1"]), cl.legacy(addr["lab-2"])
    mesh1, mesh2 = (f"http://{mesh_address(cut, i)}:{cl.PORT}" for i in (1, 2))
    assert env_file(cut)["SERVICE_URL"] == legacy1
    marks = log_size(cut)

    done = cutover(cut, "--json")
    events, summary = cl.run_json(done)
    assert done.returncode == 0 and summary["phase"] == "cut-over", (
        done.stdout[-3000:] + done.stderr
    )
    assert env_file(cut)["SERVICE_URL"] == mesh1
    assert env_file(cut)["SERVICE_SECONDARY_URL"] == mesh2
    assert env_file(cut)["HF_CONSUMER_NAME"] == "test"  # other lines kept
    assert not port_open(addr["lab-1"]) and not port_open(addr["lab-2"])  # closed outside the mesh
    record = journal(cut)
    assert record["phase"] == "cut-over"
    consumer = record["changes"][0]
    assert consumer["previous"]["values"]["SERVICE_URL"] == legacy1
    assert stat.S_IMODE(os.stat(journal_path(cut)).st_mode) == 0o600
    # the port stays closed across a restart of the firewall unit (it is what runs at boot)
    assert (
        sh(cut, 1, "systemctl is-enabled homeforge-mesh-only@service-hf-svc.service").stdout.strip()
        == "enabled"
    )
    time.sleep(1.5)  # consumers keep sending over the mesh

    again = cutover(cut, "--json")
    events, summary = cl.run_json(again)
    assert again.returncode == 0
    assert not [e for e in events if e["status"] == "change"], "a second cutover changed something"
    assert journal(cut)["changes"][0]["previous"]["values"]["SERVICE_URL"] == legacy1

    back = rollback(cut, "--json")
    events, summary = cl.run_json(back)
    assert back.returncode == 0 and summary["phase"] == "rolled-back", (
        back.stdout[-3000:] + back.stderr
    )
    assert any(e["step"] == "legacy" for e in events)  # the legacy path was probed before switching
    assert env_file(cut)["SERVICE_URL"] == legacy1
    assert port_open(addr["lab-1"])
    assert sh(cut, 1, f"iptables -n -L {SERVICE_CHAIN}").returncode != 0
    assert (
        sh(
            cut, 3, "test -e /etc/systemd/system/hf-consumer-sd.service.d/homeforge-hf-svc.conf"
        ).returncode
        != 0
    )
    time.sleep(1.5)

    follows_file = log_since(cut, marks, "hf-consumer")
    from_unit = log_since(cut, marks, "hf-consumer-sd")
    assert len(follows_file) > 100 and len(from_unit) > 50
    failed = [r for r in follows_file + from_unit if not r["ok"]]
    assert failed == [], failed[:5]
    assert sequence(follows_file, "SERVICE_URL") == [legacy1, mesh1, legacy1]
    assert sequence(follows_file, "SERVICE_SECONDARY_URL") == [legacy2, mesh2, legacy2]
    assert sequence(from_unit, "SERVICE_URL") == [legacy2, mesh2, legacy2]


def test_rollback_again_has_nothing_to_do(cut):
    done = rollback(cut)
    assert done.returncode == 0 and "already rolled back" in done.stdout


def test_service_host_wireguard_down_stops_at_shadow_with_nothing_changed(cut):
    before = env_file(cut)
    phase = journal(cut)["phase"]
    sh(cut, 3, f"ping -c 2 -W 2 {mesh_address(cut, 2)}")  # a fresh handshake, so preflight passes
    assert sh(cut, 2, "ip link set wg0 down").returncode == 0
    try:
        done = cutover(cut)
        assert done.returncode == 1
        assert "shadow: from lab-3:" in done.stderr and "nothing was changed" in done.stderr
        assert env_file(cut) == before
        assert journal(cut)["phase"] == phase
        assert sh(cut, 1, f"iptables -n -L {SERVICE_CHAIN}").returncode != 0
    finally:
        sh(cut, 2, "systemctl restart wg-quick@wg0")
    # lab-3 still holds the old session: it gets a new one within a few rekey timeouts
    assert sh(cut, 3, f"ping -c 1 -w 30 {mesh_address(cut, 2)}").returncode == 0


def test_failure_during_the_switch_rolls_back_automatically(cut):
    services = cl.service(cut.inventory)
    # a third consumer refuses any endpoint outside the lab network: its restart fails
    services["consumers"].append(
        {"host": "lab-3", "systemd": "hf-strict.service", "variables": {"SERVICE_URL": "lab-1"}}
    )
    cl.declare(cut.inventory, {cl.SERVICE: services})
    before = env_file(cut)
    marks = log_size(cut)
    try:
        done = cutover(cut)
        assert done.returncode == 1
        assert "failed during switch" in done.stderr and "rolled back automatically" in done.stderr
        assert "hf-strict.service" in done.stderr
        assert env_file(cut) == before
        assert (
            sh(cut, 3, "systemctl is-active hf-strict.service hf-consumer-sd.service").returncode
            == 0
        )
        assert sh(cut, 3, "ls /etc/systemd/system/*.d/homeforge-hf-svc.conf").returncode != 0
        record = journal(cut)
        assert record["phase"] == "rolled-back"
        assert {c["state"] for c in record["changes"]} == {"restored"}
        assert port_open(cl.addresses(cut.inventory)["lab-1"])
        rows = log_since(cut, marks, "hf-consumer")
        assert rows and all(r["ok"] for r in rows)
    finally:
        cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory)})


def test_second_cutover_while_one_runs_is_refused(cut):
    cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory, probes=20, interval=0.1)})
    lock = journal_path(cut).parent / "lock"
    first = cutover_in_background(cut)
    try:
        deadline = time.monotonic() + 30
        while not (lock.is_file() and lock.read_text().startswith(f"pid {first.pid}:")):
            assert first.poll() is None and time.monotonic() < deadline, (
                "first cutover never took the lock"
            )
            time.sleep(0.05)
        second = cutover(cut)
        assert second.returncode == 3
        assert (
            f"another cutover or rollback is running (pid {first.pid}: cutover {cl.SERVICE}"
            in second.stderr
        )
        assert rollback(cut).returncode == 3
        out, err = first.communicate(timeout=180)
        assert first.returncode == 0, out[-2000:] + err
    finally:
        if first.poll() is None:
            first.kill()
        cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory)})
    assert rollback(cut).returncode == 0


def test_a_second_controller_is_kept_out_by_the_lease_on_the_service_hosts(cut, tmp_path):
    """Another checkout with its own state (another laptop): the local lock cannot see the
    first run; the lease on the service hosts can."""
    import shutil

    other = LabEnv(state=tmp_path / "state-2", inventory=tmp_path / "checkout-2")
    shutil.copytree(cut.inventory, other.inventory)
    cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory, probes=20, interval=0.1)})
    lease = f"/var/lib/homeforge/leases/{cl.SERVICE}.json"
    first = cutover_in_background(cut)
    try:
        deadline = time.monotonic() + 60
        while sh(cut, 1, f"test -f {lease}").returncode != 0:
            assert first.poll() is None and time.monotonic() < deadline, "no lease was taken"
            time.sleep(0.05)
        assert sh(cut, 1, f"stat -c %a {lease}").stdout.strip() == "600"
        second = cutover(other)
        assert second.returncode == 3, second.stdout[-1500:] + second.stderr
        assert f"{cl.SERVICE} is being changed elsewhere: lab-1: cutover by" in second.stderr
        assert "its journal: cutting-over" in second.stderr
        out, err = first.communicate(timeout=180)
        assert first.returncode == 0, out[-2000:] + err
    finally:
        if first.poll() is None:  # Ctrl-C, not a kill: the run releases its lease
            first.send_signal(signal.SIGINT)
            first.wait(timeout=60)
        cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory)})
    # released, with the finished journal left beside it for the next controller to read
    assert sh(cut, 1, f"test -f {lease}").returncode != 0
    last = json.loads(
        sh(cut, 1, f"cat /var/lib/homeforge/leases/{cl.SERVICE}.last-journal.json").stdout
    )
    assert last["phase"] == "cut-over"
    assert rollback(cut).returncode == 0


def test_ctrl_c_leaves_a_journal_that_resume_and_rollback_both_honour(cut):
    addr = cl.addresses(cut.inventory)
    cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory, probes=25, interval=0.1)})
    path = journal_path(cut)
    started = path.stat().st_mtime
    run = cutover_in_background(cut)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the first switch to be journaled, then press Ctrl-C
            if path.stat().st_mtime != started:
                record = json.loads(path.read_text())
                if record["phase"] == "cutting-over" and any(
                    c["state"] == "applied" for c in record["changes"]
                ):
                    break
            assert run.poll() is None and time.monotonic() < deadline, "cutover ended before Ctrl-C"
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert "rollback" in err and "resumes it" in err
    record = journal(cut)
    assert record["phase"] == "cutting-over" and record["changes"]
    assert record["history"][-1]["event"].startswith("interrupted")
    assert env_file(cut)["SERVICE_URL"] != cl.legacy(addr["lab-1"])  # it stopped half-way

    resumed = cutover(cut)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr
    assert journal(cut)["changes"][0]["previous"]["values"]["SERVICE_URL"] == cl.legacy(
        addr["lab-1"]
    )
    back = rollback(cut)
    assert back.returncode == 0, back.stdout[-2000:] + back.stderr
    assert env_file(cut)["SERVICE_URL"] == cl.legacy(addr["lab-1"])
    cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory)})


def test_bind_exposure_moves_the_listener_and_back(cut):
    exposure = {
        "mode": "bind",
        "unit": "hf-svc.service",
        "variable": "SVC_BIND",
        "value": "{address}",
    }
    cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory, exposure=exposure)})
    try:
        done = cutover(cut)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        listening = sh(cut, 1, "ss -Hltn 'sport = :18080'").stdout
        assert f"{mesh_address(cut, 1)}:18080" in listening and "0.0.0.0:18080" not in listening
        assert not port_open(cl.addresses(cut.inventory)["lab-1"])
        back = rollback(cut)
        assert back.returncode == 0, back.stdout[-2000:] + back.stderr
        assert "0.0.0.0:18080" in sh(cut, 1, "ss -Hltn 'sport = :18080'").stdout
    finally:
        cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory)})


def test_deployment_consumer_through_the_kubectl_standin(cut):
    """Against tests/standins/kubectl (no cluster here): the kubectl calls and their order."""
    addr = cl.addresses(cut.inventory)
    assert (
        cut.podman("cp", str(STANDINS / "kubectl"), f"{NAME}-3:/usr/local/bin/kubectl").returncode
        == 0
    )
    kubectl = "kubectl -n prod"
    assert sh(cut, 3, "kubectl create deployment api --image=api:1 -n prod").returncode == 0
    assert (
        sh(
            cut,
            3,
            f"{kubectl} set env deployment/api SERVICE_URL={cl.legacy(addr['lab-1'])} KEEP=1",
        ).returncode
        == 0
    )

    def env_of_deployment() -> dict:
        obj = json.loads(sh(cut, 3, f"{kubectl} get deployment api -o json").stdout)
        return {
            e["name"]: e["value"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]
        }

    services = cl.service(cut.inventory)
    services["consumers"] = [
        {"host": "lab-3", "deployment": "prod/api", "variables": {"SERVICE_URL": "lab-1"}}
    ]
    cl.declare(cut.inventory, {cl.SERVICE: services})
    try:
        done = cutover(cut)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        assert env_of_deployment() == {
            "SERVICE_URL": f"http://{mesh_address(cut, 1)}:{cl.PORT}",
            "KEEP": "1",
        }
        back = rollback(cut)
        assert back.returncode == 0, back.stdout[-2000:] + back.stderr
        assert env_of_deployment() == {"SERVICE_URL": cl.legacy(addr["lab-1"]), "KEEP": "1"}
    finally:
        cl.declare(cut.inventory, {cl.SERVICE: cl.service(cut.inventory)})


def test_no_private_key_reaches_the_controller(cut):
    keys = [sh(cut, i, "cat /etc/wireguard/wg0.key").stdout.strip() for i in (1, 2, 3)]
    # this lab's mesh runs with preshared keys: one per pair, the same on both hosts
    psks = [sh(cut, i, "cat /etc/wireguard/wg0.psk.d/*.psk").stdout.split() for i in (1, 2, 3)]
    assert [len(p) for p in psks] == [2, 2, 2]
    held = Counter(psks[0] + psks[1] + psks[2])
    assert len(held) == 3 and set(held.values()) == {2}  # 3 pairs, each key on its 2 hosts
    keys += list(held)
    assert all(len(k) == 44 for k in keys)
    for path in cut.state.rglob("*"):
        if path.is_file() and not path.name.startswith("id_ed25519"):
            data = path.read_bytes()
            assert not any(k.encode() in data for k in keys), f"private key in {path}"


def test_listen_port_rule_comes_back_with_the_interface(cut):
    rule = "INPUT -p udp --dport 51820 -m comment --comment 'homeforge wireguard' -j ACCEPT"
    assert sh(cut, 1, f"iptables -D {rule}").returncode == 0
    assert sh(cut, 1, f"iptables -C {rule}").returncode != 0
    assert sh(cut, 1, "systemctl restart wg-quick@wg0").returncode == 0  # what boot does
    assert sh(cut, 1, f"iptables -C {rule}").returncode == 0
    assert sh(cut, 1, "iptables -S INPUT | grep -c 'homeforge wireguard'").stdout.strip() == "1"
    # peers holding the old session handshake again within WireGuard's rekey timeouts
    for index in (2, 3):
        assert sh(cut, index, f"ping -c 1 -w 30 {mesh_address(cut, 1)}").returncode == 0


def test_preshared_keys_can_be_turned_off_and_verify_agrees(cut):
    # every lab host is in group lab: its group_vars override all.yml
    (cut.inventory / "group_vars" / "lab.yml").write_text("wireguard_preshared_keys: false\n")
    try:
        done = cut.hf("apply", "mesh", "-i", str(cut.inventory))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        flags = sh(cut, 1, "wg show wg0 preshared-keys | cut -f2 | sort -u").stdout.split()
        assert flags == ["(none)"]
        assert sh(cut, 1, "ls /etc/wireguard/wg0.psk.d").stdout.split() == []
        verify = cut.hf("verify", "-i", str(cut.inventory))
        assert verify.returncode == 0, verify.stdout[-3000:]
    finally:
        (cut.inventory / "group_vars" / "lab.yml").unlink()


def test_mesh_only_ports_from_the_role_close_the_port_outside_the_mesh(cut):
    """wireguard_mesh_only_ports: the converge-time way, real traffic both ways."""
    lab1 = cl.addresses(cut.inventory)["lab-1"]
    over_mesh = f"python3 -c \"import urllib.request; urllib.request.urlopen('http://{mesh_address(cut, 1)}:{cl.PORT}/api/tags', timeout=3)\""
    host_vars = cut.inventory / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "lab-1.yml").write_text(f"wireguard_mesh_only_ports: [{cl.PORT}]\n")
    try:
        done = cut.hf("apply", "mesh", "-i", str(cut.inventory))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        assert not port_open(lab1)
        assert sh(cut, 3, over_mesh).returncode == 0
    finally:
        (host_vars / "lab-1.yml").write_text("wireguard_mesh_only_ports: []\n")
        done = cut.hf("apply", "mesh", "-i", str(cut.inventory))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert port_open(lab1)
    assert sh(cut, 1, "test -e /etc/homeforge/mesh-only/wireguard.conf").returncode != 0


def test_rotate_keys_keeps_the_preshared_keys(cut):
    """This lab runs with preshared keys: after a rotation every peer still has its own."""
    before = sh(cut, 2, "wg show wg0 public-key").stdout.strip()
    done = cut.hf("mesh", "rotate-keys", "--host", "lab-2", "-i", str(cut.inventory))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert sh(cut, 2, "wg show wg0 public-key").stdout.strip() != before
    for index in (1, 3):
        flags = sh(cut, index, "wg show wg0 preshared-keys | cut -f2 | sort -u").stdout.split()
        assert flags != ["(none)"] and "(none)" not in flags
    verify = cut.hf("verify", "-i", str(cut.inventory))
    assert verify.returncode == 0, verify.stdout[-3000:]
