"""EKS Hybrid Nodes on a lab host named by its address (k3s-ansible's inventory style: no
ansible_host), against the nodeadm STAND-IN (tests/standins/nodeadm): `apply site` joins
with one SSM registration, a second converge changes nothing and keeps it, `apply reset`
deregisters and removes the role's files, and a new join registers under a new name.
No AWS is involved: these are the role's and nodeadm's contract, not a hybrid node."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import start_lab

NAME = "hf-eks"
SUBNET = "10.254.97.0/24"
ADDRESS = "10.254.97.11"
NODEADM = Path(__file__).resolve().parents[2] / "tests" / "standins" / "nodeadm"
ACTIVATION = {
    "id": "7c0ffee0-1ab0-4c0d-8e11-00000000a001",
    "code": "lab-activation-code-0001",
    "region": "eu-west-1",
}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 1, SUBNET)
    lab = yaml.safe_load(env.inventory.read_text())
    assert lab["all"]["hosts"]["lab-1"]["ansible_host"] == ADDRESS
    artifacts = env.state / "nodeadm"
    artifacts.mkdir()
    shutil.copy(NODEADM, artifacts / "nodeadm")
    inventory = {
        "all": {
            "vars": lab["all"]["vars"],
            "hosts": {ADDRESS: None},  # named by its address, no ansible_host
            "children": {
                "eks": {
                    "hosts": {ADDRESS: None},
                    "vars": {
                        "eks_node_cluster_name": "ml-hybrid",
                        "eks_node_region": ACTIVATION["region"],
                        "eks_node_ssm_activation_id": ACTIVATION["id"],
                        "eks_node_ssm_activation_code": ACTIVATION["code"],
                        "eks_node_api_endpoint": "https://ABC123.gr7.eu-west-1.eks.amazonaws.com",
                        "eks_node_certificate_authority": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
                        "eks_node_artifacts_dir": str(artifacts),
                        "eks_node_nodeadm_sha256": hashlib.sha256(NODEADM.read_bytes()).hexdigest(),
                    },
                }
            },
        }
    }
    env.inventory = env.state / "eks.yml"
    env.inventory.write_text(yaml.safe_dump(inventory))
    known = {ACTIVATION["id"]: {"code": ACTIVATION["code"], "region": ACTIVATION["region"]}}
    env.podman("exec", f"{NAME}-1", "mkdir", "-p", "/etc/homeforge-standin")
    env.podman(
        "exec",
        f"{NAME}-1",
        "sh",
        "-c",
        f"umask 077; echo '{json.dumps(known)}' > /etc/homeforge-standin/ssm-activations.json",
    )
    yield env
    env.hf("lab", "down", "--name", NAME)


def _registration(env) -> str:
    done = env.podman("exec", f"{NAME}-1", "cat", "/var/lib/amazon/ssm/registration")
    return json.loads(done.stdout)["ManagedInstanceID"] if done.returncode == 0 else ""


def _summary(env, *args: str) -> dict:
    done = env.hf(*args, "-i", str(env.inventory), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]


def test_a_host_named_by_its_address_joins_once(node):
    assert _summary(node, "apply", "site")[ADDRESS]["changed"] > 0
    first = _registration(node)
    assert first.startswith("mi-")
    assert node.podman("exec", f"{NAME}-1", "hostname").stdout.strip() == "lab-1"  # kept its name
    config = node.podman(
        "exec", f"{NAME}-1", "stat", "-c", "%a %U", "/etc/homeforge/eks/nodeconfig.yaml"
    )
    assert config.stdout.strip() == "600 root"
    assert _summary(node, "apply", "site", "--full")[ADDRESS]["changed"] == 0
    assert _registration(node) == first  # a re-run does not register the node again
    stored = [
        p.read_text(errors="replace")
        for p in node.state.rglob("*")
        if p.is_file() and p.suffix != ".yml"
    ]
    assert not any(ACTIVATION["code"] in text for text in stored)  # runs, facts, artifacts


def test_reset_deregisters_and_a_new_join_gets_a_new_name(node):
    first = _registration(node)
    assert _summary(node, "apply", "reset")[ADDRESS]["changed"] > 0
    assert _registration(node) == ""
    gone = node.podman("exec", f"{NAME}-1", "ls", "/etc/homeforge/eks", "/usr/local/bin/nodeadm")
    assert gone.returncode != 0
    _summary(node, "apply", "site")
    second = _registration(node)
    assert second.startswith("mi-") and second != first
