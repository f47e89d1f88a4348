"""eks_addon against the STAND-IN of the EKS add-on API (tests/standins/eks-addons) on
loopback: moto 5.2.5 has EKS clusters but no add-on operations. These check the module's
behaviour against the API contract as botocore's EKS model describes it, not against EKS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parents[3] / "standins" / "eks-addons"
REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/ml-ebs-csi"
OTHER_ROLE = "arn:aws:iam::123456789012:role/ml-ebs-csi-2"
DEFAULT = "v1.46.0-eksbuild.1"  # the stand-in's default for Kubernetes 1.31
LATEST = "v1.48.0-eksbuild.1"
CLUSTERS = ("create", "update", "check", "pinned", "podid", "failing", "config", "never-down")


def _serve(*args: str):
    proc = subprocess.Popen(
        [sys.executable, str(STANDIN), "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, line.split()[-1]


@pytest.fixture(scope="module")
def eks():
    clusters = [f"--cluster={name}=1.31" for name in CLUSTERS]
    proc, url = _serve("--settle", "0.3", *clusters)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def slow_eks():
    proc, url = _serve("--settle", "60", "--cluster=slow=1.31")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert "AWS_PROFILE" not in os.environ


def _args(url: str, cluster: str, **extra) -> dict:
    return {
        "cluster_name": cluster,
        "region": REGION,
        "endpoint_url": url,
        "name": "aws-ebs-csi-driver",
        "wait_delay": 0.2,
        **extra,
    }


def _calls(url: str, cluster: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/standin/calls") as response:
        return [c for c in json.load(response)["calls"] if c["cluster"] == cluster]


def _post(url: str, path: str, body: dict) -> None:
    request = urllib.request.Request(
        f"{url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request).close()


def test_creates_the_addon_at_the_default_version_then_changes_nothing(run_module, eks):
    first = run_module("eks_addon", _args(eks, "create", service_account_role_arn=ROLE))
    assert not first.get("failed") and first["changed"], first
    addon = first["addon"]
    assert addon["status"] == "ACTIVE" and addon["version"] == DEFAULT
    assert addon["service_account_role_arn"] == ROLE and addon["pod_identity_associations"] == []
    assert first["cluster_version"] == "1.31"
    [create] = _calls(eks, "create")
    assert create["operation"] == "CreateAddon"
    assert create["body"]["addonVersion"] == DEFAULT
    assert create["body"]["serviceAccountRoleArn"] == ROLE

    again = run_module("eks_addon", _args(eks, "create", service_account_role_arn=ROLE))
    assert not again.get("failed") and not again["changed"], again
    assert len(_calls(eks, "create")) == 1  # nothing called the second time


def test_a_new_role_arn_is_an_update_of_that_field_only(run_module, eks):
    run_module("eks_addon", _args(eks, "update", service_account_role_arn=ROLE))
    updated = run_module("eks_addon", _args(eks, "update", service_account_role_arn=OTHER_ROLE))
    assert not updated.get("failed") and updated["changed"], updated
    assert updated["addon"]["service_account_role_arn"] == OTHER_ROLE
    assert updated["addon"]["status"] == "ACTIVE"
    update = _calls(eks, "update")[-1]
    assert update["operation"] == "UpdateAddon"
    sent = set(update["body"]) - {"clientRequestToken"}  # botocore adds an idempotency token
    assert sent == {"serviceAccountRoleArn", "resolveConflicts"}


def test_check_mode_reports_the_change_and_calls_nothing(run_module, eks):
    dry = run_module(
        "eks_addon", _args(eks, "check", service_account_role_arn=ROLE), "--check", "--diff"
    )
    assert not dry.get("failed") and dry["changed"], dry
    assert dry["diff"]["before"] == {} and dry["diff"]["after"]["version"] == DEFAULT
    assert _calls(eks, "check") == []
    real = run_module("eks_addon", _args(eks, "check", service_account_role_arn=ROLE))
    assert real["changed"]
    again = run_module("eks_addon", _args(eks, "check", service_account_role_arn=ROLE), "--check")
    assert not again["changed"]


def test_a_cluster_that_does_not_exist_is_one_line(run_module, eks):
    missing = run_module("eks_addon", _args(eks, "nope", service_account_role_arn=ROLE))
    assert missing["failed"] and missing["msg"] == f"EKS cluster nope not found in {REGION}"


def test_a_pinned_version_must_be_one_eks_offers_for_the_cluster(run_module, eks):
    bad = run_module("eks_addon", _args(eks, "pinned", version="v9.9.9-eksbuild.1"))
    assert bad["failed"]
    assert bad["msg"].startswith(
        "add-on aws-ebs-csi-driver has no version v9.9.9-eksbuild.1 for Kubernetes 1.31"
    )
    assert LATEST in bad["msg"] and _calls(eks, "pinned") == []
    pinned = run_module("eks_addon", _args(eks, "pinned", version="v1.45.0-eksbuild.2"))
    assert pinned["changed"] and pinned["addon"]["version"] == "v1.45.0-eksbuild.2"
    latest = run_module("eks_addon", _args(eks, "pinned", version="latest"))
    assert latest["changed"] and latest["addon"]["version"] == LATEST


def test_default_never_moves_an_addon_down(run_module, eks):
    run_module("eks_addon", _args(eks, "never-down", version="latest"))
    kept = run_module("eks_addon", _args(eks, "never-down", version="default"))
    assert not kept["changed"] and kept["addon"]["version"] == LATEST


def test_pod_identity_then_irsa_removes_the_associations(run_module, eks):
    associations = [{"service_account": "ebs-csi-controller-sa", "role_arn": ROLE}]
    made = run_module("eks_addon", _args(eks, "podid", pod_identity_associations=associations))
    assert made["changed"] and made["addon"]["pod_identity_associations"] == associations
    assert made["addon"]["service_account_role_arn"] == ""
    same = run_module("eks_addon", _args(eks, "podid", pod_identity_associations=associations))
    assert not same["changed"], same
    irsa = run_module("eks_addon", _args(eks, "podid", service_account_role_arn=ROLE))
    assert irsa["changed"] and irsa["addon"]["pod_identity_associations"] == []
    assert _calls(eks, "podid")[-1]["body"]["podIdentityAssociations"] == []


def test_a_wrong_service_account_is_eks_s_refusal_in_one_line(run_module, eks):
    wrong = [{"service_account": "default", "role_arn": ROLE}]
    refused = run_module("eks_addon", _args(eks, "failing", pod_identity_associations=wrong))
    assert refused["failed"] and "InvalidParameterException" in refused["msg"]
    assert "\n" not in refused["msg"]


def test_an_addon_that_ends_failed_fails_with_its_health_issues(run_module, eks):
    issue = {"code": "AccessDenied", "message": "role cannot be assumed"}
    _post(eks, "/standin/next-outcome", {"status": "FAILED", "issues": [issue]})
    failed = run_module("eks_addon", _args(eks, "failing", service_account_role_arn=ROLE))
    assert failed["failed"]
    assert failed["msg"] == (
        "add-on aws-ebs-csi-driver of cluster failing is CREATE_FAILED (AccessDenied: role cannot be assumed)"
    )
    still = run_module("eks_addon", _args(eks, "failing", service_account_role_arn=ROLE))
    assert still["failed"] and "CREATE_FAILED" in still["msg"]  # not reported as fine


def test_configuration_values_are_compared_as_json(run_module, eks):
    config = {"controller": {"extraVolumeTags": {"team": "ml"}}}
    made = run_module("eks_addon", _args(eks, "config", configuration=config))
    assert made["changed"] and made["addon"]["configuration"] == config
    same = run_module("eks_addon", _args(eks, "config", configuration=config))
    assert not same["changed"]
    cleared = run_module("eks_addon", _args(eks, "config", configuration={}))
    assert cleared["changed"] and cleared["addon"]["configuration"] == {}
    assert _calls(eks, "config")[-1]["body"]["configurationValues"] == "{}"


def test_an_addon_not_active_in_time_is_one_line(run_module, slow_eks):
    late = run_module("eks_addon", _args(slow_eks, "slow", wait_timeout=1))
    assert late["failed"]
    assert late["msg"] == "add-on aws-ebs-csi-driver of cluster slow is still CREATING after 1 s"


def test_eks_s_other_refusals_name_the_call_the_addon_and_the_cluster():
    from ansible_collections.homeforge.homelab.plugins.module_utils.eks import Refusal
    from ansible_collections.homeforge.homelab.plugins.modules import eks_addon
    from botocore.exceptions import ClientError

    error = {"Error": {"Code": "InvalidParameterException", "Message": "bad role"}}
    refusal = Refusal("update_addon", ClientError(error, "UpdateAddon"))
    params = {"name": "aws-ebs-csi-driver", "cluster_name": "ml", "region": REGION}
    assert eks_addon.refused(params)(refusal) == (
        f"EKS update_addon for add-on aws-ebs-csi-driver of cluster ml in {REGION}:"
        " InvalidParameterException: bad role"
    )
