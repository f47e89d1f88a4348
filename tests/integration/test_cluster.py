"""K3s on lab hosts through `apply site` (common, the WireGuard mesh, two servers and an
agent joining over the mesh), against K3s STAND-IN releases (an airgap directory of
releases): the cluster starts at the project's earlier default, v1.31.4+k3s1; then
`homeforge cluster status` and `cluster kubeconfig`, a fourth host joining the running
cluster as an agent, `apply upgrade` to the current minor one minor at a time, `apply
reset` of one node, and the token's whereabouts after all of it; Ollama and the AI
gateway in the cluster (Kubernetes mode), the gateway's keys made on the first server. Results are the roles' and the CLI's behaviour
with stand-in K3s processes (which leave interfaces and iptables chains as K3s does)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from homeforge.lab import cluster as lab_cluster
from tests.integration.conftest import start_lab

NAME = "hf-cluster"
SUBNET = "10.254.95.0/24"
ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "k3s"
NEEDS = Path(__file__).with_name("apps") / "k3s_standin_needs.yml"
APT_REPO = ROOT / "tests" / "standins" / "nvidia-apt-repo"


# The cluster starts at the project's earlier default pin, which users converged with, and
# `apply upgrade` moves it to the current minor through one release of each minor between
# (the airgap directory's: stand-in releases can never match the digests the role pins,
# so those on the way are unpinned patches, checked against the directory's lists).
BASE = "v1.31.4+k3s1"
UPGRADE = lab_cluster.K3S_STANDIN_VERSION  # v1.36.3+k3s1: the stand-in, the pinned minor
PATH = ["v1.32.13+k3s1", "v1.33.14+k3s1", "v1.34.12+k3s1", "v1.35.9+k3s1"]
OLDER = "v1.33.2+k3s1"  # in the directory, but not the newest of its minor: not on the path
SKIP = "v1.38.0+k3s1"  # no v1.37 release in the directory: refused
GATEWAY_IMAGE = "ghcr.io/berriai/litellm:v1.108.7@sha256:" + "5e" * 32
# lab-3 is a GPU node with two STAND-IN GPUs (a fake sysfs tree and the nvidia-smi stand-in
# that the stand-in driver package installs; tests/standins/nvidia-apt-repo)
GPU_HOST = {
    "standin_gpus": [
        {
            "name": "NVIDIA GeForce RTX 3090",
            "memory_total_mib": 24576,
            "pci_bus_id": "0000:01:00.0",
        },
        {
            "name": "NVIDIA GeForce RTX 3090",
            "memory_total_mib": 24576,
            "pci_bus_id": "0000:02:00.0",
        },
    ],
}


def stand_in_releases(env) -> Path:
    """The airgap directory: one stand-in release per version, in a directory named by it."""
    out = env.state / "k3s-releases"
    for version in [BASE, *PATH, OLDER, UPGRADE]:
        if not (out / version).is_dir():  # built once: the same release for every converge
            release = ["release", "--out", str(out / version), "--version", version]
            subprocess.run(
                [sys.executable, str(STANDIN), *release],
                check=True,
                capture_output=True,
            )
    return out


def write_inventory(env, agents: list[str], version: str = BASE) -> None:
    groups = {
        "k3s_cluster": {
            "children": {
                "server": {"hosts": {"lab-1": None, "lab-2": None}},
                "agent": {"hosts": {a: GPU_HOST if a == "lab-3" else None for a in agents}},
            }
        }
    }
    (env.inventory / "groups.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (env.inventory / "group_vars" / "k3s_cluster.yml").write_text(
        yaml.safe_dump(
            {
                "k3s_version": version,
                "k3s_artifacts_dir": str(stand_in_releases(env)),
                "k3s_server_config": {"cluster-cidr": "10.42.0.0/16"},
                "nvidia_driver_apt_repository": "deb [trusted=yes] file:/srv/standin-apt ./",
                "nvidia_container_toolkit_apt_repository": "deb [trusted=yes] file:/srv/standin-apt ./",
                "nvidia_container_toolkit_apt_key_url": "",
                "nvidia_sysfs_root": "/srv/standin-sys",
                "ollama_mode": "kubernetes",
                "ollama_k8s_gpus": 1,
                "ollama_models": ["llama3.2:1b"],
                # the AI gateway in the cluster too, in front of Ollama's Service (the
                # stand-in pulls no image: the digest is well formed, not a real one)
                "ai_gateway_mode": "kubernetes",
                "ai_gateway_k8s_image": GATEWAY_IMAGE,
                "ai_gateway_consumers": [
                    {"name": "app", "models": ["llama3.2:1b"], "rpm": 60, "tpm": 10000}
                ],
            }
        )
    )


def needs(env):
    """The stand-ins' needs on the hosts, the stand-in NVIDIA packages built once."""
    repo = env.state / "standin-apt"
    if not repo.is_dir():
        subprocess.run(
            [sys.executable, str(APT_REPO), "--out", str(repo)], check=True, capture_output=True
        )
    return env.hf("apply", str(NEEDS), "-i", str(env.inventory), "-e", f"standin_apt_dir={repo}/")


def summary(env, *args: str) -> dict:
    done = env.hf(*args, "-i", str(env.inventory), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]


def status(env) -> dict:
    done = env.hf("cluster", "status", "-i", str(env.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])["cluster"]


def on(env, host: str, *argv: str) -> str:
    return env.podman("exec", f"{NAME}-{host.split('-')[1]}", *argv).stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 4, SUBNET)
    inventory = env.state / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    shutil.copy(env.inventory, inventory / "inventory.yml")
    env.inventory = inventory
    write_inventory(env, ["lab-3"])
    done = needs(env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # check mode on hosts that have nothing yet: it predicts, it does not fail
    check = env.hf("apply", "site", "-i", str(inventory), "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    assert needs(env).returncode == 0
    done = env.hf("apply", "site", "-i", str(inventory))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


def test_status_shows_every_node_ready_on_the_mesh(cluster):
    found = status(cluster)
    nodes = {n["name"]: n for n in found["nodes"]}
    assert set(nodes) == {"lab-1", "lab-2", "lab-3"} and found["missing"] == []
    assert all(n["ready"] and n["version"] == BASE for n in nodes.values())
    assert "control-plane" in nodes["lab-2"]["roles"] and nodes["lab-3"]["roles"] == ["agent"]
    assert all(n["address"].startswith("10.77.") for n in nodes.values())  # node-ip on the mesh
    # the device plugin's chart with the nvidia runtime and the label: lab-3's GPUs allocatable
    assert {name: n["gpus"] for name, n in nodes.items()} == {
        "lab-1": "0",
        "lab-2": "0",
        "lab-3": "2",
    }


def test_ollama_goes_into_the_cluster_as_a_private_helmchart(cluster):
    """Kubernetes mode: what the role hands K3s's helm-controller (the stand-in runs no chart)."""
    manifest = "/var/lib/rancher/k3s/server/manifests/homeforge-ollama.yaml"
    assert on(cluster, "lab-1", "stat", "-c", "%a %U", manifest).strip() == "600 root"
    assert (
        on(cluster, "lab-2", "sh", "-c", f"test -e {manifest} || echo absent").strip() == "absent"
    )
    objects = [o for o in yaml.safe_load_all(on(cluster, "lab-1", "cat", manifest)) if o]
    assert [o["kind"] for o in objects] == ["Namespace", "HelmChart"]
    values = yaml.safe_load(objects[1]["spec"]["valuesContent"])
    assert values["persistentVolume"]["enabled"] and values["runtimeClassName"] == "nvidia"
    assert values["ollama"]["models"]["pull"] == ["llama3.2:1b"]


def _object(env, kind: str, name: str, namespace: str = "homeforge-gateway") -> dict:
    return json.loads(
        on(env, "lab-1", "k3s", "kubectl", "get", kind, name, "-n", namespace, "-o", "json")
    )


def test_the_gateway_goes_into_the_cluster_and_its_keys_are_made_on_the_first_server(cluster):
    """Kubernetes mode: the gateway's objects as K3s applied them (the stand-in runs no pod),
    its master key made on lab-1 and never on the controller, and a consumer key issued
    there landing in the keys' Secret as its SHA-256 only."""
    manifests = "/var/lib/rancher/k3s/server/manifests/"
    for name in (
        "homeforge-gateway.yaml",
        "homeforge-gateway-keys.yaml",
        "homeforge-gateway-master-key.yaml",
    ):
        assert on(cluster, "lab-1", "stat", "-c", "%a %U", manifests + name).strip() == "600 root"
    deployment = _object(cluster, "deployment", "ai-gateway")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == GATEWAY_IMAGE
    config = yaml.safe_load(_object(cluster, "configmap", "ai-gateway")["data"]["config.yaml"])
    bases = {m["litellm_params"]["api_base"] for m in config["model_list"]}
    assert bases == {"http://ollama.ml.svc.cluster.local:11434"}
    assert _object(cluster, "service", "ai-gateway")["spec"]["ports"][0]["port"] == 4000
    policy = _object(cluster, "networkpolicy", "ai-gateway-ingress-only")["spec"]
    assert policy["ingress"] == []  # no ingress in this cluster: nothing but the node
    assert {"kubernetes.io/metadata.name": "ml"} in [
        peer["namespaceSelector"]["matchLabels"] for rule in policy["egress"] for peer in rule["to"]
    ]
    master = _object(cluster, "secret", "ai-gateway-master-key")
    master_key = base64.b64decode(master["data"]["LITELLM_MASTER_KEY"]).decode()
    done = cluster.hf("gateway", "keys", "issue", "app", "-i", str(cluster.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    issued = json.loads(done.stdout.splitlines()[-1])
    key = issued["key"]["key"]
    assert issued["key"]["host"] == "lab-1"
    # K3s applies the changed manifest (the stand-in, at its next look: a kubectl call)
    stored = json.loads(
        base64.b64decode(_object(cluster, "secret", "ai-gateway-keys")["data"]["keys.json"])
    )
    assert stored["keys"]["app"]["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    listed = cluster.hf("gateway", "keys", "list", "-i", str(cluster.inventory))
    assert listed.returncode == 0 and "app" in listed.stdout and key not in listed.stdout
    # usage is read in the pod (kubectl exec), which the stand-in does not run: one line
    usage = cluster.hf("gateway", "usage", "-i", str(cluster.inventory))
    said = usage.stdout + usage.stderr
    assert usage.returncode != 0 and "exec -n homeforge-gateway deploy/ai-gateway" in said
    assert "unsupported by the stand-in" in said
    stored_here = [p.read_text(errors="replace") for p in cluster.state.rglob("*") if p.is_file()]
    assert not any(master_key in text or key in text for text in stored_here)


def test_check_mode_before_the_gateway_reaches_a_running_server_passes_and_writes_nothing(
    cluster,
):
    """K3s runs on lab-1 but the gateway's directory there is not made yet: --check predicts
    and changes nothing; the next apply makes it again."""
    gone = ["sh", "-c", "test -e /etc/homeforge-gateway || echo absent"]
    on(cluster, "lab-1", "rm", "-r", "/etc/homeforge-gateway")
    check = cluster.hf(
        "apply",
        "site",
        "-i",
        str(cluster.inventory),
        "--limit",
        "lab-1",
        "--check",
        "--diff",
        "--full",
    )
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    assert on(cluster, "lab-1", *gone).strip() == "absent"
    done = cluster.hf("apply", "site", "-i", str(cluster.inventory), "--limit", "lab-1", "--full")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert on(cluster, "lab-1", *gone).strip() == ""
    listed = cluster.hf("gateway", "keys", "list", "-i", str(cluster.inventory))
    assert listed.returncode == 0 and "app" in listed.stdout  # the Secret kept its key


def test_every_role_suite_passes_on_every_node(cluster):
    done = cluster.hf("verify", "-i", str(cluster.inventory))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert "nvidia_device_plugin" in done.stdout
    assert "against stand-ins" in done.stdout


def test_verify_marks_the_checks_whose_subject_is_a_stand_in(cluster):
    """K3s and nvidia-smi (on the GPU node) are stand-ins in the lab: their roles'
    checks say so in the JSON and the JUnit; the real parts (common, WireGuard) do not."""
    junit = cluster.state / "verify-junit"
    rc, lines = cluster.hf_json("verify", "-i", str(cluster.inventory), "--junit", str(junit))
    assert rc == 0
    checks = [c for host in lines[-1]["hosts"] for c in host["checks"]]
    by_role: dict[str, set[str]] = {}
    for check in checks:
        by_role.setdefault(check["role"], set()).add(check["subject"])
    assert by_role["k3s_server"] == {"stand-in: K3s"}
    assert "stand-in: nvidia-smi" in by_role["nvidia_driver"]  # the GPU node's
    assert by_role["common"] == {""} and by_role["wireguard"] == {""}
    assert {c["shown"] for c in checks if c["subject"]} == {"passed (stand-in)"}
    merged = (junit / "junit.xml").read_text()
    assert 'name="subject" value="stand-in: K3s"' in merged


def test_a_host_that_must_have_a_gpu_and_has_none_stops_with_one_line(cluster):
    done = cluster.hf(
        "apply",
        "site",
        "-i",
        str(cluster.inventory),
        "--limit",
        "lab-1",
        "-e",
        "nvidia_driver_required=true",
    )
    assert done.returncode != 0
    assert (
        "lab-1: failed: The host's NVIDIA GPUs (PCI vendor 10de): no NVIDIA GPU (PCI vendor 10de) found"
        in done.stdout
    )


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


def test_an_agent_joins_the_running_cluster_and_nothing_else_changes(cluster):
    write_inventory(cluster, ["lab-3", "lab-4"])
    assert needs(cluster).returncode == 0  # the stand-in's YAML parser on lab-4
    done = cluster.hf("apply", "site", "-i", str(cluster.inventory), "--json")
    journal = on(cluster, "lab-4", "journalctl", "-u", "k3s-agent", "--no-pager", "-n", "30")
    assert done.returncode == 0, done.stdout[-2000:] + journal
    hosts = json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]
    assert hosts["lab-4"]["changed"] > 0
    assert [h for h, s in hosts.items() if s["changed"] and h != "lab-4"] == [], hosts
    found = status(cluster)
    nodes = {n["name"]: n for n in found["nodes"]}
    assert set(nodes) == {"lab-1", "lab-2", "lab-3", "lab-4"} and found["missing"] == []
    assert nodes["lab-4"]["ready"] and nodes["lab-4"]["address"].startswith("10.77.")


def test_an_upgrade_that_skips_a_minor_is_refused_before_any_node_changes(cluster):
    write_inventory(cluster, ["lab-3", "lab-4"], SKIP)
    done = cluster.hf("apply", "upgrade", "-i", str(cluster.inventory))
    assert done.returncode != 0
    assert f"k3s: lab-1 runs {BASE}; {SKIP} skips minor versions" in done.stdout + done.stderr
    assert f"{stand_in_releases(cluster)} holds none for v1.37" in done.stdout + done.stderr
    assert {n["version"] for n in status(cluster)["nodes"]} == {BASE}
    for host in ("lab-1", "lab-4"):
        assert on(cluster, host, "readlink", "/usr/local/bin/k3s").strip().endswith(f"/{BASE}/k3s")


UNITS = {"lab-1": "k3s", "lab-2": "k3s", "lab-3": "k3s-agent"}  # both servers, the GPU agent


def started_versions(env, host: str, since: str) -> list[str]:
    """The releases the node's K3s started as since ``since`` (seconds since the epoch,
    the node's clock), in order, each once (a restart on the same release is not a step):
    from the line K3s logs at start."""
    log = on(
        env,
        host,
        "journalctl",
        "-u",
        UNITS[host],
        "--since",
        f"@{since}",
        "--no-pager",
        "-o",
        "cat",
    )
    started = [
        line.rsplit(" ", 1)[-1].strip('"') for line in log.splitlines() if " is up as " in line
    ]
    return [v for i, v in enumerate(started) if i == 0 or started[i - 1] != v]


def test_upgrade_from_the_earlier_default_goes_one_minor_at_a_time_to_the_current(cluster):
    write_inventory(cluster, ["lab-3", "lab-4"], UPGRADE)
    plan = cluster.hf("apply", "upgrade", "--check", "-i", str(cluster.inventory))
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
    path = " -> ".join([BASE, *PATH, UPGRADE])
    for host in ("lab-1", "lab-2", "lab-3", "lab-4"):
        assert f"{host}: {path} (upgrade)" in plan.stdout, plan.stdout[-3000:]
    assert {n["version"] for n in status(cluster)["nodes"]} == {BASE}  # --check moved none
    since = {host: on(cluster, host, "date", "+%s").strip() for host in UNITS}
    done = cluster.hf("apply", "upgrade", "-i", str(cluster.inventory), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    hosts = json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]
    assert all(h["changed"] > 0 for h in hosts.values()), hosts
    # each node ran every release of the path, in order (what K3s logs as it starts)
    for host, started in since.items():
        assert started_versions(cluster, host, started) == [*PATH, UPGRADE], host
    nodes = status(cluster)["nodes"]
    assert {n["version"] for n in nodes} == {UPGRADE} and all(n["ready"] for n in nodes)
    assert {n["name"]: n["gpus"] for n in nodes}["lab-3"] == "2"  # labels survive the restarts
    # airgap images replaced, not accumulated: the directory holds this release's only
    listed = (stand_in_releases(cluster) / UPGRADE / "sha256sum-amd64.txt").read_text()
    for host in ("lab-1", "lab-4"):
        images = on(cluster, host, "ls", "-A", "/var/lib/rancher/k3s/agent/images").split()
        assert [i for i in images if not i.startswith(".")] == ["k3s-airgap-images-amd64.tar.gz"]
        digest = on(
            cluster,
            host,
            "sha256sum",
            "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.gz",
        ).split()[0]
        assert f"{digest}  k3s-airgap-images-amd64.tar.gz" in listed
        assert (
            on(cluster, host, "readlink", "/usr/local/bin/k3s").strip().endswith(f"/{UPGRADE}/k3s")
        )
    again = summary(cluster, "apply", "upgrade")
    assert all(h["changed"] == 0 for h in again.values()), again


K3S_PATHS = [
    "/etc/rancher/k3s",
    "/var/lib/rancher/k3s",
    "/var/lib/kubelet",
    "/run/k3s",
    "/run/flannel",
    "/var/lib/cni",
    "/usr/local/bin/k3s",
    "/usr/local/lib/k3s",
    "/etc/systemd/system/k3s-agent.service",
]


def kernel_leftovers(env, host: str) -> dict:
    links = json.loads(on(env, host, "ip", "-j", "link", "show") or "[]")
    rules = on(env, host, "iptables-save") + on(env, host, "ip6tables-save")
    return {
        "interfaces": sorted(i["ifname"] for i in links if i["ifname"] in ("cni0", "flannel.1")),
        "rules": [
            r
            for r in rules.splitlines()
            if any(k in r.lower() for k in ("kube-", "cni-", "flannel"))
        ],
        "paths": [
            p for p in K3S_PATHS if on(env, host, "sh", "-c", f"test -e {p} && echo yes").strip()
        ],
    }


def test_reset_drains_deletes_and_leaves_nothing_of_k3s_behind(cluster):
    before = kernel_leftovers(cluster, "lab-4")
    # what a running K3s leaves (the stand-in makes them as flannel does): the test needs them
    assert before["interfaces"] == ["cni0", "flannel.1"] and before["rules"] and before["paths"]
    own_rules = [r for r in on(cluster, "lab-4", "iptables-save").splitlines() if "homeforge" in r]
    assert own_rules  # the WireGuard role's port rule: a reset must keep it
    hosts = summary(cluster, "apply", "reset", "--limit", "lab-4")
    assert hosts["lab-4"]["changed"] > 0
    assert kernel_leftovers(cluster, "lab-4") == {"interfaces": [], "rules": [], "paths": []}
    assert [
        r for r in on(cluster, "lab-4", "iptables-save").splitlines() if "homeforge" in r
    ] == own_rules
    done = cluster.hf("cluster", "status", "-i", str(cluster.inventory), "--json")
    found = json.loads(done.stdout.splitlines()[-1])["cluster"]
    assert done.returncode == 1 and found["missing"] == ["lab-4"]  # still in the inventory
    assert "lab-4" not in {n["name"] for n in found["nodes"]}  # the Node object is gone too
    assert all(n["ready"] for n in found["nodes"])  # the rest of the cluster carries on
    assert summary(cluster, "apply", "reset", "--limit", "lab-4")["lab-4"]["changed"] == 0
    write_inventory(cluster, ["lab-3"], UPGRADE)


def test_a_lost_token_file_on_the_first_server_is_taken_back_from_the_cluster(cluster):
    """Made anew, the token would be refused by the cluster's datastore (as K3s refuses
    it) and lock every node out: the role takes back the one K3s keeps."""
    kept = on(cluster, "lab-1", "cat", "/var/lib/rancher/k3s/server/token").strip()
    assert on(cluster, "lab-1", "rm", "/etc/rancher/k3s/cluster-token") == ""
    summary(cluster, "apply", "site")  # lab-1 drifted (its token file): converged
    restored = on(cluster, "lab-1", "cat", "/etc/rancher/k3s/cluster-token").strip()
    assert kept.startswith("K10") and restored == kept.rsplit(":", 1)[1]
    assert status(cluster)["missing"] == [] and all(n["ready"] for n in status(cluster)["nodes"])
    # that nothing else changes: the second converge, the next test


def test_a_second_converge_and_check_mode_change_nothing(cluster):
    """On the cluster as the tests above left it (joined, upgraded, an agent reset,
    a token file taken back): --full, so the roles run again (the fast path would leave
    every node out)."""
    for extra in (("--full",), ("--check", "--diff", "--full")):
        hosts = summary(cluster, "apply", "site", *extra)
        assert all(h["changed"] == 0 for h in hosts.values()), (extra, hosts)


def test_the_token_stays_on_the_nodes(cluster):
    token = cluster.podman(
        "exec", f"{NAME}-1", "cat", "/etc/rancher/k3s/cluster-token"
    ).stdout.strip()
    assert len(token) == 64
    for index in (2, 3):  # a server and an agent
        copy = cluster.podman(
            "exec", f"{NAME}-{index}", "stat", "-c", "%a %U", "/etc/rancher/k3s/cluster-token"
        )
        assert copy.stdout.strip() == "600 root"
    stored = [p.read_text(errors="replace") for p in cluster.state.rglob("*") if p.is_file()]
    assert stored and not any(token in text for text in stored)  # runs, facts, artifacts
