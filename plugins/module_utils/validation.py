# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Validation rules for values that reach a command line, a file name or a config file.

One rule per kind, shared by the modules (at the point of use) and by
``homeforge inventory check`` (before any run). Standard library only, so the CLI
can load this file as plain Python, as it does ``mesh.py``.
"""

from __future__ import annotations

import re

# Linux interface names: at most IFNAMSIZ - 1 = 15 bytes. wg-quick's own rule is
# [a-zA-Z0-9_=+.-]{1,15}; a leading '-' is refused as well, so a name can never be
# read as an option by wg, ip or sysctl, and '.'/'..' are not names but directories.
# The whole rule as one pattern (for fullmatch), for callers that want a regex.
INTERFACE_NAME_RE = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_=+.][A-Za-z0-9_=+.-]{0,14}")

# Peer (host) names, used in file names such as ``PEER.psk`` (never on a command line).
PEER_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,253}")


def interface_name_problem(value: object) -> str | None:
    """Why ``value`` is not a usable network interface name, or None when it is."""
    if not isinstance(value, str) or not value:
        return "an interface name must be a non-empty string"
    if not re.fullmatch(r"[A-Za-z0-9_=+.-]+", value):
        return "an interface name uses only letters, digits and _=+.-"
    if value.startswith("-"):
        return "an interface name must not start with '-'"
    if len(value) > 15:
        return "an interface name has at most 15 characters"
    if value in (".", ".."):
        return "'.' and '..' are not interface names"
    return None


def is_interface_name(value: object) -> bool:
    return interface_name_problem(value) is None


def is_peer_name(value: object) -> bool:
    """A mesh peer's name, safe to use in a file name (no '/', no whitespace)."""
    return isinstance(value, str) and PEER_NAME_RE.fullmatch(value) is not None


# Kernel parameter names as sysctl shows them (dotted). Each part becomes a path
# component under /proc/sys, so no part may be empty or hold a '/'.
SYSCTL_NAME_RE = re.compile(r"[A-Za-z0-9_:@+=-]+(\.[A-Za-z0-9_:@+=-]+)*")


def is_sysctl_name(value: object) -> bool:
    return isinstance(value, str) and SYSCTL_NAME_RE.fullmatch(value) is not None
