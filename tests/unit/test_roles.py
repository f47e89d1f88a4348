"""Every role keeps its contract: prefixed defaults, an argument spec that is the one
source of each variable's type, default and description, defaults/main.yml and the
README's variable table in step with it, a testinfra suite and a molecule scenario."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tests.tools import role_docs

ROOT = Path(__file__).resolve().parents[2]
ROLES = role_docs.roles(ROOT)


def test_there_are_roles():
    assert "common" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_prefixed_specified_and_documented(role):
    base = ROOT / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    readme = (base / "README.md").read_text()
    shared = role_docs.shared_with(ROOT, role)
    unprefixed = [key for key in defaults if not key.startswith(f"{role}_") and key not in shared]
    assert not unprefixed, f"unprefixed defaults {unprefixed}"
    assert set(defaults) == set(role_docs.spec_defaults(options)), (
        "defaults and argument spec disagree"
    )
    undocumented = [key for key in options if f"`{key}`" not in readme]
    assert not undocumented, f"README lacks {undocumented}"


@pytest.mark.parametrize("role", ROLES)
def test_spec_types_describes_and_defaults_every_option(role):
    assert role_docs.spec_problems(ROOT, role) == []


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_pass_the_spec(role):
    """What Ansible checks at role start, applied to the defaults themselves."""
    options = role_docs.spec_options(ROOT, role)
    result = ArgumentSpecValidator(options).validate({}, validate_role_argument_spec=True)
    assert result.error_messages == []


@pytest.mark.parametrize("role", ROLES)
def test_defaults_file_equals_spec_defaults(role):
    assert role_docs.defaults_problems(ROOT, role) == []


@pytest.mark.parametrize("role", ROLES)
def test_readme_table_is_generated_from_spec(role):
    assert role_docs.readme_problems(ROOT, role) == []


def test_shared_variables_are_declared_alike_by_their_roles():
    assert role_docs.shared_problems(ROOT) == []


@pytest.mark.parametrize("role", ROLES)
def test_role_has_testinfra_suite_and_molecule_scenario(role):
    assert list((ROOT / "roles" / role / "tests").glob("test_*.py")), "no testinfra suite"
    scenario = yaml.safe_load((ROOT / "molecule" / role / "molecule.yml").read_text())
    assert scenario["verifier"]["directory"] == f"../../roles/{role}/tests"


SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("[!_]*/molecule.yml"))


def _molecule_base() -> dict:
    text = (ROOT / "molecule" / "_shared" / "base.yml").read_text()
    return yaml.safe_load(text.replace("${HOMEFORGE_LAB_IMAGE}", "lab-image"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_lists_only_what_differs(scenario):
    """Hosts by name (the container shape is base.yml's), and testinfra checks them all."""
    shared = _molecule_base()["provisioner"]["inventory"]["host_vars"]["localhost"]
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    repeated = [
        f"{platform['name']}: {key}"
        for platform in config["platforms"]
        for key, value in platform.items()
        if shared["molecule_platform"].get(key) == value
    ]
    assert not repeated, f"repeats molecule/_shared/base.yml: {repeated}"
    names = [platform["name"] for platform in config["platforms"]]
    assert config["verifier"]["options"]["hosts"] == ",".join(names)


def test_molecule_driver_sees_platforms_completed_from_the_shared_definition(tmp_path):
    """The podman driver's create and destroy read molecule_yml on localhost: Ansible
    itself resolves it here, from base.yml's localhost variables and an inventory
    shaped like molecule's."""
    base = _molecule_base()
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    localhost = base["provisioner"]["inventory"]["host_vars"]["localhost"]
    (inventory / "host_vars" / "localhost").write_text(yaml.safe_dump(localhost))
    for scenario in SCENARIOS:
        config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
        merged = tmp_path / f"{scenario}.yml"  # stands in for molecule's merged config
        merged.write_text(yaml.safe_dump({**base, **config}))
        molecule_vars = {  # as molecule writes them
            "molecule_file": str(merged),
            "molecule_yml": "{{ lookup('file', molecule_file) | from_yaml }}",
        }
        (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"vars": molecule_vars}}))
        adhoc = [sys.executable, "-m", "ansible", "adhoc", "localhost", "-c", "local"]
        show = ["-m", "debug", "-a", "var=molecule_yml.platforms"]
        result = subprocess.run(
            [*adhoc, "-i", str(inventory), *show],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
            env={
                **os.environ,
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                "ANSIBLE_LOCALHOST_WARNING": "0",
            },
        )
        seen = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        expected = [{**localhost["molecule_platform"], **p} for p in config["platforms"]]
        assert seen["molecule_yml.platforms"] == expected, scenario


@pytest.mark.parametrize("role", ROLES)
def test_site_playbook_uses_the_role(role):
    site = (ROOT / "playbooks" / "site.yml").read_text()
    assert f"homeforge.homelab.{role}" in site


# Roles other roles include for the steps they share (include_role tasks_from: ENTRY),
# never run on their own: no `main` entry point (so not in ROLES), no defaults, no play in
# site.yml and no molecule scenario; the scenarios of the roles that include them test them.
INTERNAL_ROLES = {"k3s_common": ["k3s_server", "k3s_agent"]}


def test_every_role_directory_is_a_role_or_an_internal_one():
    found = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
    assert found == sorted([*ROLES, *INTERNAL_ROLES])


@pytest.mark.parametrize("role", sorted(INTERNAL_ROLES))
def test_an_internal_role_specifies_its_entry_points_and_is_tested_through_its_callers(role):
    base = ROOT / "roles" / role
    spec = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert "main" not in spec and set(spec) == {p.stem for p in (base / "tasks").glob("*.yml")}
    readme = (base / "README.md").read_text()
    shared = role_docs.shared_variables(ROOT)
    for entry, entry_spec in spec.items():
        assert f"`{entry}.yml`" in readme, entry
        for name, option in entry_spec["options"].items():
            assert option.get("required") and option.get("description"), (entry, name)
            if name.startswith(f"{role}_"):
                assert f"`{name}`" in readme, (entry, name)
                continue
            # otherwise a shared variable its callers declare and default
            assert set(INTERNAL_ROLES[role]) <= set(shared[name]["roles"]), (entry, name)
            assert option["type"] == shared[name]["type"], (entry, name)
            assert option.get("no_log", False) == shared[name].get("no_log", False), (entry, name)
    assert not (base / "defaults").exists() and not (ROOT / "molecule" / role).exists()
    assert f"homeforge.homelab.{role}" not in (ROOT / "playbooks" / "site.yml").read_text()
    for caller in INTERNAL_ROLES[role]:
        text = "".join(p.read_text() for p in (ROOT / "roles" / caller / "tasks").glob("*.yml"))
        used = re.findall(rf"name: homeforge\.homelab\.{role}\n\s+tasks_from: (\S+)", text)
        # an entry point named as in the spec, so Ansible checks the parameters against it
        assert used and set(used) <= set(spec), (caller, used)
        assert caller in ROLES


# ---------------------------------------------------------------- the checks catch drift


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """A copy of this collection's roles (and meta/) to break on purpose."""
    shutil.copytree(ROOT / "roles", tmp_path / "roles")
    shutil.copytree(ROOT / "meta", tmp_path / "meta")
    assert role_docs.problems(tmp_path) == []
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_check_catches_a_default_changed_in_one_place(collection):
    _edit(collection / "roles/common/defaults/main.yml", "valid_time: 3600", "valid_time: 60")
    assert role_docs.problems(collection) == [
        "roles/common/defaults/main.yml: common_apt_cache_valid_time:"
        " 60 here, 3600 in meta/argument_specs.yml"
    ]


def test_check_catches_a_hand_edited_table_and_write_restores_it(collection):
    readme = collection / "roles/wireguard/README.md"
    original = readme.read_text()
    _edit(readme, "| `wg0` |", "| `wg1` |")
    assert role_docs.readme_problems(collection, "wireguard") != []
    assert role_docs.write(collection) == [readme]
    assert readme.read_text() == original


def test_check_catches_a_spec_change_not_carried_to_defaults_and_readme(collection):
    _edit(
        collection / "roles/wireguard/meta/argument_specs.yml", "default: 51820", "default: 51821"
    )
    found = role_docs.problems(collection)
    assert len(found) == 2
    assert found[0].startswith("roles/wireguard/defaults/main.yml: wireguard_port: 51820 here")
    assert found[1].startswith("roles/wireguard/README.md: variable table differs")


def test_check_catches_a_nested_default_of_another_type(collection):
    _edit(collection / "roles/common/defaults/main.yml", "ip_forward: 1", "ip_forward: true")
    assert role_docs.defaults_problems(collection, "common") == [
        "roles/common/defaults/main.yml: common_sysctls:"
        " {net.ipv4.ip_forward: true, net.ipv6.conf.all.forwarding: 1} here,"
        " {net.ipv4.ip_forward: 1, net.ipv6.conf.all.forwarding: 1} in meta/argument_specs.yml"
    ]


def test_check_catches_an_undescribed_option(collection):
    _edit(
        collection / "roles/common/meta/argument_specs.yml",
        "        description: NTP pools chrony uses.\n",
        "",
    )
    assert role_docs.spec_problems(collection, "common") == [
        "roles/common/meta/argument_specs.yml: common_ntp_pools: no description"
    ]


def _add_option(collection: Path, role: str, name: str, option: dict) -> None:
    spec_file = collection / "roles" / role / "meta" / "argument_specs.yml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["argument_specs"]["main"]["options"][name] = option
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    defaults_file = collection / "roles" / role / "defaults" / "main.yml"
    defaults_file.write_text(defaults_file.read_text() + yaml.safe_dump({name: option["default"]}))


def test_shared_variables_must_agree_across_their_roles(collection):
    token = {"type": "str", "no_log": True, "description": "A shared token.", "default": ""}
    shared_file = collection / "meta/shared_variables.yml"
    shared = yaml.safe_load(shared_file.read_text())
    shared["variables"]["lab_token"] = {**token, "roles": ["common", "wireguard"]}
    shared_file.write_text(yaml.safe_dump(shared))
    _add_option(collection, "common", "lab_token", token)
    _add_option(collection, "wireguard", "lab_token", {**token, "description": "Token."})
    role_docs.write(collection)
    assert role_docs.problems(collection) == [
        "roles/wireguard/meta/argument_specs.yml: lab_token: differs from"
        " meta/shared_variables.yml in description"
    ]
    assert "Shared with `wireguard`." in (collection / "roles/common/README.md").read_text()


def test_an_unprefixed_variable_must_be_shared(collection):
    _add_option(
        collection, "common", "k3s_version", {"type": "str", "description": "x", "default": ""}
    )
    assert role_docs.spec_problems(collection, "common") == [
        "roles/common/meta/argument_specs.yml: k3s_version: neither prefixed common_"
        " nor shared with this role in meta/shared_variables.yml"
    ]
