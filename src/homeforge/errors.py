"""Errors the CLI turns into one clear line and a documented exit code."""

from __future__ import annotations

# Exit codes (documented in the README and in `homeforge --help`).
EXIT_OK = 0
EXIT_FAILED = 1  # the run happened and some host failed or was unreachable
EXIT_BAD_INPUT = 2  # bad inventory, arguments, unknown playbook: nothing was applied
EXIT_ENVIRONMENT = 3  # a required tool is missing or the lab is in the wrong state
EXIT_INTERRUPTED = 130


class HomeforgeError(Exception):
    """An error with a one-line message meant for the operator."""

    exit_code = EXIT_FAILED


class BadInput(HomeforgeError):
    exit_code = EXIT_BAD_INPUT


class EnvironmentProblem(HomeforgeError):
    exit_code = EXIT_ENVIRONMENT


class InventoryInvalid(BadInput):
    """Raised with every problem found, so all of them are shown at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"inventory has {len(problems)} problem(s)")
