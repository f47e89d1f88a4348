"""A model three hosts want, in a first converge: bytes from the registry and time.

Three lab hosts with the Ollama stand-in (release, and a registry on lab-1 holding one
synthetic model of --size bytes); every host's inventory wants that model. On a new lab
for each run, alternating: `homeforge apply site` (pulls it once, seeds the other two
over the mesh: homeforge.models.spread) and plain `ansible-playbook` of the same
site.yml with Ansible's defaults (each host pulls for itself). Reported: bytes the
registry sent, in model sizes, and the converge's wall time.

Usage: python bench/models_apply.py [--size 300000000] [--runs 1] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchlib import OUT, ROOT, env, publish
from models_seed import NAME, REGISTRY_APP, SUBNET, hf, inventory_for, registry_bytes

STATE = "state-seed"  # models_seed's: its hf() and inventory_for() use it


def fresh(size: int) -> Path:
    hf("lab", "down", "--name", NAME, check=False)
    hf("lab", "up", "--nodes", "3", "--name", NAME, "--subnet", SUBNET)
    for cached in (OUT / STATE / "facts").glob("*"):  # the last lab's hosts had these names
        cached.unlink()
    inv = inventory_for(size)
    for host in ("lab-1", "lab-2", "lab-3"):
        (inv / "host_vars" / f"{host}.yml").write_text(
            yaml.safe_dump({"ollama_models": ["tiny:1b"]})
        )
    hf("apply", str(REGISTRY_APP), "-i", str(inv))
    return inv


def converge(runner: str, inv: Path) -> float:
    if runner == "homeforge apply":
        cmd, extra = [sys.executable, "-m", "homeforge", "apply", "site", "-i", str(inv)], {}
    else:
        empty_cfg = OUT / "empty-ansible.cfg"
        empty_cfg.write_text("")
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv)]
        cmd.append(str(ROOT / "playbooks" / "site.yml"))
        extra = {
            "ANSIBLE_CONFIG": str(empty_cfg),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".homeforge" / "collections"),
        }
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**env(STATE), **extra})
    if done.returncode != 0:
        raise SystemExit(f"{runner} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=300_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    runners = ("homeforge apply", "ansible-playbook (defaults)")
    seconds: dict[str, list[float]] = {r: [] for r in runners}
    sent: dict[str, list[int]] = {r: [] for r in runners}
    try:
        for _ in range(args.runs):
            for runner in runners:
                inv = fresh(args.size)
                seconds[runner].append(converge(runner, inv))
                sent[runner].append(registry_bytes())
                print(
                    f"{runner}: {seconds[runner][-1]:.1f}s {sent[runner][-1]:,} B", file=sys.stderr
                )
    finally:
        hf("lab", "down", "--name", NAME, check=False)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## A model three hosts want, in a first converge ({stamp})",
        "",
        f"Three new lab hosts, the Ollama stand-in; all three want one synthetic {args.size / 1e6:,.0f} MB",
        "model from the stand-in registry on lab-1 (no rate limit: the lab LAN). A new lab for",
        f"each of {args.runs} run(s) per runner, alternating. Bytes are what the registry logged.",
        "",
        "| runner | bytes from the registry | model sizes | converge (median) |",
        "|---|---:|---:|---:|",
    ]
    for runner in runners:
        total = statistics.median(sent[runner])
        lines.append(
            f"| {runner} | {total:,.0f} | {total / args.size:.3f} | {statistics.median(seconds[runner]):.1f} s |"
        )
    lines += [
        "",
        "homeforge pulls the model on lab-1 and seeds lab-2 and lab-3 over the WireGuard mesh",
        "(wireguard-go in the lab); plain ansible-playbook has each host pull it.",
        "",
        "Reproduce: `python bench/models_apply.py --write bench/RESULTS.md`.",
    ]
    publish("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
