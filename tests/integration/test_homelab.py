"""The storage and ingress layer on `homeforge lab up --cluster` (what `make demo` runs):
lab-1 is a K3s server and the cluster's NFS server (NFS-Ganesha, for real), lab-2 and
lab-3 agents, the Traefik ingress layer with a homelab CA. NFS is exercised for real
across hosts over the WireGuard mesh; the Kubernetes side runs against the K3s STAND-IN,
which lists what K3s would apply and runs no controller."""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest
import yaml

from tests.integration.conftest import start_lab

NAME = "hf-storage"
SUBNET = "10.254.94.0/24"


def on(env, host: str, *argv: str) -> subprocess.CompletedProcess:
    return env.podman("exec", f"{NAME}-{host.split('-')[1]}", *argv)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 3, SUBNET, "--cluster")
    # check mode on hosts that have nothing yet: it predicts, it does not fail
    check = env.hf("apply", "site", "-i", str(env.inventory), "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    done = env.hf("apply", "site", "-i", str(env.inventory))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # the clients' user-space NFS tools (containers have no kernel NFS client): test setup
    for host in ("lab-2", "lab-3"):
        installed = on(env, host, "apt-get", "install", "-y", "-q", "libnfs-utils")
        assert installed.returncode == 0, installed.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


def _mesh_address(env, host: str) -> str:
    out = on(env, host, "ip", "-4", "-o", "addr", "show", "wg0").stdout
    return out.split()[3].split("/")[0]


# --full: the roles run again (the fast path would leave every host out)
@pytest.mark.parametrize(
    "mode", [("--full",), ("--check", "--diff", "--full")], ids=["converge", "check"]
)
def test_a_second_converge_and_check_mode_change_nothing(lab, mode):
    done = lab.hf("apply", "site", "-i", str(lab.inventory), *mode, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    hosts = json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]
    assert {name: h["changed"] for name, h in hosts.items()} == {"lab-1": 0, "lab-2": 0, "lab-3": 0}


def test_a_file_written_through_nfs_over_the_mesh_on_one_host_is_read_on_another(lab):
    server = _mesh_address(lab, "lab-1")
    name = f"written-by-lab-2-{secrets.token_hex(6)}"
    url = f"nfs://{server}/k8s/{name}?version=4"
    text = f"models live here {secrets.token_hex(8)}"
    assert on(lab, "lab-2", "sh", "-c", f"printf '%s' '{text}' > /tmp/{name}").returncode == 0
    copied = on(lab, "lab-2", "nfs-cp", f"/tmp/{name}", url)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    read = on(lab, "lab-3", "nfs-cat", url)
    assert read.returncode == 0 and read.stdout == text, read.stderr
    # on the server's disk, in the export's directory (a volume, not the overlay root)
    assert on(lab, "lab-1", "cat", f"/srv/nfs/k8s/{name}").stdout == text


def test_the_export_is_for_the_mesh_only_by_default(lab):
    """nfs_server_clients defaults to the mesh CIDR: the same export asked for through
    lab-1's LAN address (the podman network) is refused."""
    lan = on(lab, "lab-1", "hostname", "-I").stdout.split()
    lan_address = next(a for a in lan if a.startswith("10.254.94."))
    refused = on(lab, "lab-2", "nfs-ls", f"nfs://{lan_address}/k8s?version=4")
    assert refused.returncode != 0
    assert (
        on(lab, "lab-2", "nfs-ls", f"nfs://{_mesh_address(lab, 'lab-1')}/k8s?version=4").returncode
        == 0
    )


def test_every_role_suite_passes(lab):
    done = lab.hf("verify", "-i", str(lab.inventory))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    for role in ("nfs_server", "nfs_provisioner", "ingress_traefik"):
        assert role in done.stdout


def test_cluster_status_shows_the_default_class_and_the_https_endpoint(lab):
    done = lab.hf("cluster", "status", "-i", str(lab.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.splitlines()[-1])["cluster"]
    classes = {c["name"]: c for c in found["storage_classes"]}
    assert classes["nfs"]["default"] and classes["nfs"]["provisioner"] == "nfs.csi.k8s.io"
    assert not classes["local-path"]["default"]  # one default class
    # the AI gateway is published (a key per consumer), Ollama's own API is not
    [gateway] = [e for e in found["endpoints"] if "ai.lab.internal" in e["hosts"]]
    assert gateway["kind"] == "IngressRoute" and gateway["issuer"].startswith("ClusterIssuer/")
    assert gateway["expires"] == ""  # the stand-in issues no certificate: shown as not issued yet
    assert not [e for e in found["endpoints"] if "ollama" in " ".join(e["hosts"])]
    mesh = _mesh_address(lab, "lab-1")
    slices = on(
        lab, "lab-1", "cat", "/var/lib/rancher/k3s/server/manifests/homeforge-ingress-routes.yaml"
    )
    routed = [d for d in yaml.safe_load_all(slices.stdout) if d and d["kind"] == "EndpointSlice"]
    assert [s["endpoints"][0]["addresses"] for s in routed] == [
        [mesh]
    ]  # the gateway host's mesh address
    table = lab.hf("cluster", "status", "-i", str(lab.inventory))
    assert "Storage classes" in table.stdout and "not issued yet" in table.stdout


def test_the_homelab_ca_is_on_the_controller_and_its_key_is_not(lab):
    exported = list(lab.inventory.parent.glob(".homeforge/ingress-ca.crt"))
    assert len(exported) == 1
    text = subprocess.run(
        ["openssl", "x509", "-in", str(exported[0]), "-noout", "-text"],
        capture_output=True,
        text=True,
    ).stdout
    assert "CA:TRUE" in text
    key = on(lab, "lab-1", "cat", "/etc/homeforge/ingress-ca/ca.key").stdout
    assert "PRIVATE KEY" in key
    assert (
        on(lab, "lab-1", "stat", "-c", "%a", "/etc/homeforge/ingress-ca/ca.key").stdout.strip()
        == "600"
    )
    body = max(key.splitlines(), key=len)  # the key's longest base64 line
    leaked = [
        p for p in lab.state.rglob("*") if p.is_file() and body in p.read_text(errors="ignore")
    ]
    assert leaked == []  # not in runs, artifacts, facts or logs on the controller
