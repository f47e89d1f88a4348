"""The cutover's journal and lock.

The journal (``STATE/cutover/SERVICE.json``, 0600 in a 0700 directory) records
every change with its previous value before the change is made, so a run can be
resumed or undone after a failure, a Ctrl-C or a crash. The lock
(``STATE/cutover/lock``, flock: the kernel releases it when the process dies)
refuses a second cutover or rollback while one runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from homeforge import paths
from homeforge.errors import BadInput, EnvironmentProblem


class Busy(EnvironmentProblem):
    pass


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def cutover_dir() -> Path:
    path = paths.state_dir() / "cutover"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


class Journal:
    """What a cutover changed, with the previous values, written before each change."""

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data

    @classmethod
    def path_for(cls, service: str) -> Path:
        return cutover_dir() / f"{service}.json"

    @classmethod
    def load(cls, service: str) -> Journal | None:
        path = cls.path_for(service)
        try:
            return cls(path, json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BadInput(f"{path}: unreadable cutover journal: {exc}") from None

    @classmethod
    def new(cls, service: str, inventory: Path) -> Journal:
        data = {
            "service": service,
            "inventory": str(inventory),
            "phase": "cutting-over",
            "started": now(),
            "updated": now(),
            "changes": [],
            "history": [],
        }
        return cls(cls.path_for(service), data)

    @property
    def phase(self) -> str:
        return self.data["phase"]

    def set_phase(self, phase: str, note: str = "") -> None:
        self.data["phase"] = phase
        self.log(f"{phase}{': ' + note if note else ''}")

    def log(self, message: str) -> None:
        self.data["history"].append({"at": now(), "event": message})
        self.save()

    def entry(self, ident: str) -> dict | None:
        return next((c for c in self.data["changes"] if c["id"] == ident), None)

    def intend(self, ident: str, host: str, what: str, previous: dict, new: dict) -> dict:
        """Record a change before it is made; the first previous value recorded is kept."""
        entry = self.entry(ident)
        if entry is None:
            entry = {"id": ident, "host": host, "what": what, "previous": previous}
            self.data["changes"].append(entry)
        entry.update(new=new, state="intent")
        self.save()
        return entry

    def mark(self, entry: dict, state: str) -> None:
        entry["state"] = state
        self.save()

    def save(self) -> None:
        self.data["updated"] = now()
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


@contextlib.contextmanager
def exclusive(action: str, service: str) -> Iterator[None]:
    """One cutover or rollback at a time per state directory."""
    path = cutover_dir() / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise Busy(f"another cutover or rollback is running ({holder}); lock {path}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {action} {service} since {now()}".encode(), 0)
        yield
    finally:
        os.close(fd)


def journal_summary(service: str) -> dict | None:
    journal = Journal.load(service)
    return (
        None
        if journal is None
        else {"phase": journal.phase, "updated": journal.data["updated"], "path": str(journal.path)}
    )
