"""Seeding a model host to host against plain rsync, on three lab hosts.

The Ollama stand-in (release, registry with a synthetic model of --size bytes) on a
fresh three-host lab; lab-1 pulls the model from the registry (converge), then, in
one sitting and alternating: `homeforge models seed` lab-1 -> lab-2 (the model
deleted on lab-2 before each round) and `rsync` of the same blob files lab-1 ->
lab-2 (rsync's daemon on lab-1, a fresh target directory each round). Also: bytes
the registry sent for the whole fleet (lab-2 and lab-3 seeded). (An interrupted seed's
overhead is not measured here yet; resuming is tested in tests/unit/test_models_seed.py.)

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
        "Reproduce: `python bench/models_seed.py --write bench/RESULTS.md`.",
    ]
    publish("\n".join(lines), args.write)


if __name__ == "__main__":
    main()
