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


@pytest.fixture
def nodeadm(tmp_path):
    activations = tmp_path / "activations.json"
    activations.write_text(json.dumps({"act-1": {"code": "code-1", "region": "eu-west-1"}}))
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
    "hybrid": {"ssm": {"activationCode": "code-1", "activationId": "act-1"}},
}


def test_install_takes_a_major_minor_version_and_a_known_provider(nodeadm):
    run, tmp_path = nodeadm
    assert "invalid kubernetes version" in run("install", "1.31.2", "-p", "ssm").stderr
    assert "invalid credential provider" in run("install", "1.31", "-p", "ldap").stderr
    done = run("install", "1.31", "--credential-provider", "ssm")
    assert done.returncode == 0
    assert "v1.31" in (tmp_path / "root" / "usr/bin/kubelet").read_text()


def test_init_refuses_unknown_fields_and_a_wrong_activation(nodeadm):
    run, tmp_path = nodeadm
    run("install", "1.31", "-p", "ssm")
    typo = dict(SSM, hybrid={"ssm": {"activationcode": "code-1", "activationId": "act-1"}})
    bad = run("init", "-c", _config(tmp_path, typo))
    assert bad.returncode == 1 and "unknown field 'activationcode'" in bad.stderr
    wrong = dict(SSM, hybrid={"ssm": {"activationCode": "nope", "activationId": "act-1"}})
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
    assert run("uninstall").returncode == 0 and not registration.exists()
    run("install", "1.31", "-p", "ssm")
    run("init", "-c", source)
    assert json.loads(registration.read_text())["ManagedInstanceID"] != first  # a new node name
