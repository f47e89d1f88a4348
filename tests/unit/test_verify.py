"""homeforge verify: which roles a host carries, and reading pytest's JUnit output."""

from __future__ import annotations

from homeforge import inventory, paths
from homeforge import verify as verify_mod


def test_roles_follow_the_playbook(write):
    inv = inventory.load(
        write(
            "hosts.yml",
            """
        all:
          children:
            server: {hosts: {s1: {ansible_host: 10.0.0.1}}}
            agent: {hosts: {a1: {ansible_host: 10.0.0.2}}}
    """,
        )
    )
    playbook = write(
        "pb.yml",
        """
        - hosts: all
          roles: [homeforge.homelab.common]
        - hosts: server
          roles: [{role: homeforge.homelab.k3s_server}]
    """,
    )
    assert verify_mod.roles_by_host(inv, playbook, ["s1", "a1"]) == {
        "s1": ["common", "k3s_server"],
        "a1": ["common"],
    }
    site = verify_mod.roles_by_host(inv, paths.resolve_playbook("site"), ["s1"])
    assert site["s1"][0] == "common"
    assert verify_mod.suite_files("common")


def test_junit_outcomes_are_read(write):
    xml = write(
        "h.xml",
        """
        <testsuites><testsuite name="pytest">
          <testcase classname="roles.common.tests.test_common" name="test_hostname[paramiko://root@10.0.0.1:22]" file="roles/common/tests/test_common.py"/>
          <testcase classname="roles.common.tests.test_common" name="test_pkgs[paramiko://root@10.0.0.1:22-jq]" file="roles/common/tests/test_common.py">
            <failure message="AssertionError: jq missing">trace</failure>
          </testcase>
        </testsuite></testsuites>
    """,
    )
    checks = verify_mod._parse_junit(xml)
    assert [(c.role, c.name, c.outcome) for c in checks] == [
        ("common", "test_hostname", "passed"),
        ("common", "test_pkgs[jq]", "failed"),
    ]
    assert checks[1].message == "AssertionError: jq missing"
