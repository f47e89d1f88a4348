"""The NodeConfig's values by the rules nodeadm itself applies (aws/eks-hybrid,
internal/node/hybrid/validator.go): an SSM activation id is a lower-case UUID, its code
20-250 characters (a secret: never shown), an IAM Roles Anywhere node name at most 64
characters, no kubelet --hostname-override, and the CA strict base64 - in
``homeforge inventory check`` and again in the eks_node role before nodeadm runs."""

from __future__ import annotations

import pytest
import yaml

from homeforge.validation import (
    base64_problem,
    iam_ra_node_name_problem,
    kubelet_flag_problem,
    ssm_activation_code_problem,
    ssm_activation_id_problem,
)
from tests.unit.test_release_trust import EKS, _failed, needs_arch, play

ACTIVATION_ID = "5b9e0074-65d3-4587-8620-3e0b0938db9e"
ACTIVATION_CODE = "Zqr175DJ+sPQRHsmbzzf"  # 20 characters, as ssm create-activation gives one
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
SECRET = "hunter2-but-short"  # 17 characters: too short, and never to be shown


def test_the_rules_take_what_nodeadm_takes_and_refuse_the_rest():
    assert ssm_activation_id_problem(ACTIVATION_ID) is None
    for bad in ("act-1", "3f1c2a9e-molecule", ACTIVATION_ID.upper(), ACTIVATION_ID + "\n", 7):
        assert ssm_activation_id_problem(bad), bad
    assert ssm_activation_code_problem("x" * 20) is None
    assert ssm_activation_code_problem("x" * 250) is None
    for bad in ("x" * 19, "x" * 251, "x" * 19 + "\n", None):
        problem = ssm_activation_code_problem(bad)
        assert problem and "value not shown" in problem
    assert SECRET not in ssm_activation_code_problem(SECRET)
    assert iam_ra_node_name_problem("n" * 64) is None
    assert "at most 64" in iam_ra_node_name_problem("n" * 65)
    assert kubelet_flag_problem("--node-labels=gpu=true") is None
    for bad in ("--hostname-override=gpu-1", "--hostname-override", "--x=1\n"):
        assert kubelet_flag_problem(bad), bad
    assert base64_problem(CA) is None
    for bad in ("LS0tLS1CRUdJTg", "not base64!", "LS0t\nLS1C", ""):  # unpadded, alphabet, newline
        assert base64_problem(bad), bad


def _inventory(**variables) -> dict:
    """One hybrid node, gpu-1, in group eks, with ``variables`` for every host."""
    return {
        "all": {
            "vars": variables,
            "children": {"eks": {"hosts": {"gpu-1": {"ansible_host": "192.0.2.5"}}}},
        }
    }


def test_a_sound_hybrid_node_passes(inventory_problems):
    assert (
        inventory_problems(
            _inventory(
                eks_node_ssm_activation_id=ACTIVATION_ID,
                eks_node_ssm_activation_code=ACTIVATION_CODE,
                eks_node_certificate_authority=CA,
                eks_node_kubelet_flags=["--node-labels=gpu=true"],
            )
        )
        == []
    )


def test_each_value_nodeadm_refuses_is_one_line_naming_file_host_and_key(
    tmp_path, inventory_problems
):
    found = inventory_problems(
        _inventory(
            eks_node_ssm_activation_id="3f1c2a9e-molecule",
            eks_node_ssm_activation_code=SECRET,
            eks_node_certificate_authority="LS0tLS1CRUdJTg",
            eks_node_kubelet_flags=["--node-labels=gpu=true", "--hostname-override=gpu-1"],
        )
    )
    where = f"{tmp_path / 'hosts.yml'}: host gpu-1"
    assert sorted(found) == sorted(
        [
            f"{where}: eks_node_ssm_activation_id: '3f1c2a9e-molecule': not an SSM activation id"
            " (a UUID in lower-case hex, 8-4-4-4-12, as aws ssm create-activation gives it)",
            f"{where}: eks_node_ssm_activation_code: an SSM activation code has 20 to 250"
            " characters, this one 17 (value not shown: it is secret)",
            f"{where}: eks_node_certificate_authority: not base64 (A-Z, a-z, 0-9, + and /,"
            " padded with = to a multiple of 4)",
            f"{where}: eks_node_kubelet_flags: '--hostname-override=gpu-1': nodeadm refuses"
            " --hostname-override on a hybrid node (it names the node itself)",
        ]
    )
    assert not any(SECRET in line for line in found)


def test_an_iam_roles_anywhere_node_name_is_at_most_64_characters(tmp_path, inventory_problems):
    iam_ra = {"eks_node_credential_provider": "iam-ra"}
    where = f"{tmp_path / 'hosts.yml'}: host gpu-1: eks_node_iam_ra_node_name"
    assert inventory_problems(_inventory(**iam_ra, eks_node_iam_ra_node_name="n" * 65)) == [
        f"{where}: '{'n' * 65}': nodeadm takes a node name of at most 64 characters with IAM"
        " Roles Anywhere, this one has 65"
    ]
    assert inventory_problems(_inventory(**iam_ra, eks_node_iam_ra_node_name="n" * 64)) == []
    # Unset: the node takes the host's inventory name, so that is what must be short.
    long_host = "gpu-" + "1" * 61
    inv = yaml.safe_dump(_inventory(**iam_ra)).replace("gpu-1:", f"{long_host}:")
    found = inventory_problems(inv)
    assert found == [
        f"{tmp_path / 'hosts.yml'}: host {long_host}: eks_node_iam_ra_node_name: empty, so the"
        " node is named after the host: nodeadm takes a node name of at most 64 characters"
        " with IAM Roles Anywhere, this one has 65; set a shorter eks_node_iam_ra_node_name"
    ]
    assert inventory_problems(inv.replace("iam-ra", "ssm")) == []  # SSM names it mi-...


def test_a_vaulted_activation_code_is_left_to_the_role(write, inventory_problems):
    from ansible.parsing.vault import VaultLib, VaultSecret

    cipher = VaultLib([("default", VaultSecret(b"pw"))]).encrypt(SECRET).decode()
    path = write(
        "hosts.yml",
        "all:\n  vars:\n    eks_node_ssm_activation_code: !vault |\n"
        + "".join(f"      {line}\n" for line in cipher.splitlines())
        + "  children:\n    eks:\n      hosts:\n        gpu-1: {ansible_host: 192.0.2.5}\n",
    )
    assert inventory_problems(path) == []


# ---------------------------------------------------------------- the role (point of use)

NODEADM_CHECK = "Check the NodeConfig's values by nodeadm's own rules"
SOUND = {**EKS, "eks_node_ssm_activation_id": ACTIVATION_ID}


@needs_arch
def test_the_role_refuses_before_anything_and_never_shows_the_code(tmp_path):
    results = play(tmp_path, "eks_node", "main.yml", SOUND)
    assert not results[NODEADM_CHECK].get("failed")
    bad = {
        **SOUND,
        "eks_node_ssm_activation_id": "act-1",
        "eks_node_ssm_activation_code": SECRET,
        "eks_node_kubelet_flags": ["--hostname-override=gpu-1"],
        "eks_node_certificate_authority": "not base64!",
    }
    name, msg = _failed(play(tmp_path, "eks_node", "main.yml", bad))
    assert name == NODEADM_CHECK and "\n" not in msg and SECRET not in msg
    assert msg == (
        "eks_node: localhost: nodeadm would refuse the NodeConfig:"
        " eks_node_ssm_activation_id: not an SSM activation id (a UUID in lower-case hex,"
        " 8-4-4-4-12, as aws ssm create-activation gives it);"
        " eks_node_ssm_activation_code: an SSM activation code has 20 to 250 characters,"
        " this one 17 (value not shown: it is secret);"
        " eks_node_kubelet_flags: nodeadm refuses --hostname-override on a hybrid node (it"
        " names the node itself);"
        " eks_node_certificate_authority: not base64 (A-Z, a-z, 0-9, + and /, padded with ="
        " to a multiple of 4)"
    )


@needs_arch
@pytest.mark.parametrize(
    ("variables", "why"),
    [
        ({"eks_node_iam_ra_node_name": "n" * 65}, "eks_node_iam_ra_node_name: nodeadm takes"),
        ({}, None),  # the host's own name, localhost, is short enough
    ],
)
def test_the_role_takes_an_iam_roles_anywhere_name_of_at_most_64(tmp_path, variables, why):
    iam_ra = {
        **EKS,
        "eks_node_credential_provider": "iam-ra",
        "eks_node_iam_ra_trust_anchor_arn": "arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/x",
        "eks_node_iam_ra_profile_arn": "arn:aws:rolesanywhere:eu-west-1:111122223333:profile/y",
        "eks_node_iam_ra_role_arn": "arn:aws:iam::111122223333:role/hybrid",
        **variables,
    }
    result = play(tmp_path, "eks_node", "main.yml", iam_ra)[NODEADM_CHECK]
    if why is None:
        assert not result.get("failed")
    else:
        assert result.get("failed") and why in result["msg"]
