"""What the eks_node role writes, checked against the upstream schema: the NodeConfig
against aws/eks-hybrid's CRD (../shared/crds/node.eks.aws_nodeconfigs.yaml, closed so a
misspelt field fails), for both credential providers."""

from __future__ import annotations

import yaml

from tests.tools import kube_schemas
from tests.tools.role_render import render

ROLE = "eks_node"
ACTIVATION_ID = "5b9e0074-65d3-4587-8620-3e0b0938db9e"
ACTIVATION_CODE = "Zqr175DJ+sPQRHsmbzzf"
BASE = {
    "eks_node_cluster_name": "ml-hybrid",
    "eks_node_region": "eu-west-1",
    "_eks_node_endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
    "_eks_node_ca": "LS0tLS1CRUdJTg==",
    "inventory_hostname": "gpu-1",
}


def _config(**variables):
    return yaml.safe_load(render(ROLE, "nodeconfig.yaml.j2", **{**BASE, **variables}))


def test_an_ssm_nodeconfig_matches_the_crd():
    config = _config(
        eks_node_ssm_activation_id=ACTIVATION_ID, eks_node_ssm_activation_code=ACTIVATION_CODE
    )
    kube_schemas.validate(config)
    assert config["spec"]["hybrid"] == {
        "ssm": {"activationCode": ACTIVATION_CODE, "activationId": ACTIVATION_ID}
    }
    assert config["spec"]["cluster"]["apiServerEndpoint"].startswith("https://")


def test_an_iam_roles_anywhere_nodeconfig_matches_the_crd_and_names_the_node():
    config = _config(
        eks_node_credential_provider="iam-ra",
        eks_node_iam_ra_trust_anchor_arn="arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/x",
        eks_node_iam_ra_profile_arn="arn:aws:rolesanywhere:eu-west-1:111122223333:profile/y",
        eks_node_iam_ra_role_arn="arn:aws:iam::111122223333:role/hybrid",
        eks_node_kubelet_flags=["--node-labels=nvidia.com/gpu.present=true"],
    )
    kube_schemas.validate(config)
    assert config["spec"]["hybrid"]["iamRolesAnywhere"]["nodeName"] == "gpu-1"
    assert config["spec"]["kubelet"] == {"flags": ["--node-labels=nvidia.com/gpu.present=true"]}


def test_without_a_looked_up_endpoint_the_cluster_has_only_name_and_region():
    config = _config(_eks_node_endpoint="", _eks_node_ca="")
    assert config["spec"]["cluster"] == {"name": "ml-hybrid", "region": "eu-west-1"}


def test_the_crd_check_would_catch_a_misspelt_field():
    config = _config(
        eks_node_ssm_activation_id=ACTIVATION_ID, eks_node_ssm_activation_code=ACTIVATION_CODE
    )
    config["spec"]["hybrid"]["ssm"]["activationcode"] = config["spec"]["hybrid"]["ssm"].pop(
        "activationCode"
    )
    assert any("activationcode" in p for p in kube_schemas.problems(config))
