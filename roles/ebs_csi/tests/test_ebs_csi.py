"""testinfra suite for the ebs_csi role (molecule verify and `homeforge verify`).

Skipped unless the inventory sets ``homeforge_storage: ebs``. What can be checked depends
on the path:

- ``helm`` (K3s on EC2): the manifest on the first server, 0600, with the pinned chart and
  the classes the inventory asks for, and on no other server. In the lab K3s is a STAND-IN
  (tests/standins/k3s): this checks what the role wrote, not that K3s installed the chart,
  and no EBS volume is provisioned anywhere.
- ``addon`` (EKS): the role leaves nothing on the hosts. For the first host of group eks,
  the suite asks from the controller the EKS API for the add-on (ACTIVE, with the role the
  inventory names) and, with ``ebs_csi_kubeconfig``, the cluster for the StorageClasses.
"""

from __future__ import annotations

import json

import pytest
import yaml

MANIFEST = "/var/lib/rancher/k3s/server/manifests/homeforge-ebs-csi.yaml"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


@pytest.fixture(scope="module")
def ebs(hf_vars):
    if hf_vars.get("homeforge_storage") != "ebs":
        pytest.skip("the inventory does not ask for EBS storage (homeforge_storage)")
    return hf_vars


def _first(hf_vars, group: str) -> str:
    return (hf_vars["groups"].get(group) or [""])[0]


def _wanted(hf_vars) -> dict[str, dict]:
    """name -> (default?, reclaim policy, parameters as strings), as the role renders them."""
    from homeforge.module_utils import load

    as_bool = load("validation").as_bool
    rules = load("ebs")
    wanted = {}
    for entry in hf_vars["ebs_csi_storage_classes"]:
        parameters = {"encrypted": "true", **entry.get("parameters", {})}
        wanted[entry["name"]] = {
            "default": "true" if as_bool(entry.get("default", False)) else "false",
            "reclaimPolicy": entry.get("reclaim_policy", "Delete"),
            "parameters": {str(k): rules.parameter_value(v) for k, v in parameters.items()},
        }
    return wanted


def _seen(objects) -> dict[str, dict]:
    return {
        o["metadata"]["name"]: {
            "default": o["metadata"].get("annotations", {}).get(DEFAULT_CLASS, "false"),
            "reclaimPolicy": o.get("reclaimPolicy", "Delete"),
            "parameters": o.get("parameters", {}),
        }
        for o in objects
        if o.get("kind", "StorageClass") == "StorageClass"
        and o.get("provisioner") == "ebs.csi.aws.com"
    }


# ---------------------------------------------------------------- helm (K3s on EC2)


def test_the_manifest_is_private_and_on_the_first_server_only(host, ebs, hf_host):
    if ebs["ebs_csi_install"] != "helm":
        pytest.skip("the add-on leaves nothing on the hosts")
    manifest = host.file(MANIFEST)
    if hf_host != _first(ebs, ebs["k3s_server_group"]):
        assert not manifest.exists  # one copy, on the first server
        return
    assert manifest.exists and manifest.mode == 0o600 and manifest.user == "root"


def test_the_manifest_pins_the_chart_and_holds_the_inventorys_classes(host, ebs, hf_host):
    if ebs["ebs_csi_install"] != "helm" or hf_host != _first(ebs, ebs["k3s_server_group"]):
        pytest.skip("the manifest is on the first server, with the chart")
    objects = [o for o in yaml.safe_load_all(host.file(MANIFEST).content_string) if o]
    chart = next(o for o in objects if o["kind"] == "HelmChart")
    assert chart["spec"]["chart"] == "aws-ebs-csi-driver"
    assert chart["spec"]["version"] == str(ebs["ebs_csi_chart_version"])
    values = yaml.safe_load(chart["spec"]["valuesContent"]) or {}
    if ebs["ebs_csi_region"]:
        assert values["controller"]["region"] == ebs["ebs_csi_region"]
    assert _seen(objects) == _wanted(ebs)


SKIP = "/var/lib/rancher/k3s/server/manifests/local-storage.yaml.skip"


def test_one_default_class_and_k3s_does_not_make_local_path_default_again(host, ebs, hf_host):
    """With an EBS class as the default, K3s's local-path is not (one default class), and
    every server has local-storage.yaml.skip, so a K3s restart does not make it the default
    again (K3s applies its packaged manifests at every start)."""
    if ebs["ebs_csi_install"] != "helm":
        pytest.skip("K3s only")
    wanted = [n for n, c in _wanted(ebs).items() if c["default"] == "true"]
    if not wanted:
        pytest.skip("no EBS class is the default")
    if hf_host in ebs["groups"].get(ebs["k3s_server_group"], []):
        assert host.file(SKIP).exists
    if hf_host != _first(ebs, ebs["k3s_server_group"]):
        return
    classes = json.loads(host.check_output("k3s kubectl get storageclass -o json"))["items"]
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"
    ]
    assert defaults == wanted


# ---------------------------------------------------------------- addon (EKS)


def _addon_host(ebs, hf_host):
    if ebs["ebs_csi_install"] != "addon" or hf_host != _first(ebs, "eks"):
        pytest.skip("the add-on is checked once, from the controller, for the first eks host")


def test_the_addon_is_active_with_the_inventorys_role(ebs, hf_host):
    _addon_host(ebs, hf_host)
    boto3 = pytest.importorskip("boto3")
    eks = boto3.client(
        "eks",
        region_name=ebs["ebs_csi_region"],
        endpoint_url=ebs.get("ebs_csi_aws_endpoint_url") or None,
    )
    addon = eks.describe_addon(
        clusterName=ebs["ebs_csi_cluster_name"], addonName="aws-ebs-csi-driver"
    )["addon"]
    assert addon["status"] == "ACTIVE", addon.get("health")
    if ebs["ebs_csi_identity"] == "irsa":
        assert addon.get("serviceAccountRoleArn") == ebs["ebs_csi_role_arn"]
    else:
        roles = [
            eks.describe_pod_identity_association(
                clusterName=ebs["ebs_csi_cluster_name"], associationId=arn.rsplit("/", 1)[-1]
            )["association"]["roleArn"]
            for arn in addon.get("podIdentityAssociations", [])
        ]
        assert roles == [ebs["ebs_csi_role_arn"]]


def test_the_cluster_has_the_inventorys_classes(ebs, hf_host):
    _addon_host(ebs, hf_host)
    if not ebs.get("ebs_csi_kubeconfig"):
        pytest.skip("no kubeconfig for the cluster")
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=ebs["ebs_csi_kubeconfig"])
    listed = kubernetes.client.StorageV1Api(client).list_storage_class()
    objects = [client.sanitize_for_serialization(item) for item in listed.items]
    seen = _seen(objects)
    wanted = _wanted(ebs)
    assert {name: seen.get(name) for name in wanted} == wanted
