"""Every role keeps its contract: prefixed defaults, an argument spec, a README
that documents each variable, a testinfra suite and a molecule scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())


def test_there_are_roles():
    assert "common" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_prefixed_specified_and_documented(role):
    base = ROOT / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    readme = (base / "README.md").read_text()
    assert all(key.startswith(f"{role}_") for key in defaults), "unprefixed default"
    assert set(defaults) == set(options), "defaults and argument spec disagree"
    undocumented = [key for key in defaults if f"`{key}`" not in readme]
    assert not undocumented, f"README lacks {undocumented}"


@pytest.mark.parametrize("role", ROLES)
def test_role_has_testinfra_suite_and_molecule_scenario(role):
    assert list((ROOT / "roles" / role / "tests").glob("test_*.py")), "no testinfra suite"
    scenario = yaml.safe_load((ROOT / "molecule" / role / "molecule.yml").read_text())
    assert scenario["verifier"]["directory"] == f"../../roles/{role}/tests"


@pytest.mark.parametrize("role", ROLES)
def test_site_playbook_uses_the_role(role):
    site = (ROOT / "playbooks" / "site.yml").read_text()
    assert f"homeforge.homelab.{role}" in site
