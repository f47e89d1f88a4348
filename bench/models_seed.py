"""Seeding a model host to host against plain rsync, on three lab hosts.

The Ollama stand-in (release, registry with a synthetic model of --size bytes) on a
fresh three-host lab; lab-1 pulls the model from the registry (converge), then, in
one sitting and alternating: `homeforge models seed` lab-1 -> lab-2 (the model
deleted on lab-2 before each round) and `rsync` of the same blob files lab-1 ->
lab-2 (rsync's daemon on lab-1, a fresh target directory each round). Also: bytes
the registry sent for the whole fleet (lab-2 and lab-3 seeded), and an interrupted seed:
lab-2's fetch killed (SIGKILL) once half the model has arrived, then the seed run again;
its overhead is the bytes sent twice and the time against an uninterrupted seed.

Usage: python bench/models_seed.py [--size 1000000000] [--rounds 3] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchlib import OUT, ROOT, homeforge, publish

NAME = "hf-bench-seed"
SUBNET = "10.254.99.0/24"
STATE = "state-seed"
STANDIN = ROOT / "tests" / "standins" / "ollama"
REGISTRY_APP = ROOT / "tests" / "integration" / "apps" / "ollama_registry.yml"
MODELS = "/var/lib/ollama/models"


def hf(*args: str, check: bool = True):
    return homeforge(STATE, *args, check=check)


def sh(index: int, command: str, check: bool = True) -> str:
    from homeforge.lab import podman

    done = podman.run("exec", f"{NAME}-{index}", "sh", "-c", command, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"lab-{index}: {command}: {done.stderr}")
    return done.stdout


def inventory_for(size: int) -> Path:
    inv = OUT / STATE / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    (inv / "host_vars").mkdir(exist_ok=True)
    lab_inv = OUT / STATE / "lab" / NAME / "inventory.yml"
    (inv / "inventory.yml").write_text(lab_inv.read_text())
    hosts = yaml.safe_load(lab_inv.read_text())["all"]["hosts"]
    release = OUT / STATE / "ollama-release"
    subprocess.run([sys.executable, str(STANDIN), "release", "--out", str(release)], check=True)
    groups = {"ollama": {"hosts": dict.fromkeys(hosts)}, "registry": {"hosts": {"lab-1": None}}}
    (inv / "groups.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (inv / "group_vars" / "ollama.yml").write_text(
        yaml.safe_dump(
            {
                "ollama_artifacts_dir": str(release),
                "ollama_version": "0.35.1-standin",  # the stand-in's own (tests/standins/ollama)
                "ollama_extra_env": {
                    "OLLAMA_STANDIN_REGISTRY": f"http://{hosts['lab-1']['ansible_host']}:5000"
                },
                "registry_model_size": size,
            }
        )
    )
    (inv / "host_vars" / "lab-1.yml").write_text(yaml.safe_dump({"ollama_models": ["tiny:1b"]}))
    return inv


def registry_bytes() -> int:
    return sum(json.loads(x)["bytes"] for x in sh(1, "cat /srv/registry.log").splitlines() if x)


def seed(inv: Path, target: str, check: bool = True):
    return hf(
        "models",
        "seed",
        "tiny:1b",
        "--from",
        "lab-1",
        "--to",
        target,
        "-i",
        str(inv),
        "--json",
        check=check,
    )


def delete_model(index: int) -> None:
    """The model gone from a host: its manifest and blobs (as Ollama's delete does)."""
    sh(
        index,
        f"rm -rf {MODELS}/manifests/registry.ollama.ai/library/tiny {MODELS}/blobs/* {MODELS}/.homeforge-seed",
    )


def staged_bytes(index: int) -> int:
    """Bytes of the model lab-2 holds so far: its blobs and the partial ones being fetched."""
    listing = f"find {MODELS}/blobs {MODELS}/.homeforge-seed -type f -printf '%s\\n'"
    out = sh(index, listing + " 2>/dev/null || true", check=False)
    return sum(int(word) for word in out.split() if word.isdigit())


def interrupted_seed(inv: Path, size: int) -> dict:
    """Kill lab-2's fetch halfway, then seed again: what arrived before, what was sent after."""
    from benchlib import env

    delete_model(2)
    began = time.monotonic()
    first = subprocess.Popen(
        [sys.executable, "-m", "homeforge", "models", "seed", "tiny:1b", "--from", "lab-1",
         "--to", "lab-2", "-i", str(inv), "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(STATE),
    )  # fmt: skip
    while staged_bytes(2) < size // 2:
        if first.poll() is not None:
            raise SystemExit("the seed ended before it could be interrupted: use a larger --size")
        time.sleep(0.05)
    sh(2, "pkill -KILL -f homeforge_program", check=False)  # the fetch, on the target
    arrived = staged_bytes(2)
    first.wait(timeout=120)
    killed_after = time.monotonic() - began
    began = time.monotonic()
    done = json.loads(seed(inv, "lab-2").stdout.splitlines()[-1])["seed"]["targets"]["lab-2"]
    return {
        "arrived": arrived,
        "resent": arrived + done["transferred"] - size,
        "resume_seconds": time.monotonic() - began,
        "first_seconds": killed_after,
        "transferred": done["transferred"],
    }


def mesh_address(index: int) -> str:
    words = sh(index, "ip -o -4 addr show dev wg0").split()
    return words[words.index("inet") + 1].split("/")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    hf("lab", "down", "--name", NAME, check=False)
    hf("lab", "up", "--nodes", "3", "--name", NAME, "--subnet", SUBNET)
    try:
        inv = inventory_for(args.size)
        hf("apply", str(REGISTRY_APP), "-i", str(inv))
        hf("apply", "site", "-i", str(inv))
        address = yaml.safe_load((inv / "inventory.yml").read_text())["all"]["hosts"]["lab-1"][
            "ansible_host"
        ]
        sh(
            1,
            f"printf '[models]\\npath = {MODELS}/blobs\\nread only = yes\\nuid = root\\n' > /etc/rsyncd.conf && (rsync --daemon || true)",
        )
        seeds, rsyncs, lan = [], [], []
        mesh = mesh_address(1)
        for _ in range(args.rounds):
            delete_model(2)
            began = time.monotonic()
            seed(inv, "lab-2")
            seeds.append(time.monotonic() - began)
            for via, times in ((mesh, rsyncs), (address, lan)):
                sh(2, "rm -rf /tmp/rsync-target && mkdir /tmp/rsync-target")
                began = time.monotonic()
                sh(2, f"rsync -a rsync://{via}/models/ /tmp/rsync-target/")
                times.append(time.monotonic() - began)
            print(
                f"seed {seeds[-1]:.2f}s rsync {rsyncs[-1]:.2f}s lan {lan[-1]:.2f}s", file=sys.stderr
            )
        upstream_before = registry_bytes()
        seed(inv, "lab-3")
        fleet_upstream = registry_bytes()
        cut = interrupted_seed(inv, args.size)
        print(f"interrupted: {cut}", file=sys.stderr)
    finally:
        hf("lab", "down", "--name", NAME, check=False)
    seed_med, rsync_med = statistics.median(seeds), statistics.median(rsyncs)
    lan_med = statistics.median(lan)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mb = args.size / 1e6
    lines = [
        f"## Seeding a model host to host, against rsync ({stamp})",
        "",
        f"Three lab hosts, the Ollama stand-in, a synthetic {mb:,.0f} MB model pulled by lab-1",
        f"from the stand-in registry. {args.rounds} alternating rounds lab-1 -> lab-2:",
        "`homeforge models seed` (whole command: SSH, offer, fetch with sha256 of every blob,",
        "manifest, Ollama's listing checked; over the WireGuard mesh, which is wireguard-go in",
        "the lab) and `rsync -a` of the same blob files from rsync's daemon on lab-1 over the",
        "same mesh path, and, for reference, over the lab LAN (no WireGuard).",
        "",
        "| | median | throughput |",
        "|---|---:|---:|",
        f"| homeforge models seed | {seed_med:.2f} s | {mb / seed_med:,.0f} MB/s |",
        f"| rsync -a (daemon), same mesh path | {rsync_med:.2f} s | {mb / rsync_med:,.0f} MB/s |",
        f"| rsync -a (daemon), lab LAN, reference | {lan_med:.2f} s | {mb / lan_med:,.0f} MB/s |",
        "",
        f"Throughput ratio seed / rsync on the same path: {rsync_med / seed_med:.2f} (target at least 0.8).",
        f"Bytes the registry sent for the fleet (lab-1 pulled; lab-2 and lab-3 seeded): "
        f"{fleet_upstream:,} ({fleet_upstream / args.size:.3f} model sizes; {upstream_before:,} before lab-3's seed).",
        "",
        f"An interrupted seed: lab-2's fetch killed with {cut['arrived']:,} bytes "
        f"({cut['arrived'] / args.size:.0%}) arrived after {cut['first_seconds']:.2f} s; the seed run again "
        f"sent {cut['transferred']:,} bytes in {cut['resume_seconds']:.2f} s. Bytes sent twice: "
        f"{max(cut['resent'], 0):,} ({max(cut['resent'], 0) / args.size:.2%} of the model); "
        f"both runs together took {(cut['first_seconds'] + cut['resume_seconds']) / seed_med:.2f}x "
        "an uninterrupted seed (the second run re-checks the arrived blobs' sha256 and sets up SSH and the offer again).",
        "",
        "Reproduce: `python bench/models_seed.py --write bench/RESULTS.md`.",
    ]
    publish("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
