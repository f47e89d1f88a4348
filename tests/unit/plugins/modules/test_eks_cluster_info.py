"""eks_cluster_info against moto's EKS API server on loopback (moto has EKS; no AWS is
involved): the endpoint, CA and version of a cluster that exists; one line for one that
does not."""

from __future__ import annotations

import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_eks():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_a_cluster_that_exists_gives_its_endpoint_ca_and_version(run_module, moto_eks, aws_env):
    eks = boto3.client("eks", region_name=REGION, endpoint_url=moto_eks)
    eks.create_cluster(
        name="ml-hybrid",
        version="1.31",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
    )
    found = run_module(
        "eks_cluster_info", {"name": "ml-hybrid", "region": REGION, "endpoint_url": moto_eks}
    )
    assert not found.get("failed") and not found["changed"], found
    expected = eks.describe_cluster(name="ml-hybrid")["cluster"]
    assert found["endpoint"] == expected["endpoint"] and found["endpoint"].startswith("https://")
    assert found["certificate_authority"] == expected["certificateAuthority"]["data"]
    assert found["kubernetes_version"] == "1.31" and found["status"] == expected["status"]


def test_a_cluster_that_does_not_exist_is_one_line(run_module, moto_eks, aws_env):
    missing = run_module(
        "eks_cluster_info", {"name": "nope", "region": REGION, "endpoint_url": moto_eks}
    )
    assert missing["failed"] and missing["msg"] == f"EKS cluster nope not found in {REGION}"


def test_no_credentials_is_one_line(run_module, moto_eks, monkeypatch):
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    missing = run_module(
        "eks_cluster_info", {"name": "ml-hybrid", "region": REGION, "endpoint_url": moto_eks}
    )
    assert missing["failed"]
    assert missing["msg"] == (
        "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    )


def test_another_refusal_is_one_line_naming_the_cluster_and_region():
    from ansible_collections.homeforge.homelab.plugins.module_utils.eks import Refusal
    from ansible_collections.homeforge.homelab.plugins.modules import eks_cluster_info
    from botocore.exceptions import ClientError

    error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
    refusal = Refusal("describe_cluster", ClientError(error, "DescribeCluster"))
    line = eks_cluster_info.refused({"name": "ml", "region": REGION})(refusal)
    assert line == f"EKS cluster ml in {REGION}: AccessDeniedException"
