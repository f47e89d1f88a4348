"""The ebs_csi role's add-on path, converged with ansible-playbook against two STAND-INs on
loopback: the EKS add-on API (tests/standins/eks-addons) and a Kubernetes API server that
serves StorageClasses only (tests/standins/kube-apiserver). What this shows is the role's
behaviour against those contracts (a second run changes nothing, check mode writes nothing,
a class whose parameters change is replaced), not EKS's or Kubernetes's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from tests.tools.role_render import render_objects
from tests.unit.plugins.support import COLLECTIONS

STANDINS = Path(__file__).resolve().parents[1] / "standins"
ROLE_ARN = "arn:aws:iam::123456789012:role/ml-ebs-csi"
REGION = "eu-west-1"


def _serve(name: str, *args: str):
    proc = subprocess.Popen(
        [sys.executable, str(STANDINS / name), "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, line.split()[-1]


@pytest.fixture(scope="module")
def apis():
    eks, eks_url = _serve("eks-addons", "--settle", "0", "--cluster", "ml=1.31")
    kube, kube_url = _serve("kube-apiserver")
    yield eks_url, kube_url
    for proc in (eks, kube):
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def converge(apis, tmp_path_factory):
    eks_url, kube_url = apis
    work = tmp_path_factory.mktemp("ebs-addon")
    (work / "kubeconfig").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "ml", "cluster": {"server": kube_url}}],
                "users": [{"name": "ops", "user": {"token": "stand-in"}}],
                "contexts": [{"name": "ml", "context": {"cluster": "ml", "user": "ops"}}],
                "current-context": "ml",
            }
        )
    )
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (work / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "homeforge_storage": "ebs",
                        "eks_node_cluster_name": "ml",
                        "eks_node_region": REGION,
                        "ebs_csi_role_arn": ROLE_ARN,
                        "ebs_csi_kubeconfig": str(work / "kubeconfig"),
                        "ebs_csi_aws_endpoint_url": eks_url,
                    },
                    "children": {"eks": {"hosts": {"e1": local, "e2": local}}},
                }
            }
        )
    )
    site = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "playbooks" / "site.yml").read_text()
    )
    play = next(p for p in site if any("ebs_csi" in str(r) for r in p.get("roles", [])))
    (work / "play.yml").write_text(yaml.safe_dump([play]))  # site.yml's own play

    def run(*options: str, **extra) -> dict:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(work / "hosts.yml"),
                str(work / "play.yml"),
                "-e",
                json.dumps(extra),
                *options,
            ],
            capture_output=True,
            text=True,
            cwd=work,
            env={
                **os.environ,
                "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
            },
        )
        result = json.loads(done.stdout)
        assert done.returncode == 0, json.dumps(result["plays"][-1]["tasks"][-1], indent=1)[-3000:]
        return result["stats"]

    return run


def _get(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def _classes(kube_url: str) -> dict[str, dict]:
    items = _get(f"{kube_url}/apis/storage.k8s.io/v1/storageclasses")["items"]
    return {i["metadata"]["name"]: i for i in items}


def test_the_addon_path_converges_once_then_changes_nothing(apis, converge):
    eks_url, kube_url = apis
    first = converge()
    assert first["e1"]["changed"] > 0 and first["e2"]["changed"] == 0  # once, for the first host
    eks = boto3.client(
        "eks",
        region_name=REGION,
        endpoint_url=eks_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    addon = eks.describe_addon(clusterName="ml", addonName="aws-ebs-csi-driver")["addon"]
    assert addon["status"] == "ACTIVE" and addon["serviceAccountRoleArn"] == ROLE_ARN
    classes = _classes(kube_url)
    assert set(classes) == {"gp3", "gp3-retain", "io2"}
    for wanted in render_objects("ebs_csi", "objects.yml.j2"):
        have = classes[wanted["metadata"]["name"]]
        for key in (
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "volumeBindingMode",
            "allowVolumeExpansion",
        ):
            assert have[key] == wanted[key]
    again = converge()
    assert again["e1"]["changed"] == 0 and again["e1"]["failures"] == 0


def test_check_mode_then_a_new_iops_value_replaces_only_that_class(apis, converge):
    _, kube_url = apis
    converge()
    before = _classes(kube_url)
    writes = len(_get(f"{kube_url}/standin/calls")["calls"])
    seed_000 = [
        {
            "name": "gp3",
            "default": True,
            "parameters": {"type": "gp3", "iops": 4000, "throughput": 125},
        },
        {
            "name": "gp3-retain",
            "reclaim_policy": "Retain",
            "parameters": {"type": "gp3", "iops": "3000", "throughput": "125"},
        },
        {"name": "io2", "parameters": {"type": "io2", "iops": "10000"}},
    ]
    dry = converge("--check", ebs_csi_storage_classes=seed_000)
    assert dry["e1"]["changed"] > 0
    assert len(_get(f"{kube_url}/standin/calls")["calls"]) == writes  # nothing written
    assert _classes(kube_url) == before

    converge(ebs_csi_storage_classes=seed_000)
    calls = _get(f"{kube_url}/standin/calls")["calls"][writes:]
    assert calls == [{"verb": "delete", "name": "gp3"}, {"verb": "create", "name": "gp3"}]
    after = _classes(kube_url)
    assert after["gp3"]["parameters"]["iops"] == "4000"
    assert after["gp3-retain"]["metadata"]["uid"] == before["gp3-retain"]["metadata"]["uid"]
    assert converge(ebs_csi_storage_classes=seed_000)["e1"]["changed"] == 0
