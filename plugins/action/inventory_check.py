# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""homeforge's inventory checks from a play (see plugins/modules/inventory_check.py).

The checks are the homeforge Python package's own, so a play refuses an inventory with
the lines ``homeforge inventory check`` prints. It runs on the controller and reads
only the inventory the play runs with: no connection, no change.
"""

from __future__ import annotations

import contextlib
import sys

from ansible import constants
from ansible.plugins.action import ActionBase
from ansible.vars import manager

INSTALL = (
    "pip install homeforge on the controller; for AWX or Ansible Automation Platform, "
    "use an execution environment built from homeforge's execution-environment.yml"
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("inventory",))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        sources = _sources(self._task.args.get("inventory"), task_vars or {})
        if not sources:
            return {**result, "failed": True, "msg": "no inventory source to check"}
        try:
            from homeforge import checks
            from homeforge.errors import HomeforgeError, InventoryInvalid
            from homeforge.inventory import load
        except ImportError as exc:
            missing = exc.name or "homeforge"
            msg = f"Python package {missing} is not importable by {sys.executable}: {INSTALL}"
            return {**result, "failed": True, "msg": msg}

        vault = _vault(self._loader)
        problems, warned, done = [], [], []
        for source in sources:
            try:
                with _inventory_only():
                    inv = load(source, vault)
                found = checks.check(inv)
                warned += checks.warnings(inv)
                if not found:
                    done.append(
                        f"{inv.shown}: ok ({len(inv.hosts)} hosts, {len(inv.groups)} groups)"
                    )
            except InventoryInvalid as exc:
                found = exc.problems
            except HomeforgeError as exc:  # one line: a missing file, a wrong vault password
                found = [str(exc)]
            problems += found
        result.update(problems=problems, sources=sources)
        if warned:
            result["warnings"] = warned
        if problems:
            return {**result, "failed": True, "msg": "\n".join(problems)}
        return {**result, "msg": "\n".join(done)}


def _sources(given, task_vars) -> list[str]:
    """The sources to check: those given, else the play's (``-i``; in AWX, the job's)."""
    if given is None:
        given = task_vars.get("ansible_inventory_sources") or task_vars.get(
            "inventory_file", task_vars.get("inventory_dir")
        )
    if isinstance(given, str):
        given = [given]
    found: list[str] = []
    for source in given or []:
        if str(source) not in found:
            found.append(str(source))
    return found


@contextlib.contextmanager
def _inventory_only():
    """Variables as ``homeforge inventory check`` reads them, from the inventory alone: the
    loader's own variable manager in this process would add the play's extra variables
    and its fact cache (facts and cached ``set_fact`` values of earlier runs)."""
    saved = constants.CACHE_PLUGIN, manager.load_extra_vars
    constants.CACHE_PLUGIN = "ansible.builtin.memory"
    manager.load_extra_vars = lambda loader: {}
    try:
        yield
    finally:
        constants.CACHE_PLUGIN, manager.load_extra_vars = saved


def _vault(loader):
    """The play's vault secrets (every vault id) as homeforge's loader takes a password:
    whole-file vaults open, and every ``!vault`` value is tried as the CLI tries it."""
    given = list(getattr(getattr(loader, "_vault", None), "secrets", None) or [])
    if not given:
        return None
    from homeforge.vault import Vault

    class PlayVault(Vault):
        def secrets(self):
            return given

    return PlayVault(b"")
