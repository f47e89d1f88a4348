"""The cutover's journal and lock.

The journal (``STATE/cutover/INVENTORY/SERVICE.json``, 0600 in 0700 directories)
records every change with its previous value before the change is made, so a run
can be resumed or undone after a failure, a Ctrl-C or a crash. STATE is
:func:`homeforge.paths.user_state_dir` and INVENTORY names the inventory file (its
name and a hash of its real path), so the journal belongs to the inventory, not to
the directory the command ran from. The lock (``lock`` beside the journals, flock:
the kernel releases it when the process dies) refuses a second cutover or rollback
on this controller while one runs; :mod:`homeforge.cutover.lease` excludes other
controllers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from homeforge import paths
from homeforge.errors import BadInput, EnvironmentProblem


class Busy(EnvironmentProblem):
    pass


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


PHASES = ("cutting-over", "cut-over", "rolling-back", "rolled-back", "failed")
STATES = ("intent", "applied", "restoring", "restored")


def inventory_key(inventory: Path) -> str:
    real = str(Path(inventory).resolve())
    return f"{Path(real).name}-{hashlib.sha256(real.encode()).hexdigest()[:12]}"


def cutover_dir(inventory: Path) -> Path:
    base = paths.user_state_dir()
    for directory in (base, base / "cutover", base / "cutover" / inventory_key(inventory)):
        paths.private_dir(directory)
    return base / "cutover" / inventory_key(inventory)


def _shape_problem(data: object) -> str | None:
    """Why a parsed journal is not one homeforge wrote (None when it is)."""
    if not isinstance(data, dict):
        return "not a mapping"
    for key, kind in (("service", str), ("inventory", str), ("phase", str), ("updated", str)):
        if not isinstance(data.get(key), kind):
            return f"{key}: missing or not a {kind.__name__}"
    if data["phase"] not in PHASES:
        return f"phase: unknown phase {data['phase']!r}"
    if not isinstance(data.get("history"), list) or not isinstance(data.get("changes"), list):
        return "changes/history: missing or not lists"
    for index, entry in enumerate(data["changes"]):
        if not isinstance(entry, dict) or entry.get("state") not in STATES:
            return f"changes[{index}]: not a change homeforge records"
        if entry.get("what") not in ("consumer", "exposure") or not isinstance(
            entry.get("previous"), dict
        ):
            return f"changes[{index}]: not a change homeforge records"
        for key in ("id", "host"):
            if not isinstance(entry.get(key), str):
                return f"changes[{index}].{key}: missing"
        if entry["what"] == "consumer" and not isinstance(entry["previous"].get("values"), dict):
            return f"changes[{index}].previous.values: missing"
    return None


class Journal:
    """What a cutover changed, with the previous values, written before each change."""

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data

    @classmethod
    def path_for(cls, service: str, inventory: Path) -> Path:
        return cutover_dir(inventory) / f"{service}.json"

    @classmethod
    def load(cls, service: str, inventory: Path) -> Journal | None:
        path = cls.path_for(service, inventory)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BadInput(f"{path}: unreadable cutover journal: {exc}") from None
        problem = _shape_problem(data)
        if problem:
            raise BadInput(f"{path}: unreadable cutover journal: {problem}")
        return cls(path, data)

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
        return cls(cls.path_for(service, inventory), data)

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
        """Atomically and durably: a fresh 0600 temporary file, fsync, rename, then fsync
        the directory so the rename itself survives a power cut."""
        self.data["updated"] = now()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.data, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@contextlib.contextmanager
def exclusive(action: str, service: str, inventory: Path) -> Iterator[None]:
    """One cutover or rollback at a time per inventory on this controller."""
    path = cutover_dir(inventory) / "lock"
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


def journal_summary(service: str, inventory: Path) -> dict | None:
    journal = Journal.load(service, inventory)
    return (
        None
        if journal is None
        else {"phase": journal.phase, "updated": journal.data["updated"], "path": str(journal.path)}
    )
