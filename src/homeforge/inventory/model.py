"""The inventory as homeforge sees it: hosts with their variables, groups, and where
each variable was set (so every problem can name its file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeforge.errors import BadInput


@dataclass
class Inventory:
    """Hosts with their resolved variables, groups, and the file behind each variable."""

    path: Path
    hostvars: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]
    _origins: dict[tuple[str, str, str], Path] = field(default_factory=dict, repr=False)
    _host_groups: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _manager: Any = field(default=None, repr=False)

    @property
    def hosts(self) -> list[str]:
        return list(self.hostvars)

    def match(self, pattern: str) -> list[str]:
        """Hosts selected by an Ansible pattern (``--limit``); BadInput when none."""
        matched = [h.name for h in self._manager.get_hosts(pattern)] if self._manager else []
        if not matched:
            raise BadInput(f"--limit '{pattern}' matches no host in {display_path(self.path)}")
        return matched

    def select(self, limit: str | None) -> list[str]:
        """The hosts a command works on: all of them, or those ``--limit`` selects."""
        return self.match(limit) if limit else self.hosts

    def groups_of(self, host: str) -> list[str]:
        return self._host_groups.get(host, [])

    def group_members(self, group: str) -> list[str]:
        """Hosts of a group, in inventory order; ``all`` is every host."""
        return self.hosts if group == "all" else self.groups.get(group, [])

    def origin(self, host: str, key: str) -> Path:
        """The file that sets ``key`` for ``host`` (most specific first)."""
        for scope, name in [
            ("host", host),
            *(("group", g) for g in reversed(self.groups_of(host))),
            ("group", "all"),
        ]:
            found = self._origins.get((scope, name, key))
            if found is not None:
                return found
        return self.path

    def address(self, host: str) -> str:
        return str(self.hostvars[host].get("ansible_host", host))

    def user(self, host: str) -> str:
        return str(self.hostvars[host].get("ansible_user", "root"))

    def where(self, host: str, key: str) -> str:
        return f"{display_path(self.origin(host, key))}: host {host}: {key}"

    @property
    def shown(self) -> str:
        return display_path(self.path)


def display_path(path: Path) -> str:
    """A path as the operator would type it: relative to the current directory if inside."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def plain(value: Any) -> Any:
    """Strip Ansible's tagged/lazy containers down to plain Python types."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def is_template(value: Any) -> bool:
    """A value Ansible templates at run time (so it cannot be checked before)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    return False
