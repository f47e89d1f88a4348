"""The real path for K3s and the GPU: the same roles and commands against a real K3s
release, and the GPU facts module against a real NVIDIA GPU, when they are provided (our
build machines have neither).

    HOMEFORGE_K3S_ARTIFACTS=/path/with/k3s+sha256sum-amd64.txt+k3s-airgap-images-amd64.tar.gz \\
    HOMEFORGE_K3S_VERSION=v1.31.4+k3s1  make real

brings up two privileged lab hosts, converges `site` (a server and an agent from the
airgap artifacts), checks both nodes Ready at the real version through `homeforge cluster
status`, a second converge changes nothing, and `apply reset` of the agent leaves no K3s
interface, iptables chain or directory behind.

    HOMEFORGE_REAL_GPU=1 make real      # on a host with an NVIDIA GPU and its driver

runs `nvidia_gpu_facts` on this machine and compares it with nvidia-smi's own listing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

K3S_ARTIFACTS = os.environ.get("HOMEFORGE_K3S_ARTIFACTS", "")
K3S_VERSION = os.environ.get("HOMEFORGE_K3S_VERSION", "")
REAL_GPU = os.environ.get("HOMEFORGE_REAL_GPU", "") == "1"
NAME = "hf-k3s-real"

pytestmark = pytest.mark.real


@pytest.mark.skipif(
    not (K3S_ARTIFACTS and K3S_VERSION),
    reason="real K3s: set HOMEFORGE_K3S_ARTIFACTS and HOMEFORGE_K3S_VERSION",
)
def test_a_real_k3s_server_and_agent_come_up_and_reset_clean(tmp_path_factory):
    from tests.integration.conftest import LabEnv

    state = tmp_path_factory.mktemp("k3s-real")
    env = LabEnv(state, state / "lab" / NAME / "inventory.yml")
    env.hf("lab", "down", "--name", NAME)
    up = env.hf(
        "lab", "up", "--nodes", "2", "--name", NAME, "--privileged", "--subnet", "10.254.99.0/24"
    )
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        inventory = state / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        shutil.copy(env.inventory, inventory / "inventory.yml")
        groups = {
            "k3s_cluster": {
                "children": {
                    "server": {"hosts": {"lab-1": None}},
                    "agent": {"hosts": {"lab-2": None}},
                }
            }
        }
        (inventory / "groups.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
        (inventory / "group_vars" / "k3s_cluster.yml").write_text(
            yaml.safe_dump({"k3s_version": K3S_VERSION, "k3s_artifacts_dir": K3S_ARTIFACTS})
        )
        for _ in range(2):
            done = env.hf("apply", "site", "-i", str(inventory), "--json")
            assert done.returncode == 0, done.stdout[-3000:]
        summary = json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]
        assert all(h["changed"] == 0 for h in summary.values()), summary
        status = env.hf("cluster", "status", "-i", str(inventory), "--json")
        nodes = json.loads(status.stdout.splitlines()[-1])["cluster"]["nodes"]
        assert {n["name"] for n in nodes} == {"lab-1", "lab-2"}
        assert all(n["ready"] and n["version"] == K3S_VERSION for n in nodes)
        reset = env.hf("apply", "reset", "-i", str(inventory), "--limit", "lab-2")
        assert reset.returncode == 0, reset.stdout[-3000:]
        links = env.podman("exec", f"{NAME}-2", "ip", "-o", "link").stdout
        assert "cni0" not in links and "flannel" not in links
        rules = env.podman("exec", f"{NAME}-2", "iptables-save").stdout
        assert "KUBE-" not in rules and "CNI-" not in rules and "flannel" not in rules.lower()
        left = env.podman("exec", f"{NAME}-2", "ls", "/var/lib/rancher/k3s", "/etc/rancher/k3s")
        assert left.returncode != 0
    finally:
        env.hf("lab", "down", "--name", NAME)


@pytest.mark.skipif(not REAL_GPU, reason="real GPU: set HOMEFORGE_REAL_GPU=1 on a host with one")
def test_the_gpu_facts_match_nvidia_smi_on_a_real_gpu(run_module):
    listed = subprocess.run(
        [
            "nvidia-smi",
            "--query-gpu=index,name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [[c.strip() for c in line.split(",")] for line in listed.splitlines() if line.strip()]
    facts = run_module("nvidia_gpu_facts", {})["ansible_facts"]
    assert facts["nvidia_driver_loaded"] and facts["nvidia_cuda_version"]
    assert [
        (g["name"], str(g["memory_total_mib"]), g["driver_version"]) for g in facts["nvidia_gpus"]
    ] == [(r[1], r[2], r[3]) for r in rows]
    assert len(facts["nvidia_pci_devices"]) == len(rows)
    assert Path("/proc/driver/nvidia/version").exists()
