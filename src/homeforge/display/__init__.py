"""How homeforge looks: consoles, error lines and JSON output here;
:mod:`~homeforge.display.progress` for converges, :mod:`~homeforge.display.tables`
for everything shown as a table."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

# Logs (no terminal) get wide lines instead of rich's 80-column default.
_width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
console = Console(highlight=False, width=_width)
err_console = Console(stderr=True, highlight=False, width=_width)


def error(message: str) -> None:
    err_console.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def warning(message: str) -> None:
    err_console.print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


def problem_lines(lines: list[str]) -> None:
    for line in lines:
        err_console.print(Text(line, style="red"), soft_wrap=True)


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()
