"""The controller files a host's variables name (an SSH key, a release directory), as
one part of the host's inputs (:mod:`homeforge.fastpath.inputs`): by variable name
(``*_file``, ``*_dir``, ``*_src``, ``*_path``, ``*_artifacts``)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

CONTROLLER_FILES = 2000  # entries of a directory a variable names

# Variables that name files on the controller (an SSH key, a release directory): by name.
CONTROLLER_PATH_SUFFIXES = ("_file", "_dir", "_src", "_path", "_artifacts")


def controller_files(hostvars: dict[str, Any]) -> dict[str, str]:
    """(size, mtime) of the controller files and directories the host's path-like
    variables name (``*_file``, ``*_dir``, ``*_src``, ``*_path``, ``*_artifacts``)."""
    out: dict[str, str] = {}
    for key, value in sorted(hostvars.items()):
        if key.endswith(CONTROLLER_PATH_SUFFIXES):
            _controller_file(value, out)
    return out


# Controller files up to this size are compared by content (an edit that keeps the size
# and the modification time is seen); larger ones (release archives) by size, mtime and
# inode, since hashing gigabytes on every apply would cost more than the run it saves.
CONTENT_LIMIT = 4 << 20


@lru_cache(maxsize=4096)
def _content_digest(path: str, size: int, mtime_ns: int, ctime_ns: int, ino: int) -> str:
    """A file's digest, computed once per version of the file in a process (the change
    time is in the key: a write moves it, and no one can set it back)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_part(path: Path, st: os.stat_result) -> str:
    if st.st_size <= CONTENT_LIMIT:
        try:
            digest = _content_digest(
                str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
            )
            return f"sha256 {digest}"
        except OSError:
            pass
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino}"


def _controller_file(value: Any, out: dict[str, str]) -> None:
    if isinstance(value, str) and value.startswith(("/", "~/")) and "\n" not in value:
        path = Path(value).expanduser()
        try:
            st = path.stat()
        except (OSError, ValueError):
            return
        if path.is_dir():
            entries = []
            for count, (base, _dirs, files) in enumerate(os.walk(path)):
                for name in sorted(files):
                    full = Path(base) / name
                    try:
                        fst = full.stat()
                    except OSError:
                        continue
                    entries.append(f"{full.relative_to(path)} {_file_part(full, fst)}")
                if count > CONTROLLER_FILES:
                    break
            out[str(path)] = _joined(sorted(entries))
        else:
            out[str(path)] = _file_part(path, st)


def _joined(entries: list[str]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        data = entry.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()
