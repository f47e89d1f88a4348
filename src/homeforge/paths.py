"""Where homeforge's Ansible content and its state live.

The content (roles, playbooks, plugins) is an Ansible collection named
``homeforge.homelab``. From a checkout it is the repository root; from an
installed wheel it is ``homeforge/_content/ansible_collections/homeforge/homelab``.
Either way :func:`collections_dir` returns a directory that holds
``ansible_collections/homeforge/homelab`` so Ansible resolves our FQCNs.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from homeforge.errors import BadInput

COLLECTION = "homeforge.homelab"
_PACKAGE_DIR = Path(__file__).resolve().parent
_PACKAGED_COLLECTIONS = _PACKAGE_DIR / "_content"


def checkout_root() -> Path | None:
    """The repository root when running from a checkout (editable install)."""
    root = _PACKAGE_DIR.parent.parent
    if (root / "galaxy.yml").is_file() and (root / "roles").is_dir():
        return root
    return None


@cache
def content_root() -> Path:
    """The directory holding roles/, playbooks/ and plugins/."""
    root = checkout_root()
    if root is not None:
        return root
    packaged = _PACKAGED_COLLECTIONS / "ansible_collections" / "homeforge" / "homelab"
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError("homeforge content not found: reinstall the package")


def state_dir() -> Path:
    """Run artifacts, fact cache and lab state: $HOMEFORGE_STATE_DIR or ./.homeforge."""
    return Path(os.environ.get("HOMEFORGE_STATE_DIR", ".homeforge")).resolve()


def collections_dir() -> Path:
    """A collections path in which ``homeforge.homelab`` resolves to our content."""
    root = checkout_root()
    if root is None:
        return _PACKAGED_COLLECTIONS
    farm = root / ".homeforge" / "collections"
    link = farm / "ansible_collections" / "homeforge" / "homelab"
    if not link.is_symlink() or link.resolve() != root:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(root, target_is_directory=True)
    return farm


def resolve_playbook(name: str) -> Path:
    """`site`, `site.yml` or a path to a playbook file."""
    candidate = Path(name)
    if candidate.suffix in (".yml", ".yaml") and candidate.is_file():
        return candidate.resolve()
    playbooks = content_root() / "playbooks"
    for option in (playbooks / name, playbooks / f"{name}.yml", playbooks / f"{name}.yaml"):
        if option.is_file():
            return option
    known = sorted(p.stem for p in playbooks.glob("*.yml"))
    raise BadInput(f"unknown playbook '{name}': choose one of {', '.join(known)} or give a path")


def role_dir(role: str) -> Path:
    return content_root() / "roles" / role
