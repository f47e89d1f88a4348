"""Run the whole test suite: the checks in one lane, beside the integration test files
and the molecule scenarios in N lanes.

    python tests/tools/lanes.py [--jobs N] [JOB ...]

A lab job is one integration test file (`pytest tests/integration/test_<name>.py`: each
file brings up a lab of its own, on a subnet of its own) or one molecule scenario (as
tests/tools/molecule_all.py runs it: its own hosts, network and NFS volume), so jobs do
not disturb each other. The checks (`checks/lint`, `checks/sanity`, `checks/unit`: the
Makefile's targets, unit in one process) need no lab and run one after another in a
lane of their own. Named on the command line as `integration/<name>`,
`molecule/<scenario>` or `checks/<name>`; all of them by default.

Why lanes: measured on two cores, one integration file at a time left the CPU idle 45% of
the time (hosts booting, apt downloads, services starting, the waits the tests are
about), and molecule's two scenarios at a time 35%; three lab lanes still left 15%, which
the checks' lane (all CPU, no waits) takes. (A fourth lab lane once the checks are done
measured slower: a run with it took 1927 s, one without 1769 s.) Lab jobs start longest
first (the durations recorded below), so the last lane does not start a long job at the
end.

Each job's output goes to a log (integration: .homeforge/lanes/<name>.log, with pytest's
ten slowest steps; molecule: .homeforge/molecule/<scenario>.log); one line per job says
how it ended and how long it took, and a failed job's log is printed whole. Exit status:
0 when every job passed, 1 otherwise, 2 for an unknown job. `make test` runs this with
HOMEFORGE_LAB_IMAGE set (`homeforge lab image`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import molecule_all  # the scenario runner beside this file

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".homeforge" / "lanes"

# Seconds each job took, measured one file at a time (integration) and two scenarios at
# a time (molecule) on two cores: the order jobs start in. Unlisted jobs start last.
RECORDED = {
    "integration/cluster": 375,
    "integration/lab_converge": 314,
    "integration/cutover": 282,
    "integration/homelab": 330,
    "molecule/ai_gateway": 160,
    "integration/models": 145,
    "molecule/nfs_provisioner": 112,
    "molecule/nvidia": 180,
    "molecule/nfs_server": 93,
    "molecule/wireguard": 90,
    "molecule/ollama": 84,
    "molecule/ingress_traefik": 79,
    "molecule/common": 72,
    "molecule/ingress_istio": 68,
    "molecule/ebs_csi": 57,
    "molecule/k3s": 70,
    "integration/awx": 46,
    "integration/eks": 42,
    "molecule/eks_node": 28,
}


# The checks' lane, in this order: the quick ones first, so a lint error shows early.
CHECKS = ["checks/lint", "checks/sanity", "checks/unit"]
CHECK_COMMANDS = {
    "lint": ["make", "--no-print-directory", "lint"],
    "sanity": ["make", "--no-print-directory", "sanity"],
    # one process: the lane shares two cores with the labs
    "unit": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
}


def jobs() -> list[str]:
    """Every lab job, longest first."""
    found = [
        f"integration/{p.stem.removeprefix('test_')}"
        for p in (ROOT / "tests" / "integration").glob("test_*.py")
    ] + [f"molecule/{s}" for s in molecule_all.scenarios()]
    return sorted(found, key=lambda job: (-RECORDED.get(job, 0), job))


def _logged(argv: list[str], log: Path) -> tuple[int, Path]:
    """Run one command from the repository root, its output into ``log``."""
    with log.open("w") as out:
        status = molecule_all._call(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return status, log


def run(job: str, strategy: dict[str, str]) -> tuple[int, Path]:
    """Run one job; return its exit status and log."""
    kind, name = job.split("/", 1)
    if kind == "molecule":
        return molecule_all.run(name, strategy)
    if kind == "checks":
        return _logged(CHECK_COMMANDS[name], LOGS / f"checks-{name}.log")
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=10"]
    return _logged([*pytest, f"tests/integration/test_{name}.py"], LOGS / f"{name}.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_LANES", "3")))
    parser.add_argument("job", nargs="*", help="jobs to run (default: all)")
    args = parser.parse_args(argv)
    known = jobs()
    unknown = sorted(set(args.job) - set(known) - set(CHECKS))
    if unknown:
        print(
            f"lanes: no job named {', '.join(unknown)}"
            " (integration/<file>, molecule/<scenario> or checks/lint|sanity|unit)",
            file=sys.stderr,
        )
        return 2
    chosen = [job for job in known if not args.job or job in args.job]
    checks = [job for job in CHECKS if not args.job or job in args.job]
    if any(job.startswith("molecule/") for job in chosen) and not os.environ.get(
        "HOMEFORGE_LAB_IMAGE"
    ):
        print("lanes: HOMEFORGE_LAB_IMAGE is not set (make test sets it)", file=sys.stderr)
        return 2
    LOGS.mkdir(parents=True, exist_ok=True)
    strategy = molecule_all.strategy_env("auto")
    print(
        f"lanes: {len(chosen)} lab jobs, {args.jobs} side by side;"
        f" {len(checks)} checks in a lane of their own",
        flush=True,
    )
    failed, total = molecule_all.side_by_side(
        chosen, lambda job: run(job, strategy), args.jobs, lane=checks
    )
    count = len(chosen) + len(checks)
    print(f"lanes: {count - len(failed)} of {count} jobs passed in {total:.0f} s")
    if failed:
        print(f"lanes: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
