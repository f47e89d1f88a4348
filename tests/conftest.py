"""Shared helpers for homeforge's tests."""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

# hypothesis keeps its files outside the checkout (a .hypothesis/ there would be packed
# into the collection and dirty the tree).
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "homeforge-hypothesis")
)


@pytest.fixture
def write(tmp_path: Path):
    """write('inv/hosts.yml', text) -> Path, dedented, parents created."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return _write


@pytest.fixture
def inventory_problems(tmp_path: Path, write):
    """inventory_problems(inventory, name='hosts.yml') -> the lines ``homeforge inventory
    check`` reports, [] for a sound inventory. ``inventory`` is a path (file or
    directory), the text of an inventory file (dedented as ``write`` does) or its data
    as a mapping; text and data are written to ``name`` under tmp_path first. Shape
    problems the loader finds count as problems, as they do for the command."""
    from homeforge import checks, inventory
    from homeforge.errors import InventoryInvalid

    def _problems(source: str | Mapping | os.PathLike, name: str = "hosts.yml") -> list[str]:
        if isinstance(source, Mapping):
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(dict(source)))
        elif isinstance(source, str):
            path = write(name, source)
        else:
            path = Path(source)
        try:
            return checks.check(inventory.load(path))
        except InventoryInvalid as exc:
            return exc.problems

    return _problems


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state dir, so runs and facts never mix."""
    state = tmp_path / "state"
    monkeypatch.setenv("HOMEFORGE_STATE_DIR", str(state))
    return state
