"""Bad input: one clear line, exit 2 (or 3 for the environment), nothing applied."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from homeforge.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def inv(write):
    return write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 127.0.0.1, ansible_port: PORT}
    """.replace("PORT", str(_closed_port())),
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def no_runs(state) -> bool:
    return not (state / "runs").exists() or not any((state / "runs").iterdir())


def test_inventory_check_ok(write):
    path = write("hosts.yml", "all:\n  hosts:\n    h1: {ansible_host: 10.0.0.1}\n")
    out = run("inventory", "check", "-i", str(path))
    assert out.exit_code == 0 and "ok (1 hosts" in " ".join(out.output.split())


def test_inventory_check_lists_every_problem_and_exits_2(write):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 10.0.0.1, ansible_port: 0}
            h2: {ansible_host: 10.0.0.1, common_hostnme: x}
    """,
    )
    out = run("inventory", "check", "-i", str(path))
    assert out.exit_code == 2
    assert f"{path}: host h1: ansible_port: '0' is not a TCP port" in out.output
    assert (
        f"{path}: host h2: common_hostnme: unknown variable (did you mean common_hostname?)"
        in out.output
    )
    assert "inventory has 2 problem(s)" in out.output


def test_apply_with_bad_inventory_applies_nothing(write, isolated_state):
    path = write("hosts.yml", "all:\n  hosts:\n    h1: {ansible_host: 999.1.1.1}\n")
    out = run("apply", "site", "-i", str(path))
    assert out.exit_code == 2 and "nothing was applied" in out.output
    assert no_runs(isolated_state)


def test_unknown_playbook(inv, isolated_state):
    out = run("apply", "sight", "-i", str(inv))
    assert out.exit_code == 2
    assert (
        "unknown playbook 'sight': choose one of check, mesh, models, reset, site, upgrade or"
        " give a path" in out.output
    )
    assert no_runs(isolated_state)


def test_missing_inventory(tmp_path):
    out = run("apply", "site", "-i", str(tmp_path / "missing.yml"))
    assert out.exit_code == 2 and "missing.yml: inventory not found" in out.output


def test_no_inventory_and_no_lab(monkeypatch, tmp_path):
    out = run("apply", "site")
    assert out.exit_code == 2 and "no inventory: pass -i INVENTORY" in out.output


def test_limit_matching_nothing(inv, isolated_state):
    out = run("apply", "site", "-i", str(inv), "--limit", "nosuchhost")
    assert out.exit_code == 2 and "--limit 'nosuchhost' matches no host" in out.output
    assert no_runs(isolated_state)


def test_bad_extra_vars(inv, monkeypatch, isolated_state):
    # reachable host so the check gets as far as the extra vars
    monkeypatch.setattr("homeforge.runner.preflight.unreachable_hosts", lambda *a, **k: [])
    out = run("apply", "site", "-i", str(inv), "-e", "justaword")
    assert (
        out.exit_code == 2
        and "-e justaword: expected key=value, @file or a JSON object" in out.output
    )


def test_unreachable_host_stops_before_any_change(inv, isolated_state):
    out = run("apply", "site", "-i", str(inv))
    assert out.exit_code == 1
    assert "host h1: ansible_host: 127.0.0.1:" in out.output and "unreachable" in out.output
    assert "nothing was applied" in out.output
    assert no_runs(isolated_state)


def test_bad_cli_arguments_exit_2():
    assert run("apply").exit_code == 2
    assert run("apply", "site", "--forks", "0").exit_code == 2
    assert run("lab", "up", "--nodes", "0").exit_code == 2
    assert "out of range" in run("lab", "up", "--nodes", "0").output


def test_lab_subnet_is_validated(monkeypatch):
    out = run("lab", "up", "--subnet", "10.1.2.300/24")
    assert out.exit_code == 2 and "--subnet: '10.1.2.300/24' is not a valid CIDR" in out.output


def test_missing_podman_is_an_environment_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    out = run("lab", "status")
    assert out.exit_code == 3 and "podman not found" in out.output
