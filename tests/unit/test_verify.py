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


def test_a_check_whose_subject_is_a_stand_in_is_marked_so(tmp_path):
    """The verify plugin (homeforge.verify.subjects) run by pytest as verify runs it:
    a role's checks get the JUnit property naming the stand-in they looked at; a real
    program and a missing one give none; verify reads it back as "passed (stand-in)"."""
    import subprocess
    import sys

    standin = tmp_path / "k3s"
    standin.write_text('#!/usr/bin/python3\n"""STAND-IN for K3s: only the contract..."""\n')
    real = tmp_path / "ollama"
    real.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8)
    tests = tmp_path / "roles"
    for role in ("k3s_server", "ollama", "common"):
        (tests / role / "tests").mkdir(parents=True)
        (tests / role / "tests" / f"test_{role}.py").write_text(
            "def test_it(host):\n    assert host\n"
        )
    (tmp_path / "conftest.py").write_text(
        "from homeforge.verify import subjects\n"
        f"subjects.ROLE_SUBJECTS['k3s_server'] = (('K3s', {str(standin)!r}),)\n"
        f"subjects.ROLE_SUBJECTS['ollama'] = (('Ollama', {str(real)!r}), ('K3s', {str(tmp_path / 'absent')!r}))\n"
    )
    xml = tmp_path / "out.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "homeforge.verify.subjects",
            "--hosts",
            "local://",
            f"--junitxml={xml}",
            "-o",
            "junit_family=xunit1",
            "--rootdir",
            str(tmp_path),
            str(tests),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c.role: c for c in verify_mod._parse_junit(xml)}
    assert checks["k3s_server"].subject == "stand-in: K3s"
    assert checks["k3s_server"].shown == "passed (stand-in)"
    assert checks["ollama"].subject == "" and checks["ollama"].shown == "passed"
    assert checks["common"].subject == ""


def test_role_of_a_suite_file():
    from pathlib import Path

    from homeforge.verify.subjects import role_of

    assert role_of(Path("/x/roles/k3s_agent/tests/test_k3s_agent.py")) == "k3s_agent"
    assert role_of(Path("/x/tests/unit/test_verify.py")) == ""
