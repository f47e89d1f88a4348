"""Run playbooks through ansible-runner's Python API.

Events arrive through ``event_handler``; the summary comes from the stats
event, never from scraping stdout. Each run gets its own private data dir under
``<state>/runs/<timestamp>/`` (0700): runner's artifacts, job events and stdout.

Speed defaults (each overridable with the usual ANSIBLE_* variables):
SSH pipelining and ControlPersist, forks >= hosts, ``smart`` fact gathering with
a JSON fact cache, and mitogen's strategy when it is installed (``--strategy
linear`` falls back to plain Ansible).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from homeforge import paths, vault
from homeforge.errors import BadInput, EnvironmentProblem, HomeforgeError
from homeforge.inventory.model import Inventory

KEEP_RUNS = 20
STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def healthy(self) -> bool:
        return self.failed == 0 and self.unreachable == 0


@dataclass
class Failure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class RunResult:
    status: str
    rc: int
    elapsed: float
    artifacts: Path | None  # None when no Ansible run was needed (fast path)
    stats: dict[str, HostStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Per host: "unchanged (probe)" or "converged", and why a host was converged.
    outcomes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    completed: bool = False  # Ansible reported its final stats (the run reached its end)
    probe_elapsed: float = 0.0  # seconds the fast path's probes took

    @property
    def ok(self) -> bool:
        return self.status == "successful" and all(s.healthy for s in self.stats.values())

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.stats.values())


@dataclass
class ApplyRequest:
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


# --------------------------------------------------------------------------- settings


def mitogen_strategy_dir() -> Path | None:
    try:
        import ansible_mitogen
    except Exception:
        return None
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return strategy if strategy.is_dir() else None


def ansible_env(state: Path, strategy: str = "auto") -> dict[str, str]:
    """Environment for ansible-playbook: our collection plus the speed defaults.

    Values already set in the caller's environment win, so every default can be
    overridden the usual Ansible way.
    """
    env = {
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(
            [str(paths.collections_dir()), os.path.expanduser("~/.ansible/collections")]
        ),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_GATHERING": "smart",
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(state / "facts"),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "86400",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        # ansible-runner turns host key checking off unless it is set: keep Ansible's default.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
        "ANSIBLE_NOCOLOR": "True",
    }
    if strategy in ("auto", "mitogen"):
        strategy_dir = mitogen_strategy_dir()
        if strategy_dir is not None:
            env["ANSIBLE_STRATEGY_PLUGINS"] = str(strategy_dir)
            env["ANSIBLE_STRATEGY"] = "mitogen_linear"
        elif strategy == "mitogen":
            raise EnvironmentProblem("--strategy mitogen: the mitogen package is not importable")
    elif strategy != "linear":
        raise BadInput(f"--strategy: unknown strategy '{strategy}' (auto, mitogen or linear)")
    return {k: os.environ.get(k, v) for k, v in env.items()}


# --------------------------------------------------------------------------- preflight


def unreachable_hosts(inv: Inventory, hosts: list[str], timeout: float = 3.0) -> list[str]:
    """Hosts whose SSH port does not accept a TCP connection, as error lines.

    Checked before any change so that one dead host does not leave the others
    half-converged.
    """

    def probe(host: str) -> str | None:
        hvars = inv.hostvars[host]
        if hvars.get("ansible_connection", "ssh") not in ("ssh", "paramiko", "smart"):
            return None
        address, port = inv.address(host), int(inv.setting(host, "ansible_port", 22))
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__.lower()
            if isinstance(exc, socket.timeout | TimeoutError):
                reason = f"no answer in {timeout:.0f}s"
            return f"{inv.where(host, 'ansible_host')}: {address}:{port} unreachable ({reason})"

    with ThreadPoolExecutor(max_workers=min(32, max(1, len(hosts)))) as pool:
        return [line for line in pool.map(probe, hosts) if line]


class HostsUnreachable(HomeforgeError):
    """Hosts did not answer before the run; nothing was applied. One line per host."""

    def __init__(self, lines: list[str]):
        self.problems = lines
        super().__init__(f"{len(lines)} host(s) unreachable — nothing was applied")


def require_reachable(inv: Inventory, hosts: list[str]) -> None:
    lines = unreachable_hosts(inv, hosts)
    if lines:
        raise HostsUnreachable(lines)


# --------------------------------------------------------------------------- running


def new_run_dir(state: Path) -> Path:
    paths.private_dir(state)
    runs = paths.private_dir(state / "runs")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_dir = runs / stamp
    run_dir.mkdir(mode=0o700)
    old = sorted(p for p in runs.iterdir() if p.is_dir())[:-KEEP_RUNS]
    for stale in old:
        shutil.rmtree(stale, ignore_errors=True)
    return run_dir


def _check_extra_vars(extra_vars: list[str]) -> None:
    for item in extra_vars:
        text = item.strip()
        if text.startswith("@"):
            if not Path(text[1:]).expanduser().is_file():
                raise BadInput(f"-e {item}: no such file")
        elif not (text.startswith("{") or "=" in text):
            raise BadInput(f"-e {item}: expected key=value, @file or a JSON object")


def _extra_vars_args(extra_vars: list[str], run_dir: Path) -> list[str]:
    """``-e`` arguments that carry no values: each inline ``key=value`` or JSON item is
    parsed as Ansible parses it and handed over in a 0600 file (removed after the run),
    so values (tokens, passwords) never reach the command line, ``ps`` or runner's
    ``command`` artifact. ``@file`` items pass as they are; order (precedence) is kept."""
    from ansible.parsing.splitter import parse_kv

    args = []
    for index, item in enumerate(extra_vars):
        text = item.strip()
        if text.startswith("@"):
            args += ["-e", text]
            continue
        try:
            values = yaml.safe_load(text) if text.startswith("{") else parse_kv(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise BadInput(f"-e: cannot parse an extra variable ({type(exc).__name__})") from None
        if not isinstance(values, dict):
            raise BadInput("-e: a JSON extra variable must be an object")
        path = run_dir / f"extravars-{index}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        args += ["-e", f"@{path}"]
    return args


def _remove_extra_vars(run_dir: Path) -> None:
    for path in run_dir.glob("extravars-*.json"):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit while a run is in flight, so the clean-up in ``finally``
    (redacting artifacts, removing extra-vars files) runs as it does on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def failure_message(res: dict[str, Any]) -> str:
    if res.get("_ansible_no_log") or res.get("censored"):
        return "output hidden (no_log)"
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or res.get("module_stderr") or ""
    if isinstance(msg, list):
        msg = "; ".join(map(str, msg))
    lines = [ln for ln in str(msg).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "failed"


class _Collector:
    """Failures, warnings and the final stats from runner's events; each event is passed on."""

    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None] | None,
        on_start: Callable[[], None] | None = None,
    ):
        self.on_event = on_event
        self.on_start = on_start  # once, at the first event: runner has written its files
        self.failures: list[Failure] = []
        self.warnings: list[str] = []
        self.stats: dict[str, Any] = {}

    def handle(self, event: dict[str, Any]) -> bool:
        if self.on_start:
            self.on_start, start = None, self.on_start
            start()
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failures.append(
                Failure(
                    data.get("host", "?"),
                    data.get("task", "?"),
                    failure_message(data.get("res", {})),
                    unreachable=kind == "runner_on_unreachable",
                )
            )
        elif kind == "warning":
            text = data.get("warning")  # runner sets it to True on some events: use stdout
            if not isinstance(text, str) or not text.strip():
                text = str(event.get("stdout", ""))
            self.warnings.append(text.replace("[WARNING]:", "").strip())
        elif kind == "playbook_on_stats":
            self.stats.update(data)
        if self.on_event:
            self.on_event(event)
        return True


def run_playbook(
    request: ApplyRequest,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    cancelled: threading.Event | None = None,
) -> RunResult:
    import ansible_runner

    # ansible-runner looks ansible-playbook up on PATH: prefer the one beside our Python.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    request.inventory.require_vault()
    state = paths.state_dir()
    run_dir = new_run_dir(state)
    hosts = request.inventory.select(request.limit)
    forks = request.forks or min(50, max(5, len(hosts)))
    _check_extra_vars(request.extra_vars)
    cmdline = _extra_vars_args(request.extra_vars, run_dir)
    if request.check:
        cmdline.append("--check")
    if request.diff:
        cmdline.append("--diff")

    events = _Collector(on_event, lambda: redact_command_artifacts(run_dir))
    started = time.monotonic()
    # The vault password file lives beside the runs, never in one (runner's artifacts).
    with _terminate_as_exit(), vault.run_options(request.inventory.vault, state) as (args, env):
        cmdline += args
        try:
            thread, runner = ansible_runner.run_async(
                private_data_dir=str(run_dir),
                project_dir=str(request.playbook.parent),
                playbook=request.playbook.name,
                inventory=str(request.inventory.path),
                limit=request.limit,
                tags=request.tags,
                skip_tags=request.skip_tags,
                forks=forks,
                verbosity=request.verbosity or None,
                cmdline=shlex.join(cmdline) if cmdline else None,
                envvars={**ansible_env(state, request.strategy), **env},
                # An absolute path: runner would otherwise keep facts per run, defeating the cache.
                fact_cache=str(state / "facts"),
                event_handler=events.handle,
                cancel_callback=(lambda: cancelled.is_set()) if cancelled else None,
                quiet=True,
                suppress_env_files=True,
                settings={"suppress_ansible_output": True},
            )
            thread.join()
        finally:
            redact_command_artifacts(run_dir)
            _remove_extra_vars(run_dir)
    elapsed = time.monotonic() - started

    stats: dict[str, HostStats] = {host: HostStats() for host in hosts}
    for key in STAT_KEYS:
        for host, count in (events.stats.get(key) or {}).items():
            entry = stats.setdefault(host, HostStats())
            attr = {"failures": "failed", "dark": "unreachable"}.get(key, key)
            setattr(entry, attr, count)
    return RunResult(
        status=runner.status,
        rc=runner.rc if runner.rc is not None else -1,
        elapsed=elapsed,
        artifacts=run_dir,
        stats=stats,
        failures=events.failures,
        warnings=sorted(set(w for w in events.warnings if w)),
        completed=bool(events.stats),
    )


# What stays of the environment in runner's `command` artifact.
KEPT_ENV_PREFIXES = ("ANSIBLE_",)
KEPT_ENV_NAMES = ("PATH",)


def redact_command_artifacts(run_dir: Path) -> None:
    """ansible-runner records the whole process environment in artifacts/*/command
    (tokens and cloud credentials included). Keep only PATH and Ansible's settings."""
    for command_file in run_dir.glob("artifacts/*/command"):
        try:
            data = json.loads(command_file.read_text())
        except (OSError, ValueError):
            command_file.unlink(missing_ok=True)
            continue
        env = data.get("env") or {}
        kept = {
            k: v for k, v in env.items() if k.startswith(KEPT_ENV_PREFIXES) or k in KEPT_ENV_NAMES
        }
        data["env"] = kept
        data["env_dropped"] = data.get("env_dropped", 0) + len(env) - len(kept)
        command_file.write_text(json.dumps(data))
