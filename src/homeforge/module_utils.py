"""The collection's shared code (plugins/module_utils/*.py), loaded as plain Python.

The rules and the planner live once, in the collection, where modules and filters
use them at the point of use; the CLI loads the same files to check an inventory
before any run. They import nothing from Ansible, and a module_utils file that uses
another finds it under the name :func:`load` registers (``homeforge_module_utils_NAME``).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from homeforge import paths

PREFIX = "homeforge_module_utils_"


def load(name: str) -> ModuleType:
    """plugins/module_utils/NAME.py as a module (loaded once per process)."""
    module_name = PREFIX + name
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = paths.content_root() / "plugins" / "module_utils" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
