"""Pieces shared by the EKS modules (module_utils/eks.py): their options, the boto3 guard
and the one-line errors of the EKS API."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.homeforge.homelab.plugins.doc_fragments.eks import ModuleDocFragment
from ansible_collections.homeforge.homelab.plugins.module_utils import eks
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

REGION = "eu-west-1"


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, params):
        self.params = params

    def fail_json(self, msg, **_):
        raise Failed(msg)


class FakeClient:
    """Answers describe_cluster with what it was given: a response or an exception."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def describe_cluster(self, **kwargs):
        self.calls.append(kwargs)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def refused_error(code, message="no such thing"):
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeCluster")


def _api(answer):
    api = eks.EksApi(REGION, None, lambda r: f"refused {r.operation}: {r.code}: {r.message}")
    api.client = FakeClient(answer)
    return api


def test_argument_spec_matches_the_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = eks.eks_argument_spec()
    assert set(documented) == set(spec) == {"region", "endpoint_url"}
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"]
        assert documented[name].get("required", False) == option.get("required", False)


def test_a_missing_boto3_fails_the_module_with_ansible_s_line(monkeypatch):
    monkeypatch.setattr(eks, "HAS_BOTO3", False)
    with pytest.raises(Failed, match=r"required Python library \(boto3\)"):
        eks.eks_api(FakeModule({"region": REGION, "endpoint_url": None}), str)


def test_the_client_is_for_the_region_and_the_endpoint_given():
    api = eks.eks_api(FakeModule({"region": REGION, "endpoint_url": "http://127.0.0.1:9"}), str)
    assert api.client.meta.region_name == REGION
    assert api.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert (
        eks.eks_api(
            FakeModule({"region": REGION, "endpoint_url": None}), str
        ).client.meta.endpoint_url
        == f"https://eks.{REGION}.amazonaws.com"
    )


def test_a_cluster_is_described_by_its_name():
    api = _api({"cluster": {"name": "ml", "version": "1.31"}})
    assert api.cluster("ml") == {"name": "ml", "version": "1.31"}
    assert api.client.calls == [{"name": "ml"}]


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        (refused_error("ResourceNotFoundException"), f"EKS cluster ml not found in {REGION}"),
        (
            refused_error("AccessDeniedException", "not allowed"),
            "refused describe_cluster: AccessDeniedException: not allowed",
        ),
        (NoCredentialsError(), eks.NO_CREDENTIALS),
        (
            EndpointConnectionError(endpoint_url="http://x"),
            f'EKS API in {REGION}: Could not connect to the endpoint URL: "http://x"',
        ),
    ],
)
def test_every_error_is_one_line(answer, line):
    with pytest.raises(eks.EksError) as raised:
        _api(answer).cluster("ml")
    assert str(raised.value) == line


def test_not_found_answers_instead_of_failing_when_given():
    api = _api(refused_error("ResourceNotFoundException"))
    assert api.call("describe_cluster", not_found=lambda: "none", name="ml") == "none"
    other = _api(refused_error("ThrottlingException"))
    with pytest.raises(eks.EksError, match="ThrottlingException"):
        other.call("describe_cluster", not_found=lambda: "none", name="ml")
