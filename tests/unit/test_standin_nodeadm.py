"""The nodeadm STAND-IN fails where the hybrid nodeadm fails (tests/standins/nodeadm): the
eks_node role's tests rely on it refusing what nodeadm refuses and registering once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

STANDIN = Path(__file__).resolve().parents[2] / "tests" / "standins" / "nodeadm"
# An activation as aws ssm create-activation gives one (a lower-case UUID, 20-250 characters).
ACTIVATION_ID = "5b9e0074-65d3-4587-8620-3e0b0938db9e"
ACTIVATION_CODE = "Zqr175DJ+sPQRHsmbzzf"


@pytest.fixture
def nodeadm(tmp_path):
    activations = tmp_path / "activations.json"
    activations.write_text(
        json.dumps({ACTIVATION_ID: {"code": ACTIVATION_CODE, "region": "eu-west-1"}})
    )
    env = {
        **os.environ,
        "NODEADM_STANDIN_ROOT": str(tmp_path / "root"),
        "NODEADM_STANDIN_ACTIVATIONS": str(activations),
    }

    def run(*args):
        return subprocess.run(
            [sys.executable, str(STANDIN), *args], env=env, capture_output=True, text=True
        )

    return run, tmp_path


def _config(tmp_path, spec, name="nodeconfig.yaml"):
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump({"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig", "spec": spec})
    )
    return f"file://{path}"


SSM = {
    "cluster": {"name": "lab", "region": "eu-west-1"},
    "hybrid": {"ssm": {"activationCode": ACTIVATION_CODE, "activationId": ACTIVATION_ID}},
}


def test_install_takes_a_major_minor_version_and_a_known_provider(nodeadm):
    run, tmp_path = nodeadm
    patch = run("install", "1.31.2", "-p", "ssm")
    assert patch.returncode == 1 and "Try again with major.minor version" in patch.stderr
    old = run("install", "1.19", "-p", "ssm")
    assert "did not match with any available releases" in old.stderr
    assert "invalid semantic version: latest" in run("install", "latest", "-p", "ssm").stderr
    assert "invalid credential process provided" in run("install", "1.31", "-p", "ldap").stderr
    assert run("install", "1.31").returncode == 2  # a required flag: help, exit 2
    done = run("install", "1.31", "--credential-provider", "ssm")
    assert done.returncode == 0
    assert "v1.31" in (tmp_path / "root" / "usr/bin/kubelet").read_text()


def test_init_refuses_unknown_fields_and_a_wrong_activation(nodeadm):
    run, tmp_path = nodeadm
    run("install", "1.31", "-p", "ssm")
    typo = dict(
        SSM, hybrid={"ssm": {"activationcode": ACTIVATION_CODE, "activationId": ACTIVATION_ID}}
    )
    bad = run("init", "-c", _config(tmp_path, typo))
    assert bad.returncode == 1 and "unknown field 'activationcode'" in bad.stderr
    wrong = dict(
        SSM,
        hybrid={"ssm": {"activationCode": "not-this-one-but-20+", "activationId": ACTIVATION_ID}},
    )
    refused = run("init", "-c", _config(tmp_path, wrong))
    assert refused.returncode == 1 and "InvalidActivation" in refused.stderr
    assert not (tmp_path / "root" / "var/lib/amazon/ssm/registration").exists()
    iam = run(
        "init", "-c", _config(tmp_path, dict(SSM, hybrid={"iamRolesAnywhere": {"nodeName": "n"}}))
    )
    assert iam.returncode == 1 and "iam-ra" in iam.stderr  # the installed provider is ssm


def test_a_registered_node_is_not_registered_again_and_uninstall_deregisters(nodeadm):
    run, tmp_path = nodeadm
    run("install", "1.31", "-p", "ssm")
    source = _config(tmp_path, SSM)
    assert run("init", "-c", source).returncode == 0
    registration = tmp_path / "root" / "var/lib/amazon/ssm/registration"
    first = json.loads(registration.read_text())["ManagedInstanceID"]
    assert first.startswith("mi-") and registration.stat().st_mode & 0o777 == 0o600
    again = run("init", "-c", source)
    assert "already registered" in again.stdout
    assert json.loads(registration.read_text())["ManagedInstanceID"] == first
    undrained = run("uninstall")
    assert undrained.returncode == 1 and "use --skip node-validation" in undrained.stderr
    assert registration.exists()  # refused before anything was removed
    done = run("uninstall", "--skip", "node-validation")
    assert done.returncode == 0 and not registration.exists()
    twice = run("uninstall")
    assert twice.returncode == 0 and "already uninstalled" in twice.stdout
    run("install", "1.31", "-p", "ssm")
    run("init", "-c", source)
    assert json.loads(registration.read_text())["ManagedInstanceID"] != first  # a new node name


def test_init_refuses_what_nodeadm_validates_before_registering(nodeadm):
    """aws/eks-hybrid internal/node/hybrid/validator.go: the activation id a lower-case
    UUID, the code 20-250 characters, no kubelet --hostname-override, an IAM Roles Anywhere
    node name of at most 64 characters; none registers anything."""
    run, tmp_path = nodeadm
    run("install", "1.31", "-p", "ssm")
    short = "a-code-of-19-chars-"
    cases = {
        "short code": (
            dict(SSM, hybrid={"ssm": {"activationCode": short, "activationId": ACTIVATION_ID}}),
            "Must be 20-250 characters",
        ),
        "upper-case id": (
            dict(
                SSM,
                hybrid={
                    "ssm": {
                        "activationCode": ACTIVATION_CODE,
                        "activationId": ACTIVATION_ID.upper(),
                    }
                },
            ),
            "invalid ActivationID format",
        ),
        "hostname override": (
            dict(SSM, kubelet={"flags": ["--node-labels=a=b", "--hostname-override=gpu-1"]}),
            "hostname-override kubelet flag is not supported for hybrid nodes but found override: gpu-1",
        ),
    }
    for name, (spec, why) in cases.items():
        refused = run("init", "-c", _config(tmp_path, spec))
        assert refused.returncode == 1 and why in refused.stderr, name
        assert short not in refused.stderr  # the code, a secret, is never repeated
    assert not (tmp_path / "root" / "var/lib/amazon/ssm/registration").exists()
    run("uninstall")
    run("install", "1.31", "-p", "iam-ra")
    (tmp_path / "cert.pem").write_text(_certificate(tmp_path, days=30))
    iam = {
        "nodeName": "n" * 65,
        "trustAnchorArn": "arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/x",
        "profileArn": "arn:aws:rolesanywhere:eu-west-1:111122223333:profile/y",
        "roleArn": "arn:aws:iam::111122223333:role/hybrid",
        "certificatePath": str(tmp_path / "cert.pem"),
        "privateKeyPath": str(tmp_path / "cert.pem"),
    }
    long_name = run("init", "-c", _config(tmp_path, dict(SSM, hybrid={"iamRolesAnywhere": iam})))
    assert long_name.returncode == 1 and "longer than 64 characters" in long_name.stderr
    iam["nodeName"] = "n" * 64
    assert (
        run("init", "-c", _config(tmp_path, dict(SSM, hybrid={"iamRolesAnywhere": iam}))).returncode
        == 0
    )

    # the certificate is parsed and its dates checked (internal/certificate)
    (tmp_path / "cert.pem").write_text("cert")
    garbled = run("init", "-c", _config(tmp_path, dict(SSM, hybrid={"iamRolesAnywhere": iam})))
    assert garbled.returncode == 1
    assert "validating iam-roles-anywhere certificate: parsing certificate" in garbled.stderr
    (tmp_path / "cert.pem").write_text(_certificate(tmp_path, days=-1))
    expired = run("init", "-c", _config(tmp_path, dict(SSM, hybrid={"iamRolesAnywhere": iam})))
    assert expired.returncode == 1 and "server certificate has expired" in expired.stderr


def _certificate(tmp_path, days):
    """A self-signed PEM certificate valid for `days` from now (ended yesterday if < 0)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node")])
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=2)
    end = now + datetime.timedelta(days=days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.PEM).decode()


def test_the_version_is_flaggys_version_flag_and_init_before_install_does_nothing(nodeadm):
    """nodeadm prints "Version: vX" for --version, -version and the bare word (flaggy); init
    before install logs that the components are missing and exits 0 (init.go)."""
    run, tmp_path = nodeadm
    for form in ("--version", "-version", "version"):
        shown = run(form)
        assert shown.returncode == 0 and shown.stdout.strip() == "Version: v1.0.20", form
    early = run("init", "-c", _config(tmp_path, SSM))
    assert (
        early.returncode == 0 and "Please run `nodeadm install` before running init" in early.stdout
    )
    assert not (tmp_path / "root" / "var/lib/amazon/ssm/registration").exists()
