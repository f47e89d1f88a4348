"""Helpers for the tests of inventory input: a hostile value, ``homeforge inventory check``
run in-process, and the problems the checks find in an inventory."""

from __future__ import annotations

from click.testing import CliRunner

from homeforge import checks, inventory
from homeforge.cli import main

INJECTION = "vpn.example.org\n[Interface]\nPostUp = touch /x"


def check_cli(path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def problems(path) -> list[str]:
    """The problem lines ``inventory check`` reports for the inventory at ``path``."""
    return checks.check(inventory.load(path))
