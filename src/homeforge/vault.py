"""Ansible Vault: the one password an operator gives (``--vault-password-file``,
``--ask-vault-pass`` or ``$ANSIBLE_VAULT_PASSWORD_FILE``), used where homeforge must
read what a vault hides, and handed to Ansible for its runs.

homeforge keeps an encrypted value (``!vault``) as its ciphertext: the checks accept it
as a secret of unknown content and the fast path digests the ciphertext as it is in the
file. It decrypts only what it cannot work without: a file encrypted whole (its
structure is the inventory), a connection setting its own SSH uses, and a trial that
the password opens every vaulted value before anything runs (the plaintext is dropped).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from homeforge.errors import BadInput

HEADER = b"$ANSIBLE_VAULT;"
ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
GIVE = "give --vault-password-file or --ask-vault-pass"


@dataclass(frozen=True)
class Vault:
    """The vault password, and the file it came from (None when it was typed)."""

    password: bytes = field(repr=False)
    file: str | None = None

    @classmethod
    def from_file(cls, name: str) -> Vault:
        """The password in a file, or printed by it when it is executable (as Ansible reads it)."""
        from ansible.errors import AnsibleError
        from ansible.parsing.dataloader import DataLoader
        from ansible.parsing.vault import get_file_vault_secret

        # Absolute but not resolved: a password script may read files beside its link.
        path = os.path.abspath(os.path.expanduser(name))
        try:
            secret = get_file_vault_secret(filename=path, loader=DataLoader())
            secret.load()
        except AnsibleError as exc:
            reason = (str(getattr(exc, "message", "") or exc).splitlines() or ["unreadable"])[0]
            raise BadInput(f"--vault-password-file {name}: {reason}") from None
        return cls(secret.bytes, path)

    @classmethod
    def from_prompt(cls, password: str) -> Vault:
        if not password:
            raise BadInput("--ask-vault-pass: the vault password is empty")
        return cls(password.encode())

    def secrets(self) -> list:
        """The password as Ansible's loader takes it."""
        from ansible.parsing.vault import VaultSecret

        return [("default", VaultSecret(self.password))]

    def decrypt(self, vaulttext: str | bytes, where: str, what: str = "value") -> bytes:
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import AnsibleVaultFormatError, VaultLib

        try:
            return VaultLib(self.secrets()).decrypt(vaulttext)
        except AnsibleVaultFormatError:
            raise BadInput(f"{where}: not a valid ansible-vault {what} (damaged?)") from None
        except AnsibleError:
            raise BadInput(f"{where}: vault password does not decrypt this {what}") from None


def decrypt(vault: Vault | None, vaulttext: str | bytes, where: str, what: str = "value") -> bytes:
    """Plaintext of a vault text; one line naming ``where`` without a password or with a
    wrong one."""
    if vault is None:
        raise BadInput(f"{where}: encrypted with ansible-vault: {GIVE}")
    return vault.decrypt(vaulttext, where, what)


def is_encrypted(data: bytes) -> bool:
    """A whole file encrypted with ansible-vault (Ansible's own test: the header first)."""
    return data.startswith(HEADER)


def fingerprint(data: bytes) -> str:
    """A digest of ciphertext, standing for the values it hides."""
    return hashlib.sha256(data).hexdigest()


def from_environment() -> Vault | None:
    """The vault ``$ANSIBLE_VAULT_PASSWORD_FILE`` names, if any."""
    name = os.environ.get(ENV)
    return Vault.from_file(name) if name else None


@contextlib.contextmanager
def password_file(vault: Vault | None, private: Path) -> Iterator[str | None]:
    """A password file to hand to Ansible: the operator's own, or for a typed password a
    0600 file in ``private`` (never under a run's directory) removed afterwards."""
    if vault is None or vault.file is not None:
        yield vault.file if vault else None
        return
    fd, name = tempfile.mkstemp(prefix="vault-", dir=private)  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(vault.password)
        yield name
    finally:
        Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def run_options(vault: Vault | None, private: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """``--vault-password-file`` for an ansible-playbook run, and its environment: a
    relative ``$ANSIBLE_VAULT_PASSWORD_FILE`` made absolute, as the run has another
    working directory. The password itself is in neither (they reach runner's artifacts)."""
    env = {ENV: os.path.abspath(os.path.expanduser(os.environ[ENV]))} if os.environ.get(ENV) else {}
    with password_file(vault, private) as name:
        yield (["--vault-password-file", name] if name else []), env
