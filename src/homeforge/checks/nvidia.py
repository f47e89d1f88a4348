"""The NVIDIA roles' apt source lines, which are written into sources.list.d, by the
shared rule (`auto` is the driver role's own choice of source), where their signing key,
packages and chart come from, and the versions they pin."""

from __future__ import annotations

import re

from homeforge.checks.rules import rule_problems
from homeforge.inventory.model import Inventory, is_template
from homeforge.validation import apt_source_problem, https_url_problem, version_problem

SOURCES = ("nvidia_driver_apt_repository", "nvidia_container_toolkit_apt_repository")


def check_apt_sources(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        for key in SOURCES:
            value = hvars.get(key)
            if value is None or value == "auto" or is_template(value):
                continue
            problem = apt_source_problem(value)
            if problem:
                problems.append(f"{inv.where(host, key)}: {value!r}: {problem}")
    return problems


def _fingerprints_problem(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a list of key fingerprints (at least one)"
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(
            r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}", re.sub(r"\s+", "", item)
        ):
            return "a key fingerprint is 40 (or 64) hexadecimal digits"
    return None


# Where signing keys and Debian's packages come from: https, and keys only with a pinned
# fingerprint (the module refuses any other key the URL serves).
RULES = {
    "nvidia_driver_debian_mirror": https_url_problem,
    "nvidia_container_toolkit_apt_key_url": https_url_problem,
    "nvidia_container_toolkit_apt_key_fingerprints": _fingerprints_problem,
    "nvidia_device_plugin_repo": https_url_problem,
    "nvidia_container_toolkit_version": version_problem,
    "nvidia_device_plugin_chart_version": version_problem,
}


def check_key_sources(inv: Inventory) -> list[str]:
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(
            inv, host, hvars, RULES, optional=("nvidia_container_toolkit_apt_key_url",)
        )
    return problems


CHECKS = [check_apt_sources, check_key_sources]
