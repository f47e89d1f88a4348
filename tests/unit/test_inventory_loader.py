"""Loading inventories: templates resolved or left to run time, INI booleans as Ansible
reads them, and files that cannot be read (binary, not UTF-8, duplicate keys, alias
bombs) reported in one line with exit 2."""

from __future__ import annotations

import pytest

from homeforge import checks, inventory
from homeforge.wireguard.planner import load_mesh_utils
from tests.unit.inventory_support import check_cli


def test_templated_port_is_resolved_not_a_traceback(write):
    path = write(
        "hosts.yml",
        "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, wireguard_port: '{{ 51820 + 1 }}'}\n",
    )
    assert check_cli(path)[0] == 0
    assert inventory.load(path).hostvars["h1"]["wireguard_port"] == 51821


def test_a_template_needing_facts_is_left_to_run_time(write):
    path = write(
        "hosts.yml",
        "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, wireguard_endpoint: '{{ ansible_default_ipv4.address }}'}\n",
    )
    assert check_cli(path)[0] == 0


FILES = {
    "binary inventory": (
        "hosts.yml",
        b"all:\n  hosts:\n    h\xff\xfe1: {}\n",
        "hosts.yml:3: not UTF-8 text",
    ),
    "NUL bytes": ("hosts.yml", b"all:\x00\n", "binary file"),
    "latin-1 group_vars": (
        "group_vars/all.yml",
        b"common_x: caf\xe9\n",
        "all.yml:1: not UTF-8 text",
    ),
    "group_vars as a list": (
        "group_vars/all.yml",
        b"- a\n- b\n",
        "all.yml: must be a mapping of variables, not list",
    ),
    "duplicate host": (
        "hosts.yml",
        b"all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n    h1: {ansible_host: 192.0.2.2}\n",
        "hosts.yml:4:5: malformed YAML: key 'h1' is given twice (first on line 3)",
    ),
    "duplicate variable": (
        "group_vars/all.yml",
        b"wireguard_port: 1\nwireguard_port: 2\n",
        "key 'wireguard_port' is given twice",
    ),
    "alias bomb": (
        "group_vars/all.yml",
        (
            "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
            + "".join(
                f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
                for p, n in zip("abcdef", "bcdefg", strict=True)
            )
        ).encode(),
        "an alias bomb?",
    ),
}


@pytest.mark.parametrize("name, content, expected", list(FILES.values()), ids=list(FILES))
def test_bad_files_are_one_line_and_exit_2(tmp_path, name, content, expected):
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n")
    (root / name).write_bytes(content)
    code, output = check_cli(root / "hosts.yml")
    assert code == 2, output
    assert expected in output, output
    assert len(output.strip().splitlines()) == 1, output


def test_merge_keys_are_not_duplicates(write):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            base: &base {common_extra_packages: [htop], x: 1}
          hosts:
            h1: {<<: *base, ansible_host: 192.0.2.1, x: 2}
        """,
    )
    assert check_cli(path)[0] == 0
    assert inventory.load(path).hostvars["h1"]["x"] == 2


def test_ini_booleans_follow_ansible(write):
    path = write(
        "hosts.ini",
        "[all]\nh1 ansible_host=192.0.2.1 wireguard_reachable=false wireguard_relay=h2\n"
        "h2 ansible_host=192.0.2.2 wireguard_reachable=yes\n",
    )
    inv = inventory.load(path)
    assert checks.check(inv) == []
    mesh = load_mesh_utils()
    hosts = {h.name: h for h in mesh.hosts_from_vars(["h1", "h2"], inv.hostvars)}
    assert hosts["h1"].reachable is False and hosts["h2"].reachable is True
    plan = mesh.plan("10.77.0.0/24", list(hosts.values()), need_keys=False)
    assert [p["name"] for p in plan["h1"]["peers"]] == ["h2"]  # through its relay only


def test_ini_boolean_that_is_not_one_is_reported(write):
    path = write("hosts.ini", "[all]\nh1 ansible_host=192.0.2.1 wireguard_reachable=maybe\n")
    code, output = check_cli(path)
    assert code == 2 and "host h1: wireguard_reachable:" in output
