"""A drifted host converged: only what drifted, against the whole host and plain Ansible.

On a lab built with `lab up --cluster` (every layer of site.yml), converged once, one
item drifts on the last host before every measured run (``net.ipv4.ip_forward`` set to 0
by hand: the base layer's sysctl), and the runners alternate in one sitting, each timed
for whole-process wall time and controller CPU seconds:

  - `homeforge apply site`: the probe finds the drift and runs only the roles it needs
    (homeforge.fastpath.targets);
  - `homeforge apply site --full --limit HOST`: that host's whole site.yml;
  - `homeforge apply site --full`: every host, every role;
  - ansible-playbook with Ansible's defaults (an empty ansible.cfg; it gets only the
    collections path to find the roles), the whole site.yml.

Each run must leave the item repaired; the targeted one must say it ran only its roles.

Usage: python bench/drift.py [--nodes 3] [--runs 3] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from benchlib import OUT, homeforge, publish
from converge import machine
from fast_path import NAME, STATE, SUBNET, measured, runners

DRIFT = ["sysctl", "-w", "net.ipv4.ip_forward=0"]
REPAIRED = ["sh", "-c", "test $(sysctl -n net.ipv4.ip_forward) = 1"]


def on(host: str, cmd: list[str]) -> int:
    return subprocess.run(["podman", "exec", host, *cmd], capture_output=True).returncode


def commands(nodes: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    every = runners()
    hf = every["homeforge apply --full"][0][:-1]
    return {
        "homeforge apply (only what drifted)": ([*hf, "--json"], {}),
        "homeforge apply --full --limit (that host)": (
            [*hf, "--full", "--limit", f"lab-{nodes}"],
            {},
        ),
        "homeforge apply --full (every host)": every["homeforge apply --full"],
        "ansible-playbook (defaults)": every["ansible-playbook (defaults)"],
    }


def bench(nodes: int, runs: int) -> dict[str, list[tuple[float, float]]]:
    homeforge(STATE, "lab", "down", "--name", NAME, check=False)
    homeforge(
        STATE, "lab", "up", "--nodes", str(nodes), "--name", NAME, "--subnet", SUBNET, "--cluster"
    )
    container = f"{NAME}-{nodes}"
    try:
        runs_of = commands(nodes)
        hf = runs_of["homeforge apply --full (every host)"][0]
        measured(hf)  # first converge
        measured(hf)  # warm: fact cache and stamps as in normal use
        results: dict[str, list[tuple[float, float]]] = {}
        for i in range(runs):
            for name, (cmd, extra) in runs_of.items():
                measured(hf[:-1])  # stamps again (plain ansible-playbook writes none)
                if on(container, DRIFT) != 0 or on(container, REPAIRED) == 0:
                    raise SystemExit("the drift could not be made")
                wall, cpu, out = measured(cmd, extra)
                if on(container, REPAIRED) != 0:
                    raise SystemExit(f"{name} did not repair the drift")
                if "only what drifted" in name:
                    summary = json.loads(out.splitlines()[-1])["summary"]
                    if summary["targeted"] != [f"lab-{nodes}"]:
                        raise SystemExit(f"not a targeted converge: {summary['roles']}")
                    results.setdefault("roles", []).append(summary["roles"][f"lab-{nodes}"])
                results.setdefault(name, []).append((wall, cpu))
                print(f"run {i + 1}: {name:44s} {wall:6.2f} s wall {cpu:6.2f} s CPU", flush=True)
        return results
    finally:
        homeforge(STATE, "lab", "down", "--name", NAME, check=False)


def report(results: dict, nodes: int, runs: int) -> str:
    roles = results.pop("roles")
    lines = [
        f"## One drifted item on one of {nodes} hosts ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {machine()}.",
        "",
        "Lab: `lab up --cluster`, converged. Before each run `net.ipv4.ip_forward` is set to 0 "
        f"on lab-{nodes}; every run repairs it. Whole-process wall time and controller CPU "
        f"seconds, medians of {runs} runs; runners alternate in one sitting. The targeted "
        f"converge ran: {', '.join(roles[0])}.",
        "",
        *runner_table(results),
        "",
        "Reproduce: `python bench/drift.py --write bench/RESULTS.md`.",
    ]
    return "\n".join(lines) + "\n"


def runner_table(results: dict[str, list[tuple[float, float]]]) -> list[str]:
    """The markdown table of each runner's median wall and CPU seconds, against plain
    ansible-playbook's (``results``: runner -> [(wall, cpu)])."""
    base = statistics.median(w for w, _ in results["ansible-playbook (defaults)"])
    lines = [
        "| runner | wall | vs ansible-playbook | CPU | runs (wall s) |",
        "|---|---|---|---|---|",
    ]
    for name, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        shown = ", ".join(f"{w:.1f}" for w, _ in samples)
        lines.append(f"| {name} | {wall:.2f} s | {wall / base:.3f} | {cpu:.2f} s | {shown} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    publish(report(bench(args.nodes, args.runs), args.nodes, args.runs), args.write)


if __name__ == "__main__":
    main()
