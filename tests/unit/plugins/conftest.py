"""Fixtures that run the collection's modules: in a process of their own or in this one.

Both see the checkout as ``homeforge.homelab`` through tests/unit/plugins/support.py,
so these tests need nothing from the homeforge package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.unit.plugins.support import COLLECTIONS

# A module run as Ansible runs it on a host, without the controller: a Python process of
# its own that imports the module from the collection, hands it its arguments (and check
# mode) as AnsiballZ does, and prints its result. (``ansible localhost -m`` adds the
# controller's start, about 1.5 CPU-seconds a call, and nothing the module sees.)
MODULE_MAIN = """
import json, runpy, sys
from ansible.module_utils.testing import patch_module_args
with patch_module_args(json.loads(sys.argv[2])):
    runpy.run_module(sys.argv[1], run_name="__main__")
"""


@pytest.fixture
def run_module():
    """run_module(name, args, *options) -> the module's result: the collection's module
    ``name`` run in a process of its own; options: ``--check``, ``--diff``."""

    def _run(module: str, args: dict, *extra: str) -> dict:
        unknown = set(extra) - {"--check", "--diff"}
        assert not unknown, f"run_module: unsupported options {unknown}"
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                MODULE_MAIN,
                f"ansible_collections.homeforge.homelab.plugins.modules.{module}",
                json.dumps(
                    {
                        **args,
                        "_ansible_check_mode": "--check" in extra,
                        "_ansible_diff": "--diff" in extra,
                    }
                ),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(COLLECTIONS)},
        )
        assert done.stdout.strip(), f"{module} printed no result: {done.stderr[-2000:]}"
        return json.loads(done.stdout)

    return _run


@pytest.fixture
def call_module(capsys):
    """call_module(python_module, args, check_mode=False) -> result, run in this process
    (for what ``ansible`` cannot set up, e.g. a PATH without ``wg``)."""
    from ansible.module_utils.testing import patch_module_args

    def _call(module, args: dict, check_mode: bool = False) -> dict:
        capsys.readouterr()
        with (
            patch_module_args({**args, "_ansible_check_mode": check_mode}),
            pytest.raises(SystemExit),
        ):
            module.main()
        return json.loads(capsys.readouterr().out)

    return _call
