"""homeforge cluster: node rows, storage classes and endpoints (no cluster needed); the
kubeconfig rebuild is in test_cluster_kubeconfig.py."""

from __future__ import annotations

from click.testing import CliRunner

from homeforge import cluster
from homeforge.cli import main


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


def test_storage_rows_put_the_default_class_first():
    classes = [
        {"metadata": {"name": "local-path", "annotations": {cluster.DEFAULT_CLASS: "false"}},
         "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"},
        {"metadata": {"name": "nfs", "annotations": {cluster.DEFAULT_CLASS: "true"}},
         "provisioner": "nfs.csi.k8s.io", "reclaimPolicy": "Retain"},
        {"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com"},
    ]  # fmt: skip
    rows = cluster.storage_rows(classes)
    assert [(r.name, r.default) for r in rows] == [
        ("nfs", True),
        ("gp3", False),
        ("local-path", False),
    ]
    assert (rows[0].reclaim, rows[0].binding) == ("Retain", "Immediate")  # the API's defaults
    assert rows[2].binding == "WaitForFirstConsumer"


def _cert(namespace, secret, issuer, not_after=None, ready=None):
    cert = {
        "metadata": {"name": secret, "namespace": namespace},
        "spec": {"secretName": secret, "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}},
    }
    if not_after:
        cert["status"] = {
            "notAfter": not_after,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
    return cert


def test_endpoints_carry_the_issuer_and_expiry_of_the_certificate_behind_their_secret():
    routes = [
        {"metadata": {"name": "ollama", "namespace": "ml"},
         "spec": {"entryPoints": ["websecure"], "tls": {"secretName": "ollama-tls"},
                  "routes": [{"match": "Host(`ollama.lab`) || Host(`llm.lab`)"}]}},
        {"metadata": {"name": "ollama-http", "namespace": "ml"},  # the redirect: no TLS
         "spec": {"entryPoints": ["web"], "routes": [{"match": "Host(`ollama.lab`)"}]}},
        {"metadata": {"name": "other", "namespace": "apps"},
         "spec": {"tls": {"secretName": "byo"}, "routes": [{"match": "Host(`x.lab`)"}]}},
    ]  # fmt: skip
    gateways = [
        {"metadata": {"name": "gw", "namespace": "istio-ingress"},
         "spec": {"listeners": [
             {"name": "http", "protocol": "HTTP", "port": 80},
             {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "ollama.example.org",
              "tls": {"certificateRefs": [{"name": "gw-tls"}]}}]}},
    ]  # fmt: skip
    certificates = [
        _cert("ml", "ollama-tls", "homeforge-ca", "2027-02-23T10:00:00Z", ready=True),
        _cert("istio-ingress", "gw-tls", "letsencrypt"),
        _cert("other-namespace", "byo", "nope", "2027-01-01T00:00:00Z", ready=True),
    ]
    ollama, other, gateway = cluster.endpoint_rows(routes, gateways, certificates)
    assert ollama.hosts == ["llm.lab", "ollama.lab"] and ollama.secret == "ollama-tls"
    assert (ollama.issuer, ollama.expires, ollama.ready) == (
        "ClusterIssuer/homeforge-ca",
        "2027-02-23T10:00:00Z",
        True,
    )
    assert (other.issuer, other.ready) == (
        "",
        None,
    )  # a Certificate of another namespace does not count
    assert (gateway.kind, gateway.hosts, gateway.secret) == (
        "Gateway",
        ["ollama.example.org"],
        "gw-tls",
    )
    assert (gateway.issuer, gateway.expires, gateway.ready) == (
        "ClusterIssuer/letsencrypt",
        "",
        False,
    )
