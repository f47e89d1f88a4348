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
    # The vault password given (homeforge.vault.Vault), or None.
    vault: Any = field(default=None, repr=False)
    # (host, key) of each ``!vault`` value, those Ansible alone reads included.
    _vaulted: list[tuple[str, str]] = field(default_factory=list, repr=False)
    # Files encrypted whole: the digest of their ciphertext.
    _vault_files: dict[Path, str] = field(default_factory=dict, repr=False)
    _revealed: dict[str, str] = field(default_factory=dict, repr=False)

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

    def setting(self, host: str, key: str, default: Any = None) -> Any:
        """A connection setting for homeforge's own SSH: a vaulted one is decrypted with
        the vault password (one line naming file, host and key without it)."""
        value = self.hostvars[host].get(key, default)
        if not isinstance(value, Vaulted):
            return value
        if value not in self._revealed:
            from homeforge import vault

            plaintext = vault.decrypt(self.vault, value, self.where(host, key))
            self._revealed[value] = plaintext.decode(errors="replace")
        return self._revealed[value]

    def address(self, host: str) -> str:
        return str(self.setting(host, "ansible_host", host))

    def user(self, host: str) -> str:
        return str(self.setting(host, "ansible_user", "root"))

    def require_vault(self) -> None:
        """BadInput naming the first vaulted value when Ansible will need the vault
        password and none was given."""
        if self.vault is None and self._vaulted:
            from homeforge.vault import GIVE

            host, key = self._vaulted[0]
            raise BadInput(f"{self.where(host, key)}: encrypted with ansible-vault: {GIVE}")

    def sealed_vars(self, host: str) -> dict[str, Any]:
        """The host's variables as a digest takes them: a value from a file encrypted
        whole stands as that file's ciphertext digest, so no decrypted value enters a
        digest (a ``!vault`` value is its ciphertext already)."""
        hvars = self.hostvars[host]
        if not self._vault_files:
            return hvars
        sealed = {}
        for key, value in hvars.items():
            origin = self.origin(host, key)
            sealed[key] = (
                {"vault": self._vault_files[origin]} if origin in self._vault_files else value
            )
        return sealed

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


class Vaulted(str):
    """A value encrypted with ansible-vault (``!vault``), kept as its ciphertext. The
    checks take it as a secret of unknown content and digests take the ciphertext;
    never shown (its repr says only what it is)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<vaulted>"


def plain(value: Any) -> Any:
    """Strip Ansible's tagged/lazy containers down to plain Python types; an encrypted
    value becomes :class:`Vaulted`, never decrypted."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, Vaulted):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if type(value).__name__ == "EncryptedString":
        from ansible.parsing.vault import VaultHelper

        return Vaulted(VaultHelper.get_ciphertext(value, with_tags=False))
    return str(value)


def is_template(value: Any) -> bool:
    """A value only Ansible knows at run time, a template or a vaulted secret (so it
    cannot be checked before)."""
    if isinstance(value, Vaulted):
        return True
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    return False
