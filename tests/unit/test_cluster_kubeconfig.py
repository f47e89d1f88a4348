"""homeforge cluster kubeconfig: the served admin kubeconfig is rebuilt with only the CA,
the admin certificate and key, and homeforge's server and names; anything else a server
serves (a program for kubectl to run, TLS turned off, files, proxies) is refused."""

from __future__ import annotations

import base64
import datetime
import importlib.machinery
import importlib.util
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from homeforge import cluster
from homeforge.cli import main
from homeforge.cluster import admin_kubeconfig
from homeforge.errors import BadInput

SOURCE = "s1 (10.0.0.5): /etc/rancher/k3s/k3s.yaml"
STANDIN = Path(__file__).resolve().parents[2] / "tests" / "standins" / "k3s"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def creds() -> dict:
    """Credentials shaped as K3s writes them: an EC key, a CA certificate, and the admin
    certificate followed by its client CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(name: str, key) -> str:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        built = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return built.public_bytes(serialization.Encoding.PEM).decode()

    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return {
        "ca": _b64(cert("k3s-server-ca", key)),
        "cert": _b64(cert("system:admin", key) + cert("k3s-client-ca", key)),
        "key": _b64(key_pem),
        "key_body": key_pem.splitlines()[1],
    }


def served(creds: dict) -> dict:
    """k3s.yaml as K3s writes it."""
    return {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {
                    "certificate-authority-data": creds["ca"],
                    "server": "https://127.0.0.1:6443",
                },
                "name": "default",
            }
        ],
        "contexts": [{"context": {"cluster": "default", "user": "default"}, "name": "default"}],
        "current-context": "default",
        "kind": "Config",
        "preferences": {},
        "users": [
            {
                "name": "default",
                "user": {"client-certificate-data": creds["cert"], "client-key-data": creds["key"]},
            }
        ],
    }


def test_a_k3s_kubeconfig_becomes_exactly_the_allowed_fields(creds):
    out = yaml.safe_load(
        cluster.rewrite_kubeconfig(yaml.safe_dump(served(creds)), "https://10.0.0.5:6443", "lab")
    )
    assert out == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "lab",
                "cluster": {
                    "server": "https://10.0.0.5:6443",
                    "certificate-authority-data": creds["ca"],
                },
            }
        ],
        "users": [
            {
                "name": "lab",
                "user": {"client-certificate-data": creds["cert"], "client-key-data": creds["key"]},
            }
        ],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
        "current-context": "lab",
        "preferences": {},
    }


def _with(creds: dict, where: str, value) -> dict:
    """The served kubeconfig with ``value`` set at a dotted path (``users.0.user.exec``)."""
    config = served(creds)
    *parents, last = where.split(".")
    node = config
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node.append(value)  # one more entry
    else:
        node[last] = value
    return config


EXEC = {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": ["-c", "id"]}


@pytest.mark.parametrize(
    "where, value, named",
    [
        ("users.0.user.exec", EXEC, "users[0].user.exec: kubectl would run a program"),
        ("users.0.user.auth-provider", {"name": "oidc"}, "users[0].user.auth-provider"),
        ("clusters.0.cluster.insecure-skip-tls-verify", True, "insecure-skip-tls-verify"),
        ("clusters.0.cluster.proxy-url", "http://203.0.113.9:3128", "cluster.proxy-url"),
        ("clusters.0.cluster.tls-server-name", "evil.example", "cluster.tls-server-name"),
        ("clusters.0.cluster.certificate-authority", "/etc/ssl/x.pem", "certificate-authority:"),
        ("users.0.user.client-certificate", "/home/op/.ssh/id", "user.client-certificate:"),
        ("users.0.user.client-key", "/home/op/.ssh/id_ed25519", "user.client-key:"),
        ("users.0.user.tokenFile", "/var/run/token", "user.tokenFile"),
        ("users.0.user.token", "abc", "user.token: not a field K3s writes"),
        ("users.0.user.username", "admin", "user.username"),
        ("users.0.user.password", "hunter2", "user.password"),
        ("extensions", [{"name": "x", "extension": {}}], ": extensions: not a field"),
        ("clusters.0.cluster.extensions", [], "clusters[0].cluster.extensions"),
        ("contexts.0.context.namespace", "kube-system", "contexts[0].context.namespace"),
        ("preferences", {"colors": True}, "preferences: not empty"),
        ("clusters.1", {"name": "b", "cluster": {}}, "clusters: 2 entries"),
        ("users.1", {"name": "b", "user": {}}, "users: 2 entries"),
        ("kind", "Secret", "apiVersion/kind: not a v1 Config"),
    ],
)
def test_anything_k3s_does_not_write_is_refused_naming_host_and_field(creds, where, value, named):
    config = _with(creds, where, value)
    with pytest.raises(BadInput) as refused:
        cluster.rewrite_kubeconfig(yaml.safe_dump(config), "https://10.0.0.5:6443", "lab", SOURCE)
    message = str(refused.value)
    assert message.startswith(SOURCE + ": ") and named in message, message
    assert "\n" not in message
    assert creds["key"] not in message and creds["key_body"] not in message
    if isinstance(value, str):
        assert value not in message  # a served value is never echoed


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("clusters.0.cluster.certificate-authority-data", "not base64!", "not base64 of a PEM"),
        ("clusters.0.cluster.certificate-authority-data", _b64("hello"), "not base64 of a PEM"),
        ("clusters.0.cluster.certificate-authority-data", "", "missing or not a string"),
        ("clusters.0.cluster.certificate-authority-data", 12, "missing or not a string"),
        (
            "clusters.0.cluster.certificate-authority-data",
            _b64("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            "not base64 of a PEM",
        ),
        (
            "users.0.user.client-key-data",
            _b64("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"),
            "holds a PEM CERTIFICATE block, not EC PRIVATE KEY or PRIVATE KEY or RSA PRIVATE KEY",
        ),
        (
            "users.0.user.client-key-data",
            _b64("-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n" * 2),
            "more than one PEM block",
        ),
        (
            "users.0.user.client-certificate-data",
            _b64("-----BEGIN CERTIFICATE-----\nQUJ\n-----END CERTIFICATE-----\n"),
            "a PEM block whose body is not base64",
        ),
    ],
)
def test_credentials_must_be_base64_pem(creds, field, value, why):
    config = _with(creds, field, value)
    with pytest.raises(BadInput) as refused:
        cluster.rewrite_kubeconfig(yaml.safe_dump(config), "https://x:1", "lab", SOURCE)
    shown = field.replace(".0.", "[0].", 1)
    assert f"{SOURCE}: {shown}: {why}" in str(refused.value)


@pytest.mark.parametrize(
    "text, named",
    [
        ("kind: Config\n", "clusters: no entries"),
        ("[1, 2]\n", "the file: not a mapping"),
        ("a: [\n", "the file: not YAML"),
        ("clusters: [oops]\n", "clusters[0]: not a mapping"),
        ('{"\\nexec": 1}\n', "'\\nexec': not a field"),
    ],
)
def test_a_file_that_is_not_k3s_kubeconfig_is_one_line(text, named):
    with pytest.raises(BadInput) as refused:
        cluster.rewrite_kubeconfig(text, "https://x:1", "lab", SOURCE)
    assert named in str(refused.value) and "\n" not in str(refused.value)


def test_the_k3s_standin_serves_a_kubeconfig_that_is_accepted(tmp_path):
    """The integration tests fetch the stand-in's k3s.yaml: it must pass the same checks."""
    loader = importlib.machinery.SourceFileLoader("k3s_standin", str(STANDIN))
    spec = importlib.util.spec_from_loader("k3s_standin", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    path = tmp_path / "k3s.yaml"
    module.write_kubeconfig({"write-kubeconfig": [str(path)]}, 6443)
    out = admin_kubeconfig.rebuild(path.read_text(), "https://10.0.0.5:6443", "lab", SOURCE)
    assert set(out["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}


class _ServingRemote:
    """Remote, with the first server answering k3s_kubeconfig with ``text``."""

    text = ""

    def __init__(self, inv):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def call(self, host, op, **args):
        assert op.__name__ == "k3s_kubeconfig"
        return {"text": self.text}


@pytest.mark.parametrize("poisoned", [False, True])
def test_cli_writes_the_rebuilt_file_0600_or_refuses_with_exit_2(
    creds, write, tmp_path, monkeypatch, poisoned
):
    inv = write("hosts.yml", "server:\n  hosts:\n    s1: {ansible_host: 10.0.0.5}\n")
    config = _with(creds, "users.0.user.exec", EXEC) if poisoned else served(creds)
    monkeypatch.setattr(_ServingRemote, "text", yaml.safe_dump(config))
    monkeypatch.setattr(cluster, "Remote", _ServingRemote)
    target = tmp_path / "kube" / "lab.yaml"
    out = CliRunner().invoke(
        main, ["cluster", "kubeconfig", "-i", str(inv), "-o", str(target), "--context", "lab"]
    )
    if poisoned:
        assert out.exit_code == 2, out.output
        assert "s1 (10.0.0.5): /etc/rancher/k3s/k3s.yaml: users[0].user.exec:" in out.output
        assert "Traceback" not in out.output and creds["key"] not in out.output
        assert not target.exists()
    else:
        assert out.exit_code == 0, out.output
        assert target.stat().st_mode & 0o777 == 0o600
        written = yaml.safe_load(target.read_text())
        assert written["users"][0]["user"]["client-key-data"] == creds["key"]
        assert written["clusters"][0]["cluster"]["server"] == "https://10.0.0.5:6443"
