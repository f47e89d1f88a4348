"""testinfra suite for the eks_node role (molecule verify and `homeforge verify`). In the
lab nodeadm is the STAND-IN (tests/standins/nodeadm): these check the role's work
(release, NodeConfig, one registration), not a hybrid node joined to AWS."""

from __future__ import annotations

import json

import yaml


def test_the_pinned_nodeadm_is_current(host, hf_vars):
    link = host.file("/usr/local/bin/nodeadm")
    assert (
        link.is_symlink
        and link.linked_to
        == f"/usr/local/lib/nodeadm/{hf_vars['eks_node_nodeadm_version']}/nodeadm"
    )


def test_the_nodeconfig_is_private_and_names_the_cluster(host, hf_vars):
    config = host.file("/etc/homeforge/eks/nodeconfig.yaml")
    assert config.mode == 0o600 and config.user == "root"
    assert host.file("/etc/homeforge/eks").mode == 0o700
    spec = yaml.safe_load(config.content_string)["spec"]
    assert spec["cluster"] == spec["cluster"] | {
        "name": hf_vars["eks_node_cluster_name"],
        "region": hf_vars["eks_node_region"],
    }
    assert spec["cluster"]["apiServerEndpoint"].startswith("https://")


def test_the_node_is_registered_once_and_its_components_installed(host, hf_vars):
    assert host.file(
        f"/etc/homeforge/eks/installed-{hf_vars['eks_node_kubernetes_version']}-{hf_vars['eks_node_credential_provider']}"
    ).exists
    assert hf_vars["eks_node_kubernetes_version"] in host.check_output("kubelet --version")
    if hf_vars["eks_node_credential_provider"] == "ssm":
        registration = host.file("/var/lib/amazon/ssm/registration")
        assert registration.mode == 0o600
        assert json.loads(registration.content_string)["ManagedInstanceID"].startswith("mi-")
