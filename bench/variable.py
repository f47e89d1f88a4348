"""One inventory variable changed on one host: only the roles that read it, against the
whole host and plain Ansible.

On a lab built with `lab up --cluster` (every layer of site.yml), converged once, one
host variable of the last host (``common_ntp_servers``, which only the base layer's
``common`` role reads) is set to one value and applied (the stamp then has it), then
changed to another before every measured run; the runners alternate in one sitting,
each timed for whole-process wall time and controller CPU seconds:

  - `homeforge apply site`: the probe names the variable and runs only the roles that
    read it (homeforge.fastpath.readers, homeforge.fastpath.targets);
  - `homeforge apply site --full --limit HOST`: that host's whole site.yml;
  - `homeforge apply site --full`: every host, every role;
  - ansible-playbook with Ansible's defaults (an empty ansible.cfg), the whole site.yml.

Each run must leave the host's chrony configuration with the new server.

Usage: python bench/variable.py [--nodes 3] [--runs 3] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchlib import OUT, homeforge, publish
from converge import machine
from drift import commands, runner_table
from fast_path import NAME, STATE, SUBNET, inventory, measured

VARIABLE = "common_ntp_servers"
VALUES = (["192.0.2.10"], ["192.0.2.11"])


def set_value(host: str, value: list[str]) -> None:
    path = inventory()
    data = yaml.safe_load(path.read_text())
    data["all"]["hosts"][host][VARIABLE] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def has_server(container: str, server: str) -> bool:
    done = subprocess.run(
        ["podman", "exec", container, "cat", "/etc/chrony/chrony.conf"],
        capture_output=True,
        text=True,
    )
    return server in done.stdout


def bench(nodes: int, runs: int) -> dict[str, list]:
    homeforge(STATE, "lab", "down", "--name", NAME, check=False)
    homeforge(
        STATE, "lab", "up", "--nodes", str(nodes), "--name", NAME, "--subnet", SUBNET, "--cluster"
    )
    host, container = f"lab-{nodes}", f"{NAME}-{nodes}"
    try:
        runs_of = {
            name.replace("only what drifted", "only the roles that read it"): cmd
            for name, cmd in commands(nodes).items()
        }
        hf = runs_of["homeforge apply --full (every host)"][0]
        measured(hf)  # first converge
        results: dict[str, list] = {}
        for i in range(runs):
            for name, (cmd, extra) in runs_of.items():
                set_value(host, VALUES[0])
                measured(hf[:-1])  # the stamp has the first value
                set_value(host, VALUES[1])
                wall, cpu, out = measured(cmd, extra)
                if not has_server(container, VALUES[1][0]):
                    raise SystemExit(f"{name} did not apply {VARIABLE}")
                if "only the roles" in name:
                    summary = json.loads(out.splitlines()[-1])["summary"]
                    if summary["targeted"] != [host]:
                        raise SystemExit(f"not a targeted converge: {summary['roles']}")
                    results.setdefault("roles", []).append(summary["roles"][host])
                results.setdefault(name, []).append((wall, cpu))
                print(f"run {i + 1}: {name:48s} {wall:6.2f} s wall {cpu:6.2f} s CPU", flush=True)
        return results
    finally:
        homeforge(STATE, "lab", "down", "--name", NAME, check=False)


def report(results: dict, nodes: int, runs: int) -> str:
    roles = results.pop("roles")
    lines = [
        f"## One inventory variable changed on one of {nodes} hosts"
        f" ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {machine()}.",
        "",
        f"Lab: `lab up --cluster`, converged. Before each run `{VARIABLE}` of lab-{nodes} is "
        f"applied as {VALUES[0]} and then set to {VALUES[1]}; every run applies it. "
        f"Whole-process wall time and controller CPU seconds, medians of {runs} runs; "
        f"runners alternate in one sitting. The targeted converge ran: {', '.join(roles[0])}.",
        "",
        *runner_table(results),
    ]
    lines += ["", "Reproduce: `python bench/variable.py --write bench/RESULTS.md`."]
    return "\n".join(lines) + "\n"


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
