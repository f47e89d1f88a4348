# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Writing files so that readers see the old content or the new, never a part.

Standard library only (no Ansible imports), like the other module_utils here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

SECRET_MODE = 0o600


def atomic_write(path: str, content: str | bytes, mode: int = SECRET_MODE) -> None:
    """Replace ``path`` with ``content`` in one rename.

    The new content goes to a fresh temporary file in the same directory, created
    0600 (so a secret is never readable by others, not even for a moment), owned by
    root when we are root, given ``mode``, flushed to disk, and renamed over ``path``;
    then the directory entry is flushed too. A crash leaves the old file or the new one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    data = content.encode() if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            if os.geteuid() == 0:
                os.fchown(handle.fileno(), 0, 0)
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_directory(directory)


def sync_directory(directory: str) -> None:
    """Flush a directory's entries (a rename is durable only after this)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_directory(path: str) -> bool:
    """Create ``path`` (and parents) with mode 0700 if it is missing; True when created."""
    if os.path.isdir(path):
        return False
    os.makedirs(path, mode=0o700)
    os.chmod(path, 0o700)  # makedirs' mode is filtered by the umask
    return True
