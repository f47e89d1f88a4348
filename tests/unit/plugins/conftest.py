"""Fixtures that run the collection's modules: through ``ansible`` or in this process.

Both see the checkout as ``homeforge.homelab`` through tests/unit/plugins/support.py,
so these tests need nothing from the homeforge package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.plugins.support import COLLECTIONS

ANSIBLE = str(Path(sys.executable).parent / "ansible")


@pytest.fixture
def run_module():
    """run_module(name, args, *ansible_options) -> the module's result, run by ``ansible``
    on the local host with this checkout as ``homeforge.homelab``."""

    def _run(module: str, args: dict, *extra: str) -> dict:
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "json",
        }
        done = subprocess.run(
            [
                ANSIBLE,
                "localhost",
                "-c",
                "local",
                "-e",
                f"ansible_python_interpreter={sys.executable}",
                "-m",
                f"homeforge.homelab.{module}",
                "-a",
                json.dumps(args),
                *extra,
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        data = json.loads(done.stdout)
        return data["plays"][0]["tasks"][0]["hosts"]["localhost"]

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
