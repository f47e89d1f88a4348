"""The collection's mesh planner (plugins/module_utils/mesh.py), loaded as plain Python."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache

from homeforge import paths


@cache
def load_mesh_utils():
    """The planner module, loaded from the collection as plain Python."""
    path = paths.content_root() / "plugins" / "module_utils" / "mesh.py"
    spec = importlib.util.spec_from_file_location("homeforge_mesh_utils", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
