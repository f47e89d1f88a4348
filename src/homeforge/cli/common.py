"""What every command shares: the inventory (with its vault password), --json and
--limit options, one inventory preamble, and the mapping from errors to one line and
an exit code."""

from __future__ import annotations

import functools
import sys

import click

from homeforge import display
from homeforge.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, BadInput, HomeforgeError
from homeforge.inventory.model import Inventory
from homeforge.vault import ENV, Vault

_VAULT_OPTIONS = "homeforge.vault_options"
_VAULT = "homeforge.vault"


def _keep_vault_option(ctx: click.Context, param: click.Parameter, value):
    ctx.meta.setdefault(_VAULT_OPTIONS, {})[param.name] = value
    return value


def vault_options(fn):
    """``--vault-password-file`` and ``--ask-vault-pass``, for every command that reads
    an inventory; :func:`vault` turns them into the password, once."""
    fn = click.option(
        "--ask-vault-pass",
        is_flag=True,
        expose_value=False,
        callback=_keep_vault_option,
        help="Ask for the vault password (for !vault values and files ansible-vault encrypted).",
    )(fn)
    return click.option(
        "--vault-password-file",
        metavar="FILE",
        envvar=ENV,
        expose_value=False,
        callback=_keep_vault_option,
        help=f"File holding the vault password, or a script printing it (default: ${ENV}).",
    )(fn)


def vault() -> Vault | None:
    """The vault password the command was given (asked for at most once), or None."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    if _VAULT not in ctx.meta:
        given = ctx.meta.get(_VAULT_OPTIONS, {})
        found = None
        if given.get("ask_vault_pass"):
            found = Vault.from_prompt(click.prompt("Vault password", hide_input=True, err=True))
        elif given.get("vault_password_file"):
            found = Vault.from_file(given["vault_password_file"])
        ctx.meta[_VAULT] = found
    return ctx.meta[_VAULT]


_inventory_path_option = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    metavar="INVENTORY",
    help="Inventory file or directory (default: the lab's, when it is up).",
)


def inventory_option(fn):
    """``-i INVENTORY`` with the vault options."""
    return _inventory_path_option(vault_options(fn))


json_option = click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
limit_option = click.option("-l", "--limit", help="Only these hosts (an Ansible pattern).")


def handle_errors(fn):
    """Errors become one red line (every problem line first, for an invalid inventory)
    and the error's exit code; Ctrl-C becomes exit 130. Never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HomeforgeError as exc:
            problems = getattr(exc, "problems", None)
            if problems:
                display.problem_lines(problems)
            error = str(exc)
            if problems and getattr(exc, "exit_code", 0) == 2:
                error += " — nothing was applied"
            display.error(error)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            display.error("interrupted")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def inventory_path(given: str | None) -> str:
    """The inventory named with -i, else the lab's when it is up."""
    if given:
        return given
    from homeforge import lab

    default = lab.inventory_path()
    if default.is_file():
        return str(default)
    raise BadInput("no inventory: pass -i INVENTORY, or run 'homeforge lab up' to use the lab's")


def checked_inventory(given: str | None) -> Inventory:
    """The inventory a command works on, loaded and checked (InventoryInvalid otherwise)."""
    from homeforge.checks import load_and_check

    return load_and_check(inventory_path(given), vault())


def finish(ok: bool) -> None:
    sys.exit(EXIT_OK if ok else EXIT_FAILED)
