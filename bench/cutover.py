"""Cutover and rollback under continuous load: wall time and failed requests.

The lab of tests/integration/cutover_lab.py: lab-1 and lab-2 serve a small HTTP
service, lab-3 runs two consumers that request it all the time (one follows its
environment file, one is a systemd unit restarted by a drop-in). Each round runs
`homeforge mesh cutover` then `homeforge mesh rollback` (default firewall
exposure, 5 consecutive probes per check) and counts, from the consumers' own
request logs, the requests made during the round and the failed ones (target 0).

Usage: python bench/cutover.py [--rounds 5] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import OUT, ROOT, homeforge, publish

sys.path.insert(0, str(ROOT))
from homeforge.cutover.journal import inventory_key
from tests.integration import cutover_lab as cl

STATE = "state-cutover"
NAME = "hf-bench-cut"
SUBNET = "10.254.97.0/24"


def hf(*args: str, check: bool = True):
    return homeforge(STATE, *args, check=check)


def podman(*args: str):
    from homeforge.lab import podman as pm

    return pm.run(*args, check=False)


def logs() -> list[dict]:
    return cl.consumer_log(f"{NAME}-3", podman, "hf-consumer") + cl.consumer_log(
        f"{NAME}-3", podman, "hf-consumer-sd"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", type=Path, help="Append the results to this markdown file.")
    args = parser.parse_args()

    hf("lab", "down", "--name", NAME, check=False)
    hf("lab", "up", "--nodes", "3", "--name", NAME, "--subnet", SUBNET)
    try:
        inventory = cl.make_inventory(
            OUT / STATE / "lab" / NAME / "inventory.yml", OUT / STATE / "inventory"
        )
        cl.declare(inventory, {cl.SERVICE: cl.service(inventory)})
        hf("apply", "site", "-i", str(inventory))
        hf("apply", str(cl.APPS), "-i", str(inventory))
        journal = OUT / STATE / "cutover" / inventory_key(inventory) / f"{cl.SERVICE}.json"
        journal.unlink(missing_ok=True)
        time.sleep(2)
        rows = []
        for _ in range(args.rounds):
            start = time.time()
            began = time.monotonic()
            hf("mesh", "cutover", cl.SERVICE, "-i", str(inventory))
            cut = time.monotonic() - began
            time.sleep(1)
            began = time.monotonic()
            hf("mesh", "rollback", cl.SERVICE, "-i", str(inventory))
            back = time.monotonic() - began
            time.sleep(1)
            during = [r for r in logs() if r["t"] >= start]
            rows.append((cut, back, len(during), sum(not r["ok"] for r in during)))
            print(
                f"cutover {cut:.2f}s rollback {back:.2f}s requests {rows[-1][2]} failed {rows[-1][3]}"
            )
    finally:
        hf("lab", "down", "--name", NAME, check=False)

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Cutover and rollback under continuous load ({stamp})",
        "",
        "3 lab hosts (lab-1, lab-2 serve; lab-3 consumes: an environment-file consumer",
        "requesting both service hosts every 50 ms, and a systemd consumer restarted through",
        f"a drop-in). Firewall exposure, 5 consecutive probes per check. {args.rounds} rounds of",
        "`homeforge mesh cutover` then `homeforge mesh rollback`; requests counted from the",
        "consumers' own logs between the start of the cutover and the end of the rollback.",
        "",
        "| round | cutover | rollback | requests | failed |",
        "|---|---|---|---|---|",
    ]
    for index, (cut, back, total, failed) in enumerate(rows, 1):
        lines.append(f"| {index} | {cut:.2f} s | {back:.2f} s | {total} | {failed} |")
    lines += [
        "",
        f"Median cutover {statistics.median(r[0] for r in rows):.2f} s, median rollback "
        f"{statistics.median(r[1] for r in rows):.2f} s (wall time of the CLI, start to exit); "
        f"failed requests in all rounds: {sum(r[3] for r in rows)} of {sum(r[2] for r in rows)} "
        "(target 0).",
    ]
    publish("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
