"""homeforge cluster: node rows from a NodeList and the kubeconfig rewrite (no cluster needed)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from homeforge import cluster
from homeforge.cli import main
from homeforge.errors import HomeforgeError

K3S_KUBECONFIG = """
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
"""


def test_kubeconfig_gets_the_endpoint_and_its_own_names_and_keeps_the_credentials():
    out = yaml.safe_load(cluster.rewrite_kubeconfig(K3S_KUBECONFIG, "https://10.0.0.5:6443", "lab"))
    assert out["clusters"][0] == {
        "cluster": {"certificate-authority-data": "Q0E=", "server": "https://10.0.0.5:6443"},
        "name": "lab",
    }
    assert out["users"][0]["name"] == "lab" and out["users"][0]["user"]["client-key-data"] == "S0VZ"
    assert out["contexts"][0] == {"context": {"cluster": "lab", "user": "lab"}, "name": "lab"}
    assert out["current-context"] == "lab"
    with pytest.raises(HomeforgeError, match="not the one K3s writes"):
        cluster.rewrite_kubeconfig("kind: Config\n", "https://x:1", "lab")


def test_node_rows_read_roles_readiness_gpus_and_address():
    nodes = {
        "items": [
            {
                "metadata": {
                    "name": "s1",
                    "labels": {
                        "node-role.kubernetes.io/control-plane": "true",
                        "node-role.kubernetes.io/etcd": "true",
                    },
                },
                "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "nodeInfo": {"kubeletVersion": "v1.31.4+k3s1"},
                    "addresses": [
                        {"type": "Hostname", "address": "s1"},
                        {"type": "InternalIP", "address": "10.77.0.2"},
                    ],
                    "allocatable": {"nvidia.com/gpu": "2"},
                },
            },
            {
                "metadata": {"name": "a1", "labels": {}},
                "status": {"conditions": [{"type": "Ready", "status": "False"}]},
            },
        ]
    }
    s1, a1 = cluster.node_rows(nodes)
    assert (s1.roles, s1.ready, s1.gpus, s1.address) == (
        ["control-plane", "etcd"],
        True,
        "2",
        "10.77.0.2",
    )
    assert (a1.roles, a1.ready, a1.gpus) == (["agent"], False, "0")
    assert not cluster.ClusterStatus("s1", [s1, a1]).healthy
    assert not cluster.ClusterStatus("s1", [s1], missing=["a2"]).healthy


def test_status_without_servers_is_bad_input(write):
    path = write("hosts.yml", "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n")
    out = CliRunner().invoke(main, ["cluster", "status", "-i", str(path)])
    assert out.exit_code == 2 and "no host in group server (the K3s servers)" in out.output
