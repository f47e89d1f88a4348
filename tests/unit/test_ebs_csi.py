"""What the ebs_csi role renders, checked against the upstream schemas (StorageClass:
Kubernetes at the pinned version; HelmChart: helm-controller's CRD; chart values: the
aws-ebs-csi-driver chart 2.64.0 in ../shared/charts), the StorageClass rules it shares with
``homeforge inventory check``, and the role stopping on bad input before it applies anything."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render, render_objects
from tests.unit.plugins.support import COLLECTIONS

# Importable once support.py has put the checkout on sys.path as homeforge.homelab.
ebs = importlib.import_module("ansible_collections.homeforge.homelab.plugins.module_utils.ebs")

ROLE = "ebs_csi"


def _classes(objects):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "StorageClass"}


# ---------------------------------------------------------------- rendering


def test_the_default_classes_are_seed_002s_and_valid_kubernetes():
    objects = render_objects(ROLE, "objects.yml.j2")
    assert [o["kind"] for o in objects] == ["StorageClass"] * 3  # the add-on needs no chart
    kube_schemas.validate_all(objects)
    classes = _classes(objects)
    assert list(classes) == ["gp3", "gp3-retain", "io2"]
    gp3 = classes["gp3"]
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert gp3["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert gp3["parameters"] == {
        "encrypted": "true",
        "type": "gp3",
        "iops": "3000",
        "throughput": "125",
    }
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer" and gp3["allowVolumeExpansion"]
    assert gp3["reclaimPolicy"] == "Delete"
    assert classes["gp3-retain"]["reclaimPolicy"] == "Retain"
    assert (
        classes["gp3-retain"]["metadata"]["annotations"][
            "storageclass.kubernetes.io/is-default-class"
        ]
        == "false"
    )
    assert classes["io2"]["parameters"]["iops"] == "10000"
    assert ebs.storage_class_problems(defaults(ROLE)["ebs_csi_storage_classes"]) == []


def test_seed_000s_gp3_at_4000_iops_from_yaml_numbers_and_booleans():
    seed = [
        {
            "name": "gp3",
            "default": True,
            "parameters": {"type": "gp3", "iops": 4000, "throughput": 250, "encrypted": True},
        },
        {
            "name": "gp3-kms",
            "parameters": {
                "type": "gp3",
                "kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "csi.storage.k8s.io/fstype": "xfs",
                "tagSpecification_1": "team=ml",
            },
            "allow_volume_expansion": False,
            "volume_binding_mode": "Immediate",
        },
    ]
    assert ebs.storage_class_problems(seed) == []
    objects = render_objects(ROLE, "objects.yml.j2", ebs_csi_storage_classes=seed)
    kube_schemas.validate_all(objects)
    classes = _classes(objects)
    assert classes["gp3"]["parameters"] == {
        "encrypted": "true",
        "type": "gp3",
        "iops": "4000",
        "throughput": "250",
    }
    kms = classes["gp3-kms"]
    assert kms["parameters"]["encrypted"] == "true"  # encrypted unless the class says otherwise
    assert kms["allowVolumeExpansion"] is False and kms["volumeBindingMode"] == "Immediate"


def test_a_misspelt_storageclass_field_is_caught_by_the_schema():
    [gp3, *_] = render_objects(ROLE, "objects.yml.j2")
    gp3["allowVolumeExpanson"] = True
    with pytest.raises(AssertionError, match="allowVolumeExpanson"):
        kube_schemas.validate(gp3)


def _chart(**variables):
    objects = render_objects(ROLE, "objects.yml.j2", ebs_csi_install="helm", **variables)
    kube_schemas.validate_all(objects)
    chart = next(o for o in objects if o["kind"] == "HelmChart")
    return objects, chart, yaml.safe_load(chart["spec"]["valuesContent"])


def test_the_helm_path_renders_a_valid_helmchart_with_valid_values():
    objects, chart, values = _chart(ebs_csi_region="eu-west-1")
    assert [o["kind"] for o in objects] == [
        "HelmChart",
        "StorageClass",
        "StorageClass",
        "StorageClass",
    ]
    assert chart["spec"]["chart"] == "aws-ebs-csi-driver"
    assert (
        chart["spec"]["version"] == "2.64.0" and chart["spec"]["targetNamespace"] == "kube-system"
    )
    assert values == {"controller": {"region": "eu-west-1"}}
    assert kube_schemas.value_problems("aws-ebs-csi-driver", values) == []


def test_the_pinned_chart_version_is_the_one_the_values_were_checked_against():
    assert defaults(ROLE)["ebs_csi_chart_version"] == kube_schemas.chart_version(
        "aws-ebs-csi-driver"
    )


def test_inventory_chart_values_are_merged_and_checked():
    extra = {
        "controller": {"extraVolumeTags": {"team": "ml"}},
        "node": {"tolerateAllTaints": False},
    }
    _, _, values = _chart(ebs_csi_region="eu-west-1", ebs_csi_chart_values=extra)
    assert values["controller"] == {"region": "eu-west-1", "extraVolumeTags": {"team": "ml"}}
    assert kube_schemas.value_problems("aws-ebs-csi-driver", values) == []
    _, _, no_region = _chart(ebs_csi_region="")
    assert no_region == {}  # the driver asks the instance metadata service


def test_a_chart_value_the_chart_does_not_have_or_of_the_wrong_type_is_caught():
    _, _, values = _chart(ebs_csi_chart_values={"controler": {"region": "eu-west-1"}})
    found = kube_schemas.value_problems("aws-ebs-csi-driver", values)
    assert any("controler" in p for p in found), found
    _, _, values = _chart(ebs_csi_chart_values={"controller": {"replicaCount": "two"}})
    found = kube_schemas.value_problems("aws-ebs-csi-driver", values)
    assert any("replicaCount" in p for p in found), found


def test_the_manifest_file_holds_exactly_the_objects():
    objects, _, _ = _chart(ebs_csi_region="eu-west-1")
    text = render(ROLE, "ebs-csi.yaml.j2", _ebs_csi_objects=objects, ansible_managed="x")
    assert [d for d in yaml.safe_load_all(text) if d] == objects


# ---------------------------------------------------------------- the class rules


def _problems(**parameters):
    return ebs.storage_class_problems([{"name": "c", "parameters": parameters}])


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"type": "gp3", "iopss": "4000"},
            "c: parameters: iopss: not a parameter of the EBS CSI driver (did you mean iops?)",
        ),
        ({"type": "gp3", "fsType": "xfs"}, "fsType: use csi.storage.k8s.io/fstype"),
        ({"type": "gp3", "iops": "90000"}, "iops: 90000 is outside gp3's range 3000-80000"),
        ({"type": "gp3", "iops": "2000"}, "iops: 2000 is outside gp3's range 3000-80000"),
        ({"type": "io2", "iops": "300000"}, "iops: 300000 is outside io2's range 100-256000"),
        ({"type": "io1", "iops": "65000"}, "iops: 65000 is outside io1's range 100-64000"),
        ({"type": "gp3", "throughput": "2001", "iops": "9000"}, "outside gp3's range 125-2000"),
        ({"type": "gp3", "throughput": "1000"}, "throughput: 1000 MiB/s needs at least 4000 IOPS"),
        (
            {"type": "io2", "throughput": "500", "iops": "1000"},
            "only gp3 volumes take a throughput",
        ),
        ({"type": "io2"}, "iops: io2 volumes need iops or iopsPerGB"),
        ({"type": "io2", "iops": "1000", "iopsPerGB": "10"}, "give one of them, not both"),
        ({"type": "io2", "iopsPerGB": "1500"}, "iopsPerGB: 1500 is above io2's maximum of 1000"),
        ({"type": "st1", "iops": "500"}, "iops: st1 volumes take no provisioned IOPS"),
        ({"type": "gp4"}, "type: 'gp4' is not an EBS volume type"),
        ({"type": "gp3", "iops": "lots"}, "iops: 'lots' is not a whole number"),
        ({"type": "gp3", "encrypted": "True"}, "encrypted: 'True' must be true or false"),
        (
            {"type": "gp3", "kmsKeyId": "alias/ebs", "encrypted": "true"},
            "kmsKeyId: not a KMS key ARN",
        ),
        (
            {
                "type": "gp3",
                "kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:alias/ebs",
                "encrypted": False,
            },
            "kmsKeyId: needs encrypted: true",
        ),
        ({"type": "io1", "blockExpress": "true", "iops": "100"}, "blockExpress: only io2 volumes"),
        ({"type": "gp3", "IOPS": "4000", "iops": "4000"}, "iops: given twice"),
        (
            {"type": "gp3", "csi.storage.k8s.io/fstype": "ntfs"},
            "is not one of ext4, xfs, ext3, ext2",
        ),
        ({"type": "gp3", "ext4ClusterSize": "16384"}, "ext4ClusterSize: needs ext4BigAlloc: true"),
        ({"type": "gp3", "volumeInitializationRate": "500"}, "outside EBS's range 100-300"),
        ({"type": "gp3", "tagSpecification_1": "no-equals"}, "must be KEY=VALUE"),
        ({"type": "gp3", "iops": "4000\n"}, "iops: must not contain control characters"),
    ],
)
def test_each_bad_parameter_is_one_line_naming_class_and_key(parameters, expected):
    found = _problems(**parameters)
    assert any(expected in p for p in found), found
    assert all("\n" not in p for p in found)


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "gp3", "iops": "80000", "throughput": "2000"},  # the 2025 limits
        {"type": "gp3", "iops": "8000", "throughput": "2000"},
        {"type": "gp3", "iopsPerGB": "500", "allowAutoIOPSPerGBIncrease": "true"},
        {"type": "io2", "iops": "256000", "blockExpress": True},
        {"type": "io2", "iopsPerGB": "50"},
        {"type": "io1", "iops": "64000"},
        {"type": "gp2"},
        {"Type": "gp3", "IOPS": 4000},  # the driver reads keys case-insensitively
        {"csi.storage.k8s.io/fstype": "ext4", "ext4BigAlloc": "true", "ext4ClusterSize": "16384"},
    ],
)
def test_what_the_driver_and_ec2_accept_passes(parameters):
    assert _problems(**parameters) == []


def test_class_level_problems():
    found = ebs.storage_class_problems(
        [
            {"name": "gp3", "default": True, "parameters": {"type": "gp3"}, "reclaim": "Retain"},
            {"name": "gp3", "default": True, "parameters": {}},
            {"name": "Fast_SSD", "parameters": {}, "reclaim_policy": "Recycle"},
            {"name": "x", "volume_binding_mode": "Later", "allow_volume_expansion": "maybe"},
            "gp3",
        ]
    )
    expected = [
        "gp3: reclaim: unknown key",
        "gp3: name: two classes have this name",
        "[2]: name: 'Fast_SSD' is not a Kubernetes name",
        "[2]: reclaim_policy: 'Recycle' is not Delete or Retain",
        "x: volume_binding_mode: 'Later' is not WaitForFirstConsumer or Immediate",
        "x: allow_volume_expansion: 'maybe' is not a boolean",
        "[4]: a class is a mapping",
        "default: 2 classes are marked default",
    ]
    for line in expected:
        assert any(line in p for p in found), (line, found)
    assert ebs.storage_class_problems({"gp3": {}}) == ["must be a list of classes, not dict"]


def test_classes_whose_immutable_fields_change_are_replaced():
    desired = _classes(render_objects(ROLE, "objects.yml.j2"))
    existing = [json.loads(json.dumps(o)) for o in desired.values()]
    existing[0]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] = "false"
    existing[0]["metadata"]["resourceVersion"] = "42"  # what the API server adds
    assert ebs.replacements(existing, list(desired.values())) == []  # annotations are mutable
    existing[0]["parameters"]["iops"] = "4000"
    existing[1]["reclaimPolicy"] = "Delete"
    existing[2]["allowVolumeExpansion"] = False  # mutable
    assert ebs.replacements(existing, list(desired.values())) == ["gp3", "gp3-retain"]
    assert ebs.replacements([], list(desired.values())) == []  # new ones are created
    helm = {"kind": "HelmChart", "metadata": {"name": "gp3"}}
    assert ebs.replacements([helm], list(desired.values())) == []


# ---------------------------------------------------------------- inventory check


EKS_INVENTORY = """
all:
  vars:
    ansible_user: root
    homeforge_storage: ebs
    eks_node_cluster_name: ml-hybrid
    eks_node_region: eu-west-1
    ebs_csi_role_arn: arn:aws:iam::123456789012:role/ml-ebs-csi
    ebs_csi_kubeconfig: /root/.kube/ml-hybrid
  children:
    eks:
      hosts:
        e1: {ansible_host: 192.0.2.30}
        e2: {ansible_host: 192.0.2.31}
"""


def _ebs_lines(found):
    """The EBS lines, their path shown from the inventory file's name on."""
    return [
        "hosts.yml: " + p.split("hosts.yml: ", 1)[1]
        for p in found
        if "ebs_csi" in p or "homeforge_storage" in p
    ]


def test_a_good_ebs_inventory_passes(inventory_problems):
    assert _ebs_lines(inventory_problems(EKS_INVENTORY)) == []


def test_bad_classes_and_settings_are_one_line_each_naming_file_host_and_key(
    write, inventory_problems
):
    bad = EKS_INVENTORY.replace(
        "ebs_csi_role_arn: arn:aws:iam::123456789012:role/ml-ebs-csi",
        "ebs_csi_role_arn: arn:aws:iam::1234:user/ml",
    ).replace(
        "    ebs_csi_kubeconfig: /root/.kube/ml-hybrid\n",
        "    ebs_csi_kubeconfig: /root/.kube/ml-hybrid\n"
        "    ebs_csi_addon_version: newest\n"
        "    ebs_csi_storage_classes:\n"
        "      - {name: gp3, default: true, parameters: {type: gp3, iops: 90000, iopsPerSecond: 10}}\n",
    )
    path = write("hosts.yml", bad)
    found = _ebs_lines(inventory_problems(path))
    where = "hosts.yml: host e1:"
    assert any(
        p.startswith(f"{where} ebs_csi_storage_classes: gp3: parameters: iops: 90000 is outside")
        for p in found
    ), found
    assert any(
        p.startswith(
            f"{where} ebs_csi_storage_classes: gp3: parameters: iopsPerSecond: not a parameter"
        )
        for p in found
    ), found
    assert any(
        p.startswith(f"{where} ebs_csi_role_arn: 'arn:aws:iam::1234:user/ml': not an IAM role ARN")
        for p in found
    ), found
    assert any(p.startswith(f"{where} ebs_csi_addon_version: 'newest'") for p in found), found
    assert not any("host e2" in p for p in found)  # the role runs for the first eks host


def test_missing_settings_and_a_missing_group_are_reported(write, inventory_problems):
    bare = write(
        "hosts.yml",
        """
        all:
          vars: {homeforge_storage: ebs}
          hosts:
            h1: {ansible_host: 192.0.2.40}
        """,
    )
    assert _ebs_lines(inventory_problems(bare)) == [
        "hosts.yml: host h1: homeforge_storage: ebs with ebs_csi_install addon needs a host in group"
        " eks (the role runs for its first host)"
    ]
    unset = write(
        "hosts.yml",
        """
        all:
          vars: {homeforge_storage: ebs}
          children:
            eks:
              hosts:
                e1: {ansible_host: 192.0.2.30}
        """,
    )
    found = _ebs_lines(inventory_problems(unset))
    for key in ("ebs_csi_cluster_name", "ebs_csi_region", "ebs_csi_role_arn", "ebs_csi_kubeconfig"):
        assert any(f"host e1: {key}: " in p and "non-empty" in p for p in found), (key, found)


def test_an_unknown_storage_backend_is_reported_and_no_storage_is_left_alone(
    write, inventory_problems
):
    typo = write(
        "hosts.yml", EKS_INVENTORY.replace("homeforge_storage: ebs", "homeforge_storage: ebss")
    )
    found = _ebs_lines(inventory_problems(typo))
    assert found == [
        f"hosts.yml: host {h}: homeforge_storage: 'ebss' is not a storage backend (ebs, nfs)"
        for h in ("e1", "e2")
    ]
    none = write(
        "hosts.yml",
        EKS_INVENTORY.replace("homeforge_storage: ebs", "other: 1").replace(
            "ebs_csi_role_arn: arn:aws:iam::123456789012:role/ml-ebs-csi", "ebs_csi_role_arn: nope"
        ),
    )
    assert _ebs_lines(inventory_problems(none)) == []  # without ebs storage the role does not run


def test_the_helm_path_checks_the_first_server(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            homeforge_storage: ebs
            ebs_csi_install: helm
            ebs_csi_region: europe
            ebs_csi_storage_classes: [{name: gp3, parameters: {type: gp3, throughput: 5000}}]
          children:
            server:
              hosts:
                s1: {ansible_host: 192.0.2.10}
        """,
    )
    found = _ebs_lines(inventory_problems(path))
    assert any(
        p.startswith("hosts.yml: host s1: ebs_csi_region: 'europe': not an AWS region")
        for p in found
    )
    assert any(
        "gp3: parameters: throughput: 5000 MiB/s is outside gp3's range 125-2000" in p
        for p in found
    )
    assert not any("ebs_csi_role_arn" in p for p in found)  # the chart runs as the instances' role


# ---------------------------------------------------------------- the role stops first


def _play(tmp_path: Path, extra: dict) -> subprocess.CompletedProcess:
    inventory_file = tmp_path / "hosts.yml"
    inventory_file.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "eks": {
                            "hosts": {
                                "e1": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable,
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "eks",
                    "gather_facts": False,
                    "roles": [{"role": "homeforge.homelab.ebs_csi"}],
                }
            ]
        )
    )
    variables = {
        "ebs_csi_cluster_name": "ml",
        "ebs_csi_region": "eu-west-1",
        "ebs_csi_role_arn": "arn:aws:iam::123456789012:role/ml-ebs-csi",
        "ebs_csi_kubeconfig": "/nonexistent/kubeconfig",
        # nothing may reach an API: a port nobody listens on
        "ebs_csi_aws_endpoint_url": "http://127.0.0.1:9",
        **extra,
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory_file),
            str(playbook),
            "-e",
            json.dumps(variables),
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        },
        cwd=tmp_path,
    )


def test_the_role_refuses_bad_classes_before_anything_is_applied(tmp_path):
    classes = [{"name": "gp3", "parameters": {"type": "gp3", "iops": 90000, "speed": "fast"}}]
    done = _play(tmp_path, {"ebs_csi_storage_classes": classes})
    assert done.returncode != 0
    out = done.stdout
    assert (
        "ebs_csi: ebs_csi_storage_classes: gp3: parameters: iops: 90000 is outside gp3's range 3000-80000"
        in out
    )
    assert "ebs_csi: ebs_csi_storage_classes: gp3: parameters: speed: not a parameter" in out
    assert "TASK [homeforge.homelab.ebs_csi : The EBS CSI driver as the EKS add-on" not in out


def test_the_role_refuses_a_bad_role_arn_before_anything_is_applied(tmp_path):
    done = _play(tmp_path, {"ebs_csi_role_arn": "arn:aws:iam::123456789012:user/me"})
    assert done.returncode != 0
    assert (
        "ebs_csi: ebs_csi_role_arn: arn:aws:iam::123456789012:user/me: not an IAM role ARN"
        in done.stdout
    )
    assert (
        "TASK [homeforge.homelab.ebs_csi : The EBS CSI driver as the EKS add-on" not in done.stdout
    )


# ---------------------------------------------------------------- the AWS name rules


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (
            "iam_role_arn",
            [
                "arn:aws:iam::123456789012:role/ebs",
                "arn:aws-us-gov:iam::123456789012:role/eks/ebs-csi",
            ],
            [
                "arn:aws:iam::123456789012:user/me",
                "arn:aws:iam::12345:role/x",
                "arn:aws:iam::123456789012:role/a b",
                "",
            ],
        ),
        (
            "kms_key_arn",
            [
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:us-gov-west-1:123456789012:alias/ebs",
            ],
            [
                "1234abcd-12ab-34cd-56ef-1234567890ab",
                "alias/ebs",
                "arn:aws:kms:eu-west-1:123456789012:key/x y",
            ],
        ),
        (
            "aws_region",
            ["eu-west-1", "us-gov-east-1", "ap-southeast-2"],
            ["europe", "eu-west", "EU-WEST-1"],
        ),
        ("eks_cluster_name", ["ml", "ml-prod_2"], ["-ml", "ml prod", "x" * 101, ""]),
        (
            "eks_addon_version",
            ["default", "latest", "v1.46.0-eksbuild.1"],
            ["1.46.0", "v1.46", "newest"],
        ),
    ],
)
def test_the_aws_name_rules(rule, good, bad):
    rules = importlib.import_module(
        "ansible_collections.homeforge.homelab.plugins.module_utils.validation"
    )
    assert [v for v in good if rules.RULES[rule](v)] == []
    assert [v for v in bad if not rules.RULES[rule](v)] == []
