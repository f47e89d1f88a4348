"""What the nfs_provisioner role writes, checked against the upstream schemas: the
HelmChart against helm-controller's CRD, the chart values against csi-driver-nfs's own
values.yaml (../shared/charts/csi-driver-nfs), the StorageClass against Kubernetes at
the pinned version; and its inventory lines."""

from __future__ import annotations

import pytest
import yaml

from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render_objects

ROLE = "nfs_provisioner"
SERVER = {"_nfs_provisioner_address": "10.77.0.1", "_nfs_provisioner_share": "/srv/nfs/k8s"}


def _objects(**more):
    return render_objects(ROLE, "objects.yml.j2", **{**SERVER, **more})


def _kind(objects, kind):
    return next(o for o in objects if o["kind"] == kind)


def test_the_chart_and_the_storageclass_match_the_upstream_schemas():
    objects = _objects()
    assert [o["kind"] for o in objects] == ["HelmChart", "StorageClass"]
    kube_schemas.validate_all(objects)
    values = yaml.safe_load(_kind(objects, "HelmChart")["spec"]["valuesContent"])
    assert kube_schemas.value_problems("csi-driver-nfs", values) == []
    assert values["kubeletDir"] == "/var/lib/kubelet"  # K3s's kubelet keeps the default root


def test_the_storageclass_says_where_volumes_go_and_how_they_mount():
    sc = _kind(_objects(), "StorageClass")
    assert sc["provisioner"] == "nfs.csi.k8s.io"
    assert sc["parameters"]["server"] == "10.77.0.1" and sc["parameters"]["share"] == "/srv/nfs/k8s"
    assert (
        sc["parameters"]["subDir"]
        == "${pvc.metadata.namespace}-${pvc.metadata.name}-${pv.metadata.name}"
    )
    assert sc["mountOptions"] == ["nfsvers=4.1"]
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["reclaimPolicy"] == "Delete" and sc["allowVolumeExpansion"] is True


def test_a_retained_non_default_class():
    sc = _kind(
        _objects(
            nfs_provisioner_default_class=False,
            nfs_provisioner_reclaim_policy="Retain",
            nfs_provisioner_storage_class="nfs-client",
            nfs_provisioner_on_delete="archive",
        ),
        "StorageClass",
    )
    assert sc["metadata"]["name"] == "nfs-client" and sc["reclaimPolicy"] == "Retain"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"
    assert sc["parameters"]["onDelete"] == "archive"
    kube_schemas.validate(sc)


def test_the_pinned_chart_version_is_the_one_the_values_were_checked_against():
    assert str(defaults(ROLE)["nfs_provisioner_chart_version"]) == kube_schemas.chart_version(
        "csi-driver-nfs"
    ).removeprefix("v")  # the repository's index names the 4.11+ charts without the v


def test_a_values_key_the_chart_does_not_have_is_caught():
    objects = _objects(nfs_provisioner_values={"controller": {"replica": 2}})
    values = yaml.safe_load(_kind(objects, "HelmChart")["spec"]["valuesContent"])
    assert any(
        "controller.replica" in p for p in kube_schemas.value_problems("csi-driver-nfs", values)
    )


def test_a_misspelt_storageclass_field_fails_the_schema():
    sc = _kind(_objects(), "StorageClass")
    sc["mountOption"] = sc.pop("mountOptions")
    assert any("mountOption" in p for p in kube_schemas.problems(sc))


def _problems(inventory_problems, hostvars: str) -> list[str]:
    return inventory_problems(
        f"""
        all:
          children:
            server:
              hosts:
                s1: {{ansible_host: 192.0.2.40, {hostvars}}}
        """
    )


@pytest.mark.parametrize(
    "hostvars, needle",
    [
        (
            "nfs_provisioner_server: 'nas;reboot'",
            "nfs_provisioner_server: 'nas;reboot': not an IP address or DNS name",
        ),
        (
            "nfs_provisioner_share: volume1/k8s",
            "nfs_provisioner_share: 'volume1/k8s': must be an absolute path",
        ),
        (
            "nfs_provisioner_storage_class: NFS_Client",
            "nfs_provisioner_storage_class: 'NFS_Client': not a Kubernetes name",
        ),
        (
            "nfs_provisioner_mount_options: ['nfsvers=4.1 hard']",
            "nfs_provisioner_mount_options: 'nfsvers=4.1 hard'",
        ),
        ("nfs_provisioner_sub_dir: '../etc'", "nfs_provisioner_sub_dir: '../etc': letters, digits"),
        (
            "nfs_provisioner_repo: 'http://charts.example'",
            "nfs_provisioner_repo: 'http://charts.example'",
        ),
        (
            "nfs_provisioner_chart_version: latest",
            "nfs_provisioner_chart_version: 'latest': a chart version",
        ),
        (
            "nfs_provisioner_reclaim_policy: Keep",
            "nfs_provisioner_reclaim_policy: value of nfs_provisioner_reclaim_policy must be one of",
        ),
    ],
)
def test_inventory_check_names_file_host_and_key(hostvars, needle, inventory_problems):
    found = _problems(inventory_problems, hostvars)
    assert any(needle in line and "hosts.yml: host s1: " in line for line in found), found


def test_a_nas_inventory_has_no_problem(inventory_problems):
    assert (
        _problems(
            inventory_problems,
            "nfs_provisioner_server: 192.168.2.2, nfs_provisioner_share: /volume1/k8s-data",
        )
        == []
    )


def test_a_class_whose_server_or_reclaim_policy_changes_is_replaced_not_updated():
    import importlib

    importlib.import_module("tests.unit.plugins.support")  # the checkout as the collection
    replacements = importlib.import_module(
        "ansible_collections.homeforge.homelab.plugins.filter.ebs_storage_class_replacements"
    ).ebs_storage_class_replacements

    before = [_kind(_objects(), "StorageClass")]
    assert replacements(before, [_kind(_objects(), "StorageClass")]) == []
    assert replacements(
        before, [_kind(_objects(_nfs_provisioner_address="10.77.0.9"), "StorageClass")]
    ) == ["nfs"]
    assert replacements(
        before, [_kind(_objects(nfs_provisioner_reclaim_policy="Retain"), "StorageClass")]
    ) == ["nfs"]
    # mount options and the default flag may change in place
    assert (
        replacements(before, [_kind(_objects(nfs_provisioner_default_class=False), "StorageClass")])
        == []
    )
