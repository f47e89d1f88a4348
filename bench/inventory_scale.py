"""`homeforge inventory check` against large generated inventories: wall time and
peak memory of the whole CLI process, per host count (targets: 10,000 hosts in under
10 s and under 1 GB; linear growth), plus a YAML alias bomb (refused, bounded).

Each inventory is the shape a homelab fleet has: hosts in a few groups, a mesh over
all of them, per-host ansible_host and a few wireguard_* variables, group_vars.

Usage: python bench/inventory_scale.py [--hosts 1000 2000 5000 10000] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchlib import OUT, publish

BOMB = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def make_inventory(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    groups: dict = {"gpu": {"hosts": {}}, "cpu": {"hosts": {}}, "edge": {"hosts": {}}}
    for i in range(count):
        name = f"node-{i:05d}"
        hostvars = {"ansible_host": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"}
        if i % 50 == 49:  # some hosts behind NAT, relayed
            hostvars |= {"wireguard_reachable": False, "wireguard_relay": "node-00000"}
        groups[("gpu", "cpu", "edge")[i % 3]]["hosts"][name] = hostvars
    (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": groups}}, sort_keys=False))
    (root / "group_vars").mkdir(exist_ok=True)
    (root / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(
            {
                "wireguard_mesh_cidr": "100.64.0.0/10",
                "wireguard_port": 51820,
                "ansible_user": "root",
            }
        )
    )
    return root / "hosts.yml"


_WRAPPER = """
import resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True)
elapsed = time.monotonic() - started
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)
sys.stderr.buffer.write(done.stderr[-2000:])
"""


CHECK = ("inventory", "check", "-i")


def measure(path: Path) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit code) of one `homeforge inventory check` process, measured
    by a wrapper process of its own so each row's peak is that run's alone."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "homeforge", *CHECK, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "HOMEFORGE_STATE_DIR": str(OUT / "state-scale")},
    )
    seconds, peak_kib, code = done.stdout.split()
    if int(code) not in (0, 2):
        raise SystemExit(done.stderr[-2000:])
    return float(seconds), int(peak_kib) / 1024, int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    rows = []
    for count in args.hosts:
        path = make_inventory(OUT / f"scale-{count}", count)
        seconds, mib, code = measure(path)
        assert code == 0, f"{count} hosts: inventory check failed"
        rows.append((count, seconds, mib))
        print(f"{count} hosts: {seconds:.2f} s, {mib:.0f} MiB", file=sys.stderr)
    bomb_dir = OUT / "scale-bomb"
    make_inventory(bomb_dir, 3)
    (bomb_dir / "group_vars" / "bomb.yml").write_text(BOMB)  # a group file, read like all.yml
    (bomb_dir / "group_vars" / "all.yml").write_text(BOMB)
    bomb_s, bomb_mib, bomb_code = measure(bomb_dir / "hosts.yml")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## `homeforge inventory check` on large inventories ({stamp})",
        "",
        "One `homeforge inventory check` process per row (python -m homeforge; wall time and",
        "peak RSS of the child process), on this 2-core machine. Every host is a mesh member;",
        "one in 50 is relayed. Target: 10,000 hosts in under 10 s and under 1 GB.",
        "",
        "| hosts | seconds | peak MiB | µs per host |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {n:,} | {s:.2f} | {m:.0f} | {s / n * 1e6:.0f} |" for n, s, m in rows]
    lines += [
        "",
        f"A {len(BOMB)}-byte YAML alias bomb in group_vars/all.yml (9^9 values if expanded): "
        f"exit {bomb_code} in {bomb_s:.2f} s, peak {bomb_mib:.0f} MiB (refused before Ansible reads it).",
        "",
        "Reproduce: `python bench/inventory_scale.py --write bench/RESULTS.md`.",
    ]
    publish("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
