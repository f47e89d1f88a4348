"""Adding a peer to a running three-host mesh: do the existing peers notice?

A 4-host lab; the mesh is first converged on lab-1..3 only. While `homeforge apply
site` adds lab-4 (the existing hosts reload their peers with `wg syncconf`), each
existing host pings the next one's mesh address 5 times a second (ICMP echo
request and reply over WireGuard). Reports the apply wall time, the echo requests
sent and lost per pair (target: 0 lost), and whether the existing pairs kept their
WireGuard session (same latest-handshake before and after: no new handshake).

Usage: python bench/mesh_add_peer.py [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchlib import OUT, ROOT, homeforge, publish
from benchlib import env as bench_env

STATE = "state-mesh"
NAME = "hf-bench-mesh"
SUBNET = "10.254.94.0/24"


def env() -> dict[str, str]:
    return bench_env(STATE)


def hf(*args: str) -> subprocess.CompletedProcess:
    return homeforge(STATE, *args)


def podman(*args: str) -> str:
    from homeforge.lab import podman as pm

    return pm.run(*args, check=False).stdout


def mesh_address(index: int) -> str:
    return podman(
        "exec",
        f"{NAME}-{index}",
        "sh",
        "-c",
        "ip -4 -o addr show wg0 | awk '{print $4}' | cut -d/ -f1",
    ).strip()


def handshakes(index: int) -> dict[str, int]:
    out = podman("exec", f"{NAME}-{index}", "wg", "show", "wg0", "latest-handshakes")
    return {
        line.split("\t")[0]: int(line.split("\t")[1]) for line in out.splitlines() if "\t" in line
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "homeforge", "lab", "down", "--name", NAME],
        env=env(),
        capture_output=True,
    )
    hf("lab", "up", "--nodes", "4", "--name", NAME, "--subnet", SUBNET)
    try:
        full = OUT / "state-mesh" / "lab" / NAME / "inventory.yml"
        inventory = yaml.safe_load(full.read_text())
        inventory["all"]["hosts"].pop("lab-4")
        inventory["all"]["children"]["k3s_cluster"]["children"]["agent"]["hosts"].pop("lab-4")
        three = OUT / "inventory-3.yml"
        three.write_text(yaml.safe_dump(inventory))
        hf("apply", "site", "-i", str(three))

        pairs = [(1, 2), (2, 3), (3, 1)]
        addresses = {i: mesh_address(i) for i in (1, 2, 3)}
        for src, dst in pairs:  # establish the sessions before measuring
            podman("exec", f"{NAME}-{src}", "ping", "-c", "1", "-W", "3", addresses[dst])
        before = {i: handshakes(i) for i in (1, 2, 3)}

        deadline = 60
        pingers = {
            (src, dst): subprocess.Popen(
                [
                    "podman",
                    "exec",
                    f"{NAME}-{src}",
                    "ping",
                    "-i",
                    "0.2",
                    "-w",
                    str(deadline),
                    "-W",
                    "1",
                    addresses[dst],
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={
                    **os.environ,
                    "CONTAINERS_CONF": str(ROOT / "src/homeforge/lab/containers.conf"),
                },
            )
            for src, dst in pairs
        }
        time.sleep(2)
        started = time.perf_counter()
        hf("apply", "site", "-i", str(full))
        apply_s = time.perf_counter() - started
        results = {}
        for pair, proc in pingers.items():
            text = proc.communicate()[0]
            match = re.search(r"(\d+) packets transmitted, (\d+) received", text)
            sent, received = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
            results[pair] = (sent, sent - received)
        after = {i: handshakes(i) for i in (1, 2, 3)}
        kept = all(
            after[i].get(key) == stamp for i in (1, 2, 3) for key, stamp in before[i].items()
        )
        lab4_peers = len(podman("exec", f"{NAME}-4", "wg", "show", "wg0", "peers").split())
    finally:
        subprocess.run(
            [sys.executable, "-m", "homeforge", "lab", "down", "--name", NAME],
            env=env(),
            capture_output=True,
        )

    lines = [
        f"## Adding a peer to a running three-host mesh ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`homeforge apply site` adding lab-4 took {apply_s:.1f} s; lab-4 came up with {lab4_peers} peers. "
        "During it each existing host pinged the next one's mesh address 5 times a second "
        f"(for {deadline} s, covering the whole apply).",
        "",
        "| pair | echo requests | lost |",
        "|---|---|---|",
        *[f"| lab-{s} -> lab-{d} | {sent} | {lost} |" for (s, d), (sent, lost) in results.items()],
        "",
        f"Existing sessions kept (no new handshake between lab-1..3 during the apply): {'yes' if kept else 'no'}.",
    ]
    text = "\n".join(lines) + "\n"
    publish(text, args.write)


if __name__ == "__main__":
    main()
