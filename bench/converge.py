"""Converge speed: `homeforge apply site` against plain `ansible-playbook` on the lab.

Measures whole-process wall time, alternating the runners in one session:
  (a) first converge of site.yml on fresh lab hosts (the lab is recreated before each run);
  (b) no-op re-converge of site.yml on converged hosts.
Plain ansible-playbook runs with Ansible's defaults (an empty ansible.cfg); it only gets
the collections path so it can find the same roles. homeforge is measured with its
defaults (mitogen when installed) and with --strategy linear (the fallback).

With --cluster the lab is `lab up --cluster`'s, the whole stack of `make demo` (K3s,
NVIDIA, NFS, ingress, Ollama and the AI gateway, against the stand-ins where the real
programs cannot run here); --runs 0 measures the first converge only.

Usage: python bench/converge.py [--nodes 3] [--cluster] [--runs 5] [--first-runs 3]
                                [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import OUT, ROOT, homeforge, publish
from benchlib import env as bench_env

STATE = "state"
NAME = "hf-bench"
SUBNET = "10.254.93.0/24"


def env() -> dict[str, str]:
    return bench_env(STATE)


def hf(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return homeforge(STATE, *args, check=check)


def inventory() -> Path:
    return OUT / "state" / "lab" / NAME / "inventory.yml"


def fresh_lab(nodes: int, cluster: bool = False) -> None:
    hf("lab", "down", "--name", NAME, check=False)
    more = ["--cluster"] if cluster else []
    hf("lab", "up", "--nodes", str(nodes), "--name", NAME, "--subnet", SUBNET, *more)


def timed(cmd: list[str], extra_env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**env(), **(extra_env or {})})
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed


def runners() -> dict[str, tuple[list[str], dict[str, str]]]:
    empty_cfg = OUT / "empty-ansible.cfg"
    empty_cfg.write_text("")
    collections = str(ROOT / ".homeforge" / "collections")
    plain_env = {"ANSIBLE_CONFIG": str(empty_cfg), "ANSIBLE_COLLECTIONS_PATH": collections}
    bindir = Path(sys.executable).parent
    site = str(ROOT / "playbooks" / "site.yml")
    inv = str(inventory())
    return {
        "ansible-playbook (defaults)": (
            [str(bindir / "ansible-playbook"), "-i", inv, site],
            plain_env,
        ),
        "homeforge apply": ([sys.executable, "-m", "homeforge", "apply", "site", "-i", inv], {}),
        "homeforge apply --strategy linear": (
            [sys.executable, "-m", "homeforge", "apply", "site", "-i", inv, "--strategy", "linear"],
            {},
        ),
    }


def clear_fact_cache() -> None:
    facts = OUT / "state" / "facts"
    for entry in facts.glob("*") if facts.is_dir() else []:
        entry.unlink()


def bench(
    nodes: int, runs: int, first_runs: int, cluster: bool = False
) -> dict[str, dict[str, list[float]]]:
    OUT.mkdir(parents=True, exist_ok=True)
    fresh_lab(nodes, cluster)
    commands = runners()
    results: dict[str, dict[str, list[float]]] = {"first": {}, "noop": {}}

    # (a) first converge: a new lab for every run, runners alternating
    for i in range(first_runs):
        for name in ("ansible-playbook (defaults)", "homeforge apply"):
            fresh_lab(nodes, cluster)
            commands = runners()
            clear_fact_cache()
            cmd, extra = commands[name]
            took = timed(cmd, extra)
            results["first"].setdefault(name, []).append(took)
            print(f"first  run {i + 1}: {name:36s} {took:6.2f}s", flush=True)

    # (b) no-op re-converge on the converged lab, runners alternating
    for name in commands if runs else ():  # warm-up: fact cache, ControlPersist as in use
        cmd, extra = commands[name]
        timed(cmd, extra)
    for i in range(runs):
        for name, (cmd, extra) in commands.items():
            took = timed(cmd, extra)
            results["noop"].setdefault(name, []).append(took)
            print(f"no-op  run {i + 1}: {name:36s} {took:6.2f}s", flush=True)
    hf("lab", "down", "--name", NAME, check=False)
    return results


def machine() -> str:
    def version(cmd: list[str]) -> str:
        try:
            return (
                subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
            )
        except (OSError, IndexError):
            return "?"

    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    bindir = Path(sys.executable).parent
    return (
        f"{os.cpu_count()} CPUs, {mem_kb / 1024 / 1024:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {version([str(bindir / 'ansible'), '--version'])}, "
        f"{version(['podman', '--version'])}"
    )


def report(results, nodes: int, runs: int, first_runs: int, cluster: bool = False) -> str:
    stack = " (the whole stack: `lab up --cluster`)" if cluster else ""
    lines = [
        f"## Converge of site.yml on {nodes} lab hosts{stack}"
        f" ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {machine()}.",
        "",
        "Whole-process wall time, medians; runners alternate in one session. First converge: "
        f"{first_runs} runs each, a new lab per run."
        + (f" No-op re-converge: {runs} runs each after one warm-up." if runs else ""),
        "",
        "| scenario | runner | median | runs | vs ansible-playbook |",
        "|---|---|---|---|---|",
    ]
    for scenario, label in (("first", "first converge"), ("noop", "no-op re-converge")):
        if not results[scenario]:
            continue
        base = statistics.median(results[scenario]["ansible-playbook (defaults)"])
        for name, times in results[scenario].items():
            median = statistics.median(times)
            runs_text = ", ".join(f"{t:.1f}" for t in times)
            lines.append(
                f"| {label} | {name} | {median:.2f} s | {runs_text} | {median / base:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-runs", type=int, default=3)
    parser.add_argument("--cluster", action="store_true", help="the whole stack (make demo's)")
    parser.add_argument("--write", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    results = bench(args.nodes, args.runs, args.first_runs, args.cluster)
    text = report(results, args.nodes, args.runs, args.first_runs, args.cluster)
    publish(text, args.write)


if __name__ == "__main__":
    main()
