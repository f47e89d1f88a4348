"""``-e`` extra variables: checked before a run, handed to Ansible in 0600 files so that
their values never reach the command line, and removed after the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from homeforge.errors import BadInput


def check_extra_vars(extra_vars: list[str]) -> None:
    """Raise :class:`BadInput` for an item that is not ``key=value``, a JSON object or an
    ``@file`` that exists."""
    for item in extra_vars:
        text = item.strip()
        if text.startswith("@"):
            if not Path(text[1:]).expanduser().is_file():
                raise BadInput(f"-e {item}: no such file")
        elif not (text.startswith("{") or "=" in text):
            raise BadInput(f"-e {item}: expected key=value, @file or a JSON object")


def extra_vars_args(extra_vars: list[str], run_dir: Path) -> list[str]:
    """``-e`` arguments that carry no values: each inline ``key=value`` or JSON item is
    parsed as Ansible parses it and handed over in a 0600 file (removed after the run),
    so values (tokens, passwords) never reach the command line, ``ps`` or runner's
    ``command`` artifact. ``@file`` items pass as they are; order (precedence) is kept."""
    from ansible.parsing.splitter import parse_kv

    args = []
    for index, item in enumerate(extra_vars):
        text = item.strip()
        if text.startswith("@"):
            args += ["-e", text]
            continue
        try:
            values = yaml.safe_load(text) if text.startswith("{") else parse_kv(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise BadInput(f"-e: cannot parse an extra variable ({type(exc).__name__})") from None
        if not isinstance(values, dict):
            raise BadInput("-e: a JSON extra variable must be an object")
        path = run_dir / f"extravars-{index}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        args += ["-e", f"@{path}"]
    return args


def remove_extra_vars(run_dir: Path) -> None:
    """Remove the files :func:`extra_vars_args` wrote in ``run_dir``."""
    for path in run_dir.glob("extravars-*.json"):
        path.unlink(missing_ok=True)
