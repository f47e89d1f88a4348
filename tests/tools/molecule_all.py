"""Run every molecule scenario (molecule/<role>/molecule.yml), a few side by side.

    python tests/tools/molecule_all.py [--jobs N] [SCENARIO ...]

Each scenario has its own hosts, network and NFS volume (molecule/_shared/create.yml),
so scenarios do not disturb each other. What an interrupted run left is cleared with
podman before a scenario starts (clear_leftovers), and molecule's sequence then starts at
create (_shared/suite.yml, layered over _shared/base.yml). The slowest start first (a
recorded order, then alphabetical). Each scenario's output goes to
.homeforge/molecule/<scenario>.log; a line per scenario says how it ended and how long it
took, and a failed scenario's log is printed whole. Exit status: 0 when every scenario
passed, 1 otherwise.

Ansible runs with the strategy `homeforge apply` uses by default: mitogen's when it is
installed (converge and idempotence take about 0.6 of the linear strategy's time); with
`--strategy linear`, Ansible's own. `make molecule` runs this with HOMEFORGE_LAB_IMAGE
set (`homeforge lab image`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".homeforge" / "molecule"

# Measured durations (seconds, SSH-connected hosts, two cores): the longest go first so
# the last lane does not start a slow one at the end. Unlisted scenarios run last.
SLOWEST_FIRST = (
    "ai_gateway",
    "nvidia",
    "nfs_provisioner",
    "ingress_traefik",
    "wireguard",
    "k3s",
    "ingress_istio",
    "ollama",
    "ebs_csi",
    "nfs_server",
    "common",
    "eks_node",
)


def scenarios() -> list[str]:
    found = sorted(
        p.parent.name
        for p in (ROOT / "molecule").glob("*/molecule.yml")
        if not p.parent.name.startswith("_")
    )
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    return sorted(found, key=lambda name: (rank.get(name, len(rank)), name))


_running: set[subprocess.Popen] = set()


def _call(argv: list[str], **kwargs) -> int:
    """Run one command (a molecule, a pytest) in its own process group, known to
    _stop_all."""
    process = subprocess.Popen(argv, start_new_session=True, **kwargs)
    _running.add(process)
    try:
        return process.wait()
    finally:
        _running.discard(process)


def _stop_all(*_args) -> None:
    """On Ctrl-C or SIGTERM: stop every running command with its ansible-playbook
    children (they would go on converging hosts nobody waits for), then exit."""
    for process in list(_running):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    sys.exit(130)


def strategy_env(strategy: str) -> dict[str, str]:
    """The Ansible strategy variables, chosen as `homeforge apply --strategy` chooses."""
    from homeforge.runner import ansible_env

    chosen = ansible_env(LOGS, strategy)
    return {k: chosen[k] for k in ("ANSIBLE_STRATEGY_PLUGINS", "ANSIBLE_STRATEGY") if k in chosen}


def state_directory(scenario: str) -> Path:
    """Molecule's ephemeral directory for a scenario run by the suite (its state, the
    inventory it writes, the hosts' SSH key): inside the checkout, so the suite knows it."""
    return LOGS / "state" / scenario


def clear_leftovers(scenario: str) -> None:
    """What an interrupted run of ``scenario`` can have left goes: its hosts (labelled
    with the scenario's network by _shared/create.yml), its NFS volume and network, and
    molecule's state for it. The podman calls that find nothing change nothing."""
    network = f"homeforge-molecule-{scenario.replace('_', '-')}"
    found = subprocess.run(
        ["podman", "ps", "--all", "--quiet", "--filter", f"label=homeforge-molecule={network}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    removals = [
        ["podman", "volume", "rm", "--force", f"{network}-nfs"],
        ["podman", "network", "rm", "--force", network],
    ]
    if found:  # the hosts first: a network in use is not removed
        removals.insert(0, ["podman", "rm", "--force", "--volumes", "--time", "2", *found])
    for argv in removals:
        subprocess.run(argv, capture_output=True, check=False)
    shutil.rmtree(state_directory(scenario), ignore_errors=True)


def run(scenario: str, strategy: dict[str, str]) -> tuple[int, Path]:
    """Run one scenario's `molecule test`, its leftovers cleared first (so its sequence,
    _shared/suite.yml, starts at create); return its exit status and log."""
    clear_leftovers(scenario)
    env = {
        **os.environ,
        **strategy,
        "MOLECULE_GLOB": f"molecule/{scenario}/molecule.yml",
        "MOLECULE_EPHEMERAL_DIRECTORY": str(state_directory(scenario)),
    }
    log = LOGS / f"{scenario}.log"
    LOGS.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        status = _call(
            [
                str(Path(sys.executable).parent / "molecule"),
                "-c",
                "molecule/_shared/base.yml",
                "-c",
                "molecule/_shared/suite.yml",
                "test",
                "-s",
                scenario,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return status, log


def side_by_side(
    names: list[str],
    run_one: Callable[[str], tuple[int, Path]],
    jobs: int,
    prefix: str = "",
    lane: Sequence[str] = (),
) -> tuple[list[str], float]:
    """``run_one(name)`` (exit status, log) for each name, ``jobs`` at a time, and the
    names in ``lane`` one after another in one more lane beside them; all stopped
    together on Ctrl-C or SIGTERM. A line per name as it ends, with its time; a failed
    one's log is printed whole. Returns the failed names and the seconds it all took."""
    signal.signal(signal.SIGTERM, _stop_all)
    signal.signal(signal.SIGINT, _stop_all)

    def timed(name: str) -> tuple[int, Path, float]:
        started = time.monotonic()
        status, log = run_one(name)
        return status, log, time.monotonic() - started

    started = time.monotonic()
    failed = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, ThreadPoolExecutor(1) as own:
        futures = {pool.submit(timed, name): name for name in names}
        futures.update({own.submit(timed, name): name for name in lane})
        for done in as_completed(futures):
            name = futures[done]
            status, log, seconds = done.result()
            print(
                f"{prefix}{name}: {'passed' if status == 0 else 'FAILED'} in {seconds:.0f} s",
                flush=True,
            )
            if status:
                failed.append(name)
                sys.stdout.write(log.read_text())
    return failed, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")))
    parser.add_argument("--strategy", choices=("auto", "mitogen", "linear"), default="auto")
    parser.add_argument("scenario", nargs="*", help="scenarios to run (default: all)")
    args = parser.parse_args(argv)
    known = scenarios()
    unknown = sorted(set(args.scenario) - set(known))
    if unknown:
        print(
            f"molecule: no scenario named {', '.join(unknown)} (molecule/<name>/molecule.yml)",
            file=sys.stderr,
        )
        return 2
    if not os.environ.get("HOMEFORGE_LAB_IMAGE"):
        print("molecule: HOMEFORGE_LAB_IMAGE is not set (make molecule sets it)", file=sys.stderr)
        return 2
    chosen = [s for s in known if not args.scenario or s in args.scenario]
    LOGS.mkdir(parents=True, exist_ok=True)
    strategy = strategy_env(args.strategy)
    print(
        f"molecule: strategy {strategy.get('ANSIBLE_STRATEGY', 'linear')}, {args.jobs} side by side"
    )
    failed, total = side_by_side(
        chosen, lambda scenario: run(scenario, strategy), args.jobs, "molecule "
    )
    print(
        f"molecule: {len(chosen) - len(failed)} of {len(chosen)} scenarios passed in {total:.0f} s"
    )
    if failed:
        print(f"molecule: failed: {', '.join(failed)} (logs in {LOGS.relative_to(ROOT)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
