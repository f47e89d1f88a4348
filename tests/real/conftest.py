"""The real-software tests reuse the plugin tests' module runner."""

from tests.unit.plugins.conftest import run_module  # noqa: F401
