"""Validation rules for inventory values, one per kind.

The rules live once, in the collection (plugins/module_utils/validation.py), where the
modules, the filters and the host-side code apply them at the point of use;
``homeforge inventory check`` applies the same ones before any run. This module
re-exports them for the CLI's code.
"""

from __future__ import annotations

from homeforge import module_utils

_rules = module_utils.load("validation")

address_problem = _rules.address_problem
inventory_name_problem = _rules.inventory_name_problem
interface_name_problem = _rules.interface_name_problem
cidr_problem = _rules.cidr_problem
port_problem = _rules.port_problem
unit_name_problem = _rules.unit_name_problem
env_name_problem = _rules.env_name_problem
url_suffix_problem = _rules.url_suffix_problem
absolute_path_problem = _rules.absolute_path_problem
bind_value_problem = _rules.bind_value_problem
listen_problem = _rules.listen_problem
env_value_problem = _rules.env_value_problem
user_name_problem = _rules.user_name_problem
device_list_problem = _rules.device_list_problem
apt_source_problem = _rules.apt_source_problem
dns_name_problem = _rules.dns_name_problem
kube_name_problem = _rules.kube_name_problem
email_problem = _rules.email_problem
https_url_problem = _rules.https_url_problem
iam_role_arn_problem = _rules.iam_role_arn_problem
kms_key_arn_problem = _rules.kms_key_arn_problem
aws_region_problem = _rules.aws_region_problem
eks_cluster_name_problem = _rules.eks_cluster_name_problem
eks_addon_version_problem = _rules.eks_addon_version_problem
ssm_activation_id_problem = _rules.ssm_activation_id_problem
ssm_activation_code_problem = _rules.ssm_activation_code_problem
iam_ra_node_name_problem = _rules.iam_ra_node_name_problem
kubelet_flag_problem = _rules.kubelet_flag_problem
base64_problem = _rules.base64_problem
version_problem = _rules.version_problem
sha256_problem = _rules.sha256_problem
image_digest_problem = _rules.image_digest_problem
quantity_problem = _rules.quantity_problem


def is_address(value: object) -> bool:
    """An IP address or a DNS host name."""
    return address_problem(value) is None


def is_port(value: object) -> bool:
    return port_problem(value) is None
