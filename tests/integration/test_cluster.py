"""K3s on three lab hosts through `apply site` (common, the WireGuard mesh, two servers
and an agent joining over the mesh), against the K3s STAND-IN release (airgap): then
`homeforge cluster status` and `cluster kubeconfig`, and the token's whereabouts.
Results are the roles' and the CLI's behaviour with stand-in K3s processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import start_lab

NAME = "hf-cluster"
SUBNET = "10.254.95.0/24"
ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "k3s"
NEEDS = Path(__file__).with_name("apps") / "k3s_standin_needs.yml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 3, SUBNET)
    release = env.state / "k3s-release"
    subprocess.run(
        [
            sys.executable,
            str(STANDIN),
            "release",
            "--out",
            str(release),
            "--version",
            "v1.31.4+k3s1",
        ],
        check=True,
        capture_output=True,
    )
    inventory = env.state / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    shutil.copy(env.inventory, inventory / "inventory.yml")
    groups = {
        "k3s_cluster": {
            "children": {
                "server": {"hosts": {"lab-1": None, "lab-2": None}},
                "agent": {"hosts": {"lab-3": None}},
            }
        }
    }
    (inventory / "groups.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (inventory / "group_vars" / "k3s_cluster.yml").write_text(
        yaml.safe_dump(
            {
                "k3s_artifacts_dir": str(release),
                "k3s_server_config": {"cluster-cidr": "10.42.0.0/16"},
            }
        )
    )
    env.inventory = inventory
    done = env.hf("apply", str(NEEDS), "-i", str(inventory))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # check mode on hosts that have nothing yet: it predicts, it does not fail
    check = env.hf("apply", "site", "-i", str(inventory), "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    for playbook in (str(NEEDS), "site"):
        done = env.hf("apply", playbook, "-i", str(inventory))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


def test_status_shows_every_node_ready_on_the_mesh(cluster):
    done = cluster.hf("cluster", "status", "-i", str(cluster.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.splitlines()[-1])["cluster"]
    nodes = {n["name"]: n for n in found["nodes"]}
    assert set(nodes) == {"lab-1", "lab-2", "lab-3"} and found["missing"] == []
    assert all(n["ready"] and n["version"] == "v1.31.4+k3s1" for n in nodes.values())
    assert "control-plane" in nodes["lab-2"]["roles"] and nodes["lab-3"]["roles"] == ["agent"]
    assert all(n["address"].startswith("10.77.") for n in nodes.values())  # node-ip on the mesh


def test_kubeconfig_is_private_and_points_at_the_endpoint(cluster, tmp_path):
    target = tmp_path / "kube" / "lab.yaml"
    done = cluster.hf(
        "cluster", "kubeconfig", "-i", str(cluster.inventory), "-o", str(target), "--context", "lab"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(target.read_text())
    assert config["current-context"] == "lab"
    assert config["clusters"][0]["cluster"]["server"] == "https://10.254.95.11:6443"
    assert config["contexts"][0]["context"] == {"cluster": "lab", "user": "lab"}


def test_the_token_stays_on_the_nodes(cluster):
    token = cluster.podman(
        "exec", f"{NAME}-1", "cat", "/etc/rancher/k3s/cluster-token"
    ).stdout.strip()
    assert len(token) == 64
    for index in (2, 3):
        copy = cluster.podman(
            "exec", f"{NAME}-{index}", "stat", "-c", "%a %U", "/etc/rancher/k3s/cluster-token"
        )
        assert copy.stdout.strip() == "600 root"
    stored = [p.read_text(errors="replace") for p in cluster.state.rglob("*") if p.is_file()]
    assert stored and not any(token in text for text in stored)  # runs, facts, artifacts


def test_a_second_converge_and_check_mode_change_nothing(cluster):
    for extra in ((), ("--check", "--diff")):
        done = cluster.hf("apply", "site", "-i", str(cluster.inventory), "--json", *extra)
        summary = json.loads(done.stdout.splitlines()[-1])["summary"]
        assert done.returncode == 0, summary
        assert all(h["changed"] == 0 for h in summary["hosts"].values()), (extra, summary)
