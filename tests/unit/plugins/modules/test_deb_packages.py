"""deb_packages, run for real by Ansible on the local host (check mode where it would change it)."""

from __future__ import annotations

import pytest
from ansible_collections.homeforge.homelab.plugins.modules import deb_packages


def test_deb_packages_asks_dpkg_and_changes_nothing_when_installed(run_module):
    out = run_module("deb_packages", {"names": ["bash", "coreutils"]})
    assert not out["changed"] and out["missing"] == [] and not out["cache_updated"]


def test_deb_packages_check_mode_reports_missing_without_installing(run_module):
    out = run_module("deb_packages", {"names": ["bash", "homeforge-no-such-package"]}, "--check")
    assert out["changed"] and out["missing"] == ["homeforge-no-such-package"]


def test_deb_packages_refuses_versions_and_globs(run_module):
    out = run_module("deb_packages", {"names": ["curl=7.88", "lib*"]})
    assert out["failed"] and "not plain package names: curl=7.88, lib*" in out["msg"]


@pytest.mark.parametrize("name", ["jq", "libc6:amd64", "g++", "python3.11"])
def test_deb_packages_plain_names(name):
    assert deb_packages.NAME_RE.fullmatch(name)


@pytest.mark.parametrize("name", ["-o", "jq\n", "jq ", "lib*", "curl=7.88", "a"])
def test_deb_packages_not_plain_names(name):
    assert not deb_packages.NAME_RE.fullmatch(name)


def test_deb_packages_without_dpkg_fails_clearly(call_module, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # dpkg-query is in /usr/bin
    out = call_module(deb_packages, {"names": ["bash"]})
    assert out["failed"] and 'required executable "dpkg-query"' in out["msg"]
