"""What one playbook run is asked to do (:class:`ApplyRequest`) and what it yields
(:class:`RunResult`, with :class:`HostStats` and :class:`Failure`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from homeforge.inventory.model import Inventory


@dataclass
class ApplyRequest:
    """One ansible-playbook run: the playbook, the inventory and the command-line options.

    ``extra_vars`` items are ``key=value``, a JSON object or ``@file``, as after ``-e``;
    ``strategy`` is ``auto`` (mitogen when installed), ``mitogen`` or ``linear``."""

    playbook: Path
    inventory: Inventory
    limit: str | None = None
    tags: str | None = None
    skip_tags: str | None = None
    check: bool = False
    diff: bool = False
    extra_vars: list[str] = field(default_factory=list)
    forks: int | None = None
    strategy: str = "auto"
    verbosity: int = 0
    break_lease: bool = False  # take over a stale converge lease another controller left


@dataclass
class HostStats:
    """One host's task counts from Ansible's final stats."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def healthy(self) -> bool:
        """No task failed on the host and it never became unreachable."""
        return self.failed == 0 and self.unreachable == 0


@dataclass
class Failure:
    """A task that failed on a host (errors it ignored are not failures); ``message`` is
    its last line of output, or a fixed text when the task hides its output."""

    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class RunResult:
    """What one ansible-runner run yielded: runner's status and return code, the run's
    private data dir (``artifacts``), per host stats, failures and Ansible's warnings."""

    status: str
    rc: int
    elapsed: float
    artifacts: Path
    stats: dict[str, HostStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    completed: bool = False  # Ansible reported its final stats (the run reached its end)

    @property
    def ok(self) -> bool:
        """Runner reports success and every host is healthy."""
        return self.status == "successful" and all(s.healthy for s in self.stats.values())

    @property
    def changed(self) -> int:
        """Changed tasks, all hosts together."""
        return sum(s.changed for s in self.stats.values())
