"""Where homeforge's Ansible content and its state live.

The content (roles, playbooks, plugins) is an Ansible collection named
``homeforge.homelab``. From a checkout it is the repository root; from an
installed wheel it is ``homeforge/_content/ansible_collections/homeforge/homelab``.
Either way :func:`collections_dir` returns a directory that holds
``ansible_collections/homeforge/homelab`` so Ansible resolves our FQCNs.
"""

from __future__ import annotations

import os
import stat
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


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter: created 0700, or an existing one
    of ours tightened to 0700. A shared directory (sticky, like /tmp, or someone else's)
    is never changed; what homeforge keeps in it lives in private subdirectories."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        return path
    st = path.stat()
    if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX:
        os.chmod(path, 0o700)
    return path


def user_state_dir() -> Path:
    """State that must not depend on the current directory (cutover journals and locks):
    $HOMEFORGE_STATE_DIR when set, else $XDG_STATE_HOME/homeforge (~/.local/state/homeforge)."""
    explicit = os.environ.get("HOMEFORGE_STATE_DIR")
    if explicit:
        return Path(explicit).resolve()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg).resolve() / "homeforge"


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
