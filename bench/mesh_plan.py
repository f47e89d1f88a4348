"""Controller time to plan a WireGuard mesh and render every host's config.

For meshes of 10, 100 and 500 hosts (one in ten behind a relay): the planner
(plugins/module_utils/mesh.py, what the wireguard_mesh filter runs once per play)
and the rendering of roles/wireguard/templates/wg.conf.j2 for every host with
Jinja2. Median of --runs runs each. Target: 500 hosts in under 5 s.

Usage: python bench/mesh_plan.py [--runs 5] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from benchlib import ROOT, publish

from homeforge.wireguard.planner import load_mesh_utils

TEMPLATE = ROOT / "roles" / "wireguard" / "templates" / "wg.conf.j2"


def hostvars(n: int) -> tuple[list[str], dict]:
    names = [f"node-{i:03d}" for i in range(n)]
    out = {}
    for i, name in enumerate(names):
        key = base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()
        hv = {
            "ansible_host": f"192.0.{2 + i // 250}.{i % 250 + 1}",
            "wireguard_facts": {"public_key": key},
        }
        if i % 10 == 9:
            hv.update(wireguard_reachable=False, wireguard_relay=names[0])
        out[name] = hv
    return names, out


def one_run(n: int, env: jinja2.Environment) -> tuple[float, float]:
    mesh = load_mesh_utils()
    names, hv = hostvars(n)
    cidr = "10.77.0.0/16" if n > 250 else "10.77.0.0/24"
    started = time.perf_counter()
    plan = mesh.plan(cidr, mesh.hosts_from_vars(names, hv))
    planned = time.perf_counter()
    template = env.get_template(TEMPLATE.name)
    total = 0
    for name in names:
        total += len(
            template.render(
                _self=plan[name],
                wireguard_interface="wg0",
                wireguard_mtu=0,
                ansible_managed="Ansible managed",
            )
        )
    rendered = time.perf_counter()
    assert total > 0
    return planned - started, rendered - planned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    lines = [
        f"## WireGuard mesh planning and config rendering ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Controller time, median of {args.runs} runs; one host in ten behind a relay.",
        "",
        "| hosts | peers in total | plan | render all configs | total | target |",
        "|---|---|---|---|---|---|",
    ]
    mesh = load_mesh_utils()
    for n in (10, 100, 500):
        runs = [one_run(n, env) for _ in range(args.runs)]
        plan_s = statistics.median(r[0] for r in runs)
        render_s = statistics.median(r[1] for r in runs)
        names, hv = hostvars(n)
        peers = sum(
            len(h["peers"])
            for h in mesh.plan("10.77.0.0/16", mesh.hosts_from_vars(names, hv)).values()
        )
        target = "< 5 s" if n == 500 else ""
        lines.append(
            f"| {n} | {peers} | {plan_s:.3f} s | {render_s:.3f} s | {plan_s + render_s:.3f} s | {target} |"
        )
    text = "\n".join(lines) + "\n"
    publish(text, args.write)


if __name__ == "__main__":
    main()
