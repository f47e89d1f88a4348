"""Shared helpers for homeforge's tests."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state dir, so runs and facts never mix."""
    state = tmp_path / "state"
    monkeypatch.setenv("HOMEFORGE_STATE_DIR", str(state))
    return state
