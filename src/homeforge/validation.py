"""Validation rules for inventory values, one per kind, shared by ``inventory check``
and by the code that uses the values."""

from __future__ import annotations

import ipaddress
import re

HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


def is_address(value: str) -> bool:
    """An IP address or a DNS host name."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        # A dotted-quad that did not parse as an IP is a bad IP, not a host name.
        return not re.fullmatch(r"[0-9.]+", value) and bool(HOSTNAME_RE.match(value))


def is_port(value: object) -> bool:
    try:
        return 1 <= int(str(value)) <= 65535 and str(int(str(value))) == str(value).strip()
    except (TypeError, ValueError):
        return False
