"""Releases past their upstream end of support (plugins/module_utils/support.py): a warning
naming file, host and key for a version an inventory pins, one per inventory for a role's
default, nothing for a supported or unknown release; `inventory check` still exits 0."""

from __future__ import annotations

import datetime
import json
import re

import pytest
import yaml
from click.testing import CliRunner

from homeforge import checks, inventory, paths
from homeforge.checks import support
from homeforge.cli import main
from homeforge.module_utils import load

DAY = datetime.date(2026, 12, 6)
DEFAULTS = {
    ("k3s_server", "k3s_version"): "v1.31.4+k3s1",
    ("k3s_agent", "k3s_version"): "v1.31.4+k3s1",
    ("eks_node", "eks_node_kubernetes_version"): "1.31",
    ("ingress_traefik", "ingress_traefik_cert_manager_chart_version"): "v1.19.4",
    ("ingress_istio", "ingress_istio_version"): "1.31.1",
}
# Every version supported on DAY, so each test's lines are its own.
SUPPORTED = {
    "k3s_version": "v1.35.1+k3s1",
    "eks_node_kubernetes_version": "1.34",
    "ingress_traefik_cert_manager_chart_version": "v1.21.2",
    "ingress_istio_version": "1.31.1",
}


@pytest.fixture(autouse=True)
def defaults(monkeypatch):
    """The roles' defaults as of this test, so it does not change when a role's does."""
    monkeypatch.setattr(support, "role_default", lambda role, key: DEFAULTS[(role, key)])
    return DEFAULTS


def _cluster(write, all_vars: dict, server_vars: dict | None = None):
    data = {
        "all": {
            "vars": all_vars,
            "children": {
                "server": {
                    "hosts": {
                        "s1": {"ansible_host": "192.0.2.10", **(server_vars or {})},
                        "s2": {"ansible_host": "192.0.2.11"},
                    }
                },
                "agent": {"hosts": {"a1": {"ansible_host": "192.0.2.12"}}},
                "eks": {"hosts": {"e1": {"ansible_host": "192.0.2.20"}}},
            },
        }
    }
    return write("hosts.yml", yaml.safe_dump(data))


def _warned(path, on=DAY) -> list[str]:
    return support.warn_end_of_support(inventory.load(path), on)


def test_a_pinned_release_past_its_support_is_one_line_naming_file_host_and_key(write):
    path = _cluster(write, {**SUPPORTED, "k3s_version": "v1.31.4+k3s1"})
    assert _warned(path) == [
        f"{path}: host s1: k3s_version: v1.31.4+k3s1: Kubernetes 1.31 reached end of support"
        " on 2025-10-28; set a supported release"
    ]  # one line for the file's value, though four hosts read it
    assert _warned(_cluster(write, SUPPORTED)) == []


def test_each_product_by_its_own_calendar(write):
    pinned = {
        "homeforge_ingress": "traefik",
        "eks_node_kubernetes_version": "1.30",
        "ingress_traefik_cert_manager_chart_version": "v1.19.4",
    }
    path = _cluster(write, {**SUPPORTED, **pinned})
    assert _warned(path) == [
        f"{path}: host e1: eks_node_kubernetes_version: 1.30: EKS 1.30 reached end of extended"
        " support on 2026-07-23; set a supported release",
        f"{path}: host s1: ingress_traefik_cert_manager_chart_version: v1.19.4: cert-manager"
        " 1.19 reached end of support on 2026-07-08; set a supported release",
    ]
    path = _cluster(
        write, {**SUPPORTED, "homeforge_ingress": "istio"}, {"ingress_istio_version": "1.29.2"}
    )
    assert _warned(path) == [
        f"{path}: host s1: ingress_istio_version: 1.29.2: Istio 1.29 reached end of support on"
        " 2026-10-12; set a supported release"
    ]


def test_support_ends_after_its_last_day(write):
    path = _cluster(write, {**SUPPORTED, "k3s_version": "v1.34.2+k3s1"})
    assert _warned(path, datetime.date(2026, 10, 27)) == []
    assert len(_warned(path, datetime.date(2026, 10, 28))) == 1


def test_a_roles_default_past_its_support_is_said_once_per_inventory(write):
    path = _cluster(write, {"homeforge_ingress": "traefik"})
    assert _warned(path) == [
        f"{path}: host s1: k3s_version: v1.31.4+k3s1 (the role's default): Kubernetes 1.31"
        " reached end of support on 2025-10-28; set a supported release",
        f"{path}: host e1: eks_node_kubernetes_version: 1.31 (the role's default): EKS 1.31"
        " reached end of extended support on 2026-11-26; set a supported release",
        f"{path}: host s1: ingress_traefik_cert_manager_chart_version: v1.19.4 (the role's"
        " default): cert-manager 1.19 reached end of support on 2026-07-08; set a supported"
        " release",
    ]  # Istio's default is not used (homeforge_ingress traefik), and still supported


def test_only_the_hosts_whose_role_reads_the_variable(write):
    data = {"all": {"hosts": {"h1": {"ansible_host": "192.0.2.1", "k3s_version": "v1.29.0+k3s1"}}}}
    assert _warned(write("hosts.yml", yaml.safe_dump(data))) == []  # no server, agent or eks
    path = _cluster(write, {**SUPPORTED, "ingress_istio_version": "1.20.0"})
    assert _warned(path) == []  # homeforge_ingress is not istio


@pytest.mark.parametrize(
    "version", ["v1.99.0+k3s1", "latest", "{{ lookup('env', 'K3S') }}", "", 7, True, ["v1.31"]]
)
def test_an_unknown_release_or_a_template_is_no_warning_and_no_error(write, version):
    assert _warned(_cluster(write, {**SUPPORTED, "k3s_version": version})) == []


def test_a_release_older_than_every_dated_one_is_past_its_support(write):
    path = _cluster(write, {**SUPPORTED, "k3s_version": "v1.20.4+k3s1"})
    assert _warned(path) == [
        f"{path}: host s1: k3s_version: v1.20.4+k3s1: Kubernetes 1.20 is older than 1.29, which"
        " reached end of support on 2025-02-28; set a supported release"
    ]


def test_the_table_has_a_source_beside_every_date():
    source = (paths.content_root() / "plugins" / "module_utils" / "support.py").read_text()
    for _name, _what, ends in load("support").PRODUCTS.values():
        for minor, end in ends.items():
            datetime.date.fromisoformat(end)
            assert re.search(rf'"{re.escape(minor)}": "{end}",  # \S', source), (minor, end)


def test_inventory_check_shows_the_warning_and_exits_0(write, monkeypatch):
    monkeypatch.setattr(support, "today", lambda: DAY)
    path = _cluster(write, {**SUPPORTED, "k3s_version": "v1.33.5+k3s1"})
    warning = (
        f"{path}: host s1: k3s_version: v1.33.5+k3s1: Kubernetes 1.33 reached end of support"
        " on 2026-06-28; set a supported release"
    )
    assert checks.check(inventory.load(path)) == []
    assert checks.warnings(inventory.load(path)) == [warning]
    out = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert out.exit_code == 0
    assert f"warning: {warning}" in " ".join(out.output.split())  # the console may wrap it
    out = CliRunner().invoke(main, ["inventory", "check", "-i", str(path), "--json"])
    assert out.exit_code == 0
    reported = json.loads(out.output.splitlines()[0])
    assert (reported["ok"], reported["warnings"]) == (True, [warning])
