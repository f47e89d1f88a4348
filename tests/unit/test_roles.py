"""Every role keeps its contract: prefixed defaults, an argument spec that is the one
source of each variable's type, default and description, defaults/main.yml and the
README's variable table in step with it, a testinfra suite and a molecule scenario."""

from __future__ import annotations

import itertools
import re
import shutil
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


SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("[!_]*/molecule.yml"))


def scenario_suites(scenario: str) -> dict[str, str]:
    """The roles whose testinfra suites a scenario runs, each with the hosts it runs them
    on: testinfra's verifier runs one directory on its `hosts`; a scenario with the
    ansible verifier runs its verify.yml's `suites`, each on an inventory group."""
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    if config["verifier"]["name"] == "testinfra":
        directory = config["verifier"]["directory"]
        assert directory.startswith("../../roles/") and directory.endswith("/tests")
        role = directory.removeprefix("../../roles/").removesuffix("/tests")
        return {role: config["verifier"]["options"]["hosts"]}
    assert config["verifier"]["name"] == "ansible"
    verify = yaml.safe_load((ROOT / "molecule" / scenario / "verify.yml").read_text())
    return {suite["role"]: suite["hosts"] for suite in verify[0]["vars"]["suites"]}


@pytest.mark.parametrize("role", ROLES)
def test_role_has_testinfra_suite_and_molecule_scenario(role):
    assert list((ROOT / "roles" / role / "tests").glob("test_*.py")), "no testinfra suite"
    running = [s for s in SCENARIOS if role in scenario_suites(s)]
    assert running, f"no molecule scenario runs roles/{role}/tests"


def _create_playbook() -> list[dict]:
    return yaml.safe_load((ROOT / "molecule" / "_shared" / "create.yml").read_text())


PLATFORM_KEYS = {"name", "groups", "nfs_exports"}  # what molecule/_shared/create.yml reads


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_lists_only_what_differs(scenario):
    """Hosts by name and groups (the container shape is create.yml's), and testinfra
    checks them all."""
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    extra = [
        f"{platform['name']}: {key}"
        for platform in config["platforms"]
        for key in set(platform) - PLATFORM_KEYS
    ]
    assert not extra, f"create.yml reads only {sorted(PLATFORM_KEYS)}: {extra}"
    names = [platform["name"] for platform in config["platforms"]]
    # every host is checked: testinfra's list names them, or a suite runs on a group of it
    checked = set()
    for hosts in scenario_suites(scenario).values():
        checked |= {
            p["name"]
            for p in config["platforms"]
            if hosts in ("all", *p.get("groups", ())) or p["name"] in hosts.split(",")
        }
    assert checked == set(names), sorted(set(names) - checked)


def test_molecule_platform_names_are_unique_across_scenarios():
    """Scenarios run side by side (tests/tools/molecule_all.py): a host name in two
    scenarios would make one replace the other's container."""
    names = [
        platform["name"]
        for scenario in SCENARIOS
        for platform in yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())[
            "platforms"
        ]
    ]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def _podman_run_argv(platform: dict) -> list[str]:
    """The argv create.yml gives `podman run` for one platform, rendered by Jinja as
    Ansible renders it."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    task = next(t for t in _create_playbook()[0]["tasks"] if t["name"].startswith("The hosts ("))
    variables = {
        "item": platform,
        "molecule_network": "homeforge-molecule-demo",
        "molecule_key": "/tmp/eph/id_ed25519",
        "molecule_image": "localhost/homeforge-lab:abc",
    }
    template = trust_as_template(task["ansible.builtin.command"]["argv"])
    return Templar(loader=DataLoader(), variables=variables).template(template)


def _lab_run_argv(monkeypatch, nfs: bool) -> list[str]:
    """The argv `homeforge lab up` gives `podman run` for one host (lab._start)."""
    from homeforge import lab

    seen: list[tuple] = []
    monkeypatch.setattr(lab.podman, "run", lambda *args, **_: seen.append(args))
    where = lab.Lab("demo", "10.0.0.0/24", "img", False, [lab.LabHost("h", "demo-1", "10.0.0.2")])
    lab._start(where, where.hosts[0], Path("/tmp/eph/id_ed25519.pub"), nfs=nfs)
    return [str(a) for a in seen[0]]


def _options(argv: list[str], names: tuple[str, ...]) -> set[str]:
    """'--name value' pairs (and --flag=value words) of an argv, for the options named."""
    pairs = {f"{a} {b}" for a, b in itertools.pairwise(argv) if a in names}
    return pairs | {a for a in argv if a.split("=")[0] in names and "=" in a}


SHAPE = ("--cap-add", "--device", "--security-opt", "--systemd")


@pytest.mark.parametrize("nfs", [False, True])
def test_molecule_hosts_take_the_lab_hosts_container_options(monkeypatch, nfs):
    """create.yml repeats lab._start's container shape (systemd, caps, tun, sysctls, and
    for NFS-Ganesha CAP_DAC_READ_SEARCH): the two must not drift apart."""
    lab_argv = _lab_run_argv(monkeypatch, nfs)
    molecule_argv = _podman_run_argv({"name": "molecule-x-1", "nfs_exports": nfs})
    assert _options(lab_argv, SHAPE) == _options(molecule_argv, SHAPE)
    assert (
        ("destination=/srv/nfs" in " ".join(lab_argv))
        == nfs
        == ("destination=/srv/nfs" in " ".join(molecule_argv))
    )


def test_molecule_hosts_are_lab_shaped_containers_on_the_scenario_network():
    argv = _podman_run_argv({"name": "molecule-x-1"})
    assert argv[:2] == ["podman", "run"] and argv[-2:] == [
        "localhost/homeforge-lab:abc",
        "/sbin/init",
    ]
    joined = " ".join(argv)
    assert "--network homeforge-molecule-demo" in joined and "--systemd=always" in joined
    assert "--volume /tmp/eph/id_ed25519.pub:/root/.ssh/authorized_keys:ro" in joined
    assert "DAC_READ_SEARCH" not in joined and "/srv/nfs" not in joined


def test_molecule_nfs_exports_gets_a_volume_of_its_own_scenario():
    joined = " ".join(_podman_run_argv({"name": "molecule-x-1", "nfs_exports": True}))
    assert "--cap-add DAC_READ_SEARCH" in joined
    assert "--mount type=volume,source=homeforge-molecule-demo-nfs,destination=/srv/nfs" in joined


def test_molecule_create_and_destroy_name_the_same_network():
    destroy = yaml.safe_load((ROOT / "molecule" / "_shared" / "destroy.yml").read_text())
    names = [
        t["ansible.builtin.set_fact"]["molecule_network"]
        for playbook in (_create_playbook(), destroy)
        for t in playbook[0]["tasks"]
        if "ansible.builtin.set_fact" in t
    ]
    assert len(names) == 2 and names[0] == names[1]


@pytest.mark.parametrize("role", ROLES)
def test_site_playbook_uses_the_role(role):
    site = (ROOT / "playbooks" / "site.yml").read_text()
    assert f"homeforge.homelab.{role}" in site


# Roles other roles include for the steps they share (include_role tasks_from: ENTRY),
# never run on their own: no `main` entry point (so not in ROLES), no defaults, no play in
# site.yml and no molecule scenario; the scenarios of the roles that include them test them.
INTERNAL_ROLES = {"k3s_common": ["k3s_server", "k3s_agent", "nfs_provisioner", "ebs_csi"]}


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
    callers_of = {entry: set() for entry in spec}
    for caller in INTERNAL_ROLES[role]:
        text = "".join(p.read_text() for p in (ROOT / "roles" / caller / "tasks").glob("*.yml"))
        used = re.findall(rf"name: homeforge\.homelab\.{role}\n\s+tasks_from: (\S+)", text)
        # an entry point named as in the spec, so Ansible checks the parameters against it
        assert used and set(used) <= set(spec), (caller, used)
        assert caller in ROLES
        for entry in used:
            callers_of[entry].add(caller)
    for entry, entry_spec in spec.items():
        assert f"`{entry}.yml`" in readme, entry
        for name, option in entry_spec["options"].items():
            assert option.get("required") and option.get("description"), (entry, name)
            if name.startswith(f"{role}_"):
                assert f"`{name}`" in readme, (entry, name)
                continue
            # otherwise a shared variable the entry point's callers declare and default
            assert callers_of[entry] <= set(shared[name]["roles"]), (entry, name)
            assert option["type"] == shared[name]["type"], (entry, name)
            assert option.get("no_log", False) == shared[name].get("no_log", False), (entry, name)
    assert not (base / "defaults").exists() and not (ROOT / "molecule" / role).exists()
    assert f"homeforge.homelab.{role}" not in (ROOT / "playbooks" / "site.yml").read_text()


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
