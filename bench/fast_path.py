"""The converge fast path: a no-op `homeforge apply site` against plain `ansible-playbook`.

On a lab built with `lab up --cluster` (every layer of site.yml: base, mesh, NVIDIA on the
stand-in GPU host, K3s, NFS, ingress, Ollama), converged once, then runners alternating
in one sitting, each measured for whole-process wall time and controller CPU seconds
(user + system of the process and everything it waited for, from getrusage):

  - ansible-playbook with Ansible's defaults (an empty ansible.cfg; it gets only the
    collections path to find the roles);
  - `homeforge apply site --full` (every host converges: the path without probes);
  - `homeforge apply site` (the fast path: one probe per host, no Ansible run).

Then the time to detect one drifted host among them (a sysctl changed by hand on the last
host): the probe phase, and the whole apply that converges that host.

Usage: python bench/fast_path.py [--nodes 3 8] [--runs 3] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import OUT, ROOT, homeforge, publish
from benchlib import env as bench_env
from converge import machine

STATE = "fast-path-state"
NAME = "hf-bench-fast"
SUBNET = "10.254.97.0/24"


def inventory() -> Path:
    return OUT / STATE / "lab" / NAME / "inventory.yml"


def measured(cmd: list[str], extra_env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, controller CPU seconds, stdout) of one command run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**bench_env(STATE), **(extra_env or {})}
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def runners() -> dict[str, tuple[list[str], dict[str, str]]]:
    empty_cfg = OUT / "empty-ansible.cfg"
    empty_cfg.parent.mkdir(parents=True, exist_ok=True)
    empty_cfg.write_text("")
    collections = str(ROOT / ".homeforge" / "collections")
    plain_env = {"ANSIBLE_CONFIG": str(empty_cfg), "ANSIBLE_COLLECTIONS_PATH": collections}
    bindir = Path(sys.executable).parent
    inv = str(inventory())
    hf = [sys.executable, "-m", "homeforge", "apply", "site", "-i", inv]
    return {
        "ansible-playbook (defaults)": (
            [str(bindir / "ansible-playbook"), "-i", inv, str(ROOT / "playbooks" / "site.yml")],
            plain_env,
        ),
        "homeforge apply --full": ([*hf, "--full"], {}),
        "homeforge apply (fast path)": (hf, {}),
    }


def bench(nodes: int, runs: int) -> dict:
    homeforge(STATE, "lab", "down", "--name", NAME, check=False)
    homeforge(
        STATE, "lab", "up", "--nodes", str(nodes), "--name", NAME, "--subnet", SUBNET, "--cluster"
    )
    try:
        commands = runners()
        hf = commands["homeforge apply --full"][0][:-1]
        measured(hf)  # first converge (and stamps)
        for cmd, extra in commands.values():  # warm-up: caches as in normal use
            measured(cmd, extra)
        measured(hf)  # ansible-playbook's run does not stamp: homeforge stamps again
        results: dict[str, list[tuple[float, float]]] = {}
        for i in range(runs):
            for name, (cmd, extra) in commands.items():
                wall, cpu, out = measured(cmd, extra)
                if name.endswith("(fast path)") and f"{nodes} unchanged (probe)" not in out:
                    raise SystemExit(f"the fast path did not skip every host:\n{out[-2000:]}")
                results.setdefault(name, []).append((wall, cpu))
                print(
                    f"{nodes} hosts, run {i + 1}: {name:30s} {wall:6.2f} s wall {cpu:6.2f} s CPU",
                    flush=True,
                )
            # ansible-playbook leaves no stamps but changes nothing: stamps stay valid
        last = f"{NAME}-{nodes}"
        drift = []
        for _ in range(runs):
            subprocess.run(
                ["podman", "exec", last, "sysctl", "-w", "net.ipv4.ip_forward=0"],
                check=True,
                capture_output=True,
            )
            wall, cpu, out = measured([*hf, "--json"])
            summary = json.loads(out.splitlines()[-1])["summary"]
            converged = [h for h, o in summary["outcomes"].items() if o == "converged"]
            if converged != [f"lab-{nodes}"]:
                raise SystemExit(f"expected only lab-{nodes} to converge: {summary['outcomes']}")
            drift.append((summary["probe_s"], wall, cpu))
            print(
                f"{nodes} hosts, one drifted: probe {summary['probe_s']:.2f} s, apply {wall:.2f} s",
                flush=True,
            )
        return {"runs": results, "drift": drift}
    finally:
        homeforge(STATE, "lab", "down", "--name", NAME, check=False)


def report(all_results: dict[int, dict], runs: int) -> str:
    lines = [
        f"## Converge fast path: no-op `apply site` on the cluster lab ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {machine()}.",
        "",
        "Lab: `lab up --cluster` (every layer of site.yml, K3s/Ollama/NVIDIA stand-ins, real NFS-Ganesha "
        f"and WireGuard), converged once. Whole-process wall time and controller CPU seconds, medians of {runs} "
        "runs; runners alternate in one sitting. CPU/host = CPU seconds / hosts.",
        "",
        "| hosts | runner | wall | vs ansible-playbook | CPU | CPU/host | runs (wall s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for nodes, result in all_results.items():
        base = statistics.median(w for w, _ in result["runs"]["ansible-playbook (defaults)"])
        for name, samples in result["runs"].items():
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            shown = ", ".join(f"{w:.1f}" for w, _ in samples)
            lines.append(
                f"| {nodes} | {name} | {wall:.2f} s | {wall / base:.3f} | {cpu:.2f} s | {cpu / nodes:.3f} s | {shown} |"
            )
    lines += [
        "",
        "One host drifted (a sysctl changed by hand on the last host), then `homeforge apply site`:",
        "",
    ]
    lines += [
        "| hosts | probe (detects it) | whole apply (converges that host only) | CPU |",
        "|---|---|---|---|",
    ]
    for nodes, result in all_results.items():
        probe = statistics.median(p for p, _, _ in result["drift"])
        wall = statistics.median(w for _, w, _ in result["drift"])
        cpu = statistics.median(c for _, _, c in result["drift"])
        lines.append(f"| {nodes} | {probe:.2f} s | {wall:.2f} s | {cpu:.2f} s |")
    if len(all_results) >= 2:
        small, large = sorted(all_results)[:2]

        def cpu_of(n, name):
            return statistics.median(c for _, c in all_results[n]["runs"][name])

        fast_small = cpu_of(small, "homeforge apply (fast path)")
        fast_large = cpu_of(large, "homeforge apply (fast path)")
        full_per_host = cpu_of(small, "homeforge apply --full") / small
        fast_per_host = fast_small / small
        marginal = (fast_large - fast_small) / (large - small)
        lines += [
            "",
            f"Per-host controller CPU: --full {full_per_host:.2f} s on {small} hosts, fast path {fast_per_host:.3f} s "
            f"({full_per_host / fast_per_host:.0f}x lower); each host beyond {small} adds {marginal:.3f} s of CPU to the "
            f"fast path ({cpu_of(small, 'homeforge apply --full') / small / max(marginal, 1e-3):.0f}x lower than --full's per host).",
        ]
    lines += ["", "Reproduce: `python bench/fast_path.py --write bench/RESULTS.md`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {n: bench(n, args.runs) for n in args.nodes}
    publish(report(results, args.runs), args.write)


if __name__ == "__main__":
    main()
