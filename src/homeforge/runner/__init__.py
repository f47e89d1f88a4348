"""Run playbooks through ansible-runner's Python API.

Events arrive through ``event_handler``; the summary comes from the stats
event, never from scraping stdout. Each run gets its own private data dir under
``<state>/runs/<timestamp>/`` (0700): runner's artifacts, job events and stdout.

Speed defaults (each overridable with the usual ANSIBLE_* variables):
SSH pipelining and ControlPersist, forks >= hosts, ``smart`` fact gathering with
a JSON fact cache, and mitogen's strategy when it is installed (``--strategy
linear`` falls back to plain Ansible).

One subject per module: :mod:`~homeforge.runner.model` (request and result types),
:mod:`~homeforge.runner.environment` (Ansible's environment and speed defaults),
:mod:`~homeforge.runner.preflight` (every host reachable before any change),
:mod:`~homeforge.runner.extravars` (``-e`` values kept off the command line),
:mod:`~homeforge.runner.events` (failures, warnings and stats from runner's events),
:mod:`~homeforge.runner.artifacts` (run dirs and their redaction),
:mod:`~homeforge.runner.termination` (SIGTERM cleans up like Ctrl-C) and
:mod:`~homeforge.runner.playbook` (:func:`run_playbook`, which uses them all).
"""

from __future__ import annotations

from homeforge.runner.artifacts import new_run_dir, redact_command_artifacts
from homeforge.runner.environment import ansible_env, mitogen_strategy_dir
from homeforge.runner.events import failure_message
from homeforge.runner.model import ApplyRequest, Failure, HostStats, RunResult
from homeforge.runner.playbook import fact_cache_dir, forget_facts, run_playbook
from homeforge.runner.preflight import HostsUnreachable, require_reachable, unreachable_hosts

__all__ = [
    "ApplyRequest",
    "Failure",
    "HostStats",
    "HostsUnreachable",
    "RunResult",
    "ansible_env",
    "fact_cache_dir",
    "failure_message",
    "forget_facts",
    "mitogen_strategy_dir",
    "new_run_dir",
    "redact_command_artifacts",
    "require_reachable",
    "run_playbook",
    "unreachable_hosts",
]
