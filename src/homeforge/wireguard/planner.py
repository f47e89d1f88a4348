"""The collection's mesh planner (plugins/module_utils/mesh.py), loaded as plain Python."""

from __future__ import annotations

from homeforge import module_utils


def load_mesh_utils():
    """The planner module, loaded from the collection as plain Python."""
    module_utils.load("validation")  # the planner checks values with the shared rules
    return module_utils.load("mesh")
