"""Prepare LiteLLM's wheelhouse on the controller, once, for a gateway host's Python and
machine: every wheel the pinned requirements name, each checked against its pinned
SHA-256 by pip (--require-hashes), packed as one ``wheelhouse.tar`` (atomically: an
interrupted run leaves no tar, and the next run starts again).

    wheelhouse.py --requirements FILE --out DIR --python 3.11 --machine x86_64

The requirements' environment markers (``; python_full_version < '3.11.3'``) are
evaluated here for the gateway host's Python and machine, not this machine's: pip would
evaluate them for the Python that runs it. The wheelhouse carries the requirements so
evaluated (exact pins with their hashes, no markers), which the host installs with
``--no-deps``: nothing is resolved there.

Run it on a machine with access to a package index to prepare DIR for an airgapped
controller (the ai_gateway role's ``ai_gateway_wheelhouse_dir``). Wheels only: a gateway
host builds nothing.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

# The glibc manylinux tags pip may take for a host of glibc 2.36 (Debian 12) and older.
MANYLINUX = (
    ["manylinux_2_%d" % minor for minor in range(36, 16, -1)]
    + ["manylinux2014", "manylinux_2_12", "manylinux2010", "manylinux_2_5", "manylinux1"]
)
MACHINES = {"x86_64", "aarch64"}


def _requirements(text):
    """Each requirement of a pip requirements file, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line
        if line.strip():
            yield line.strip()


def for_host(text, python, machine):
    """The requirements that apply to a host of this Python (``3.11.2``) and machine,
    without their markers."""
    from packaging.markers import Marker

    major_minor = ".".join(python.split(".")[:2])
    env = {
        "python_version": major_minor,
        "python_full_version": python,
        "platform_machine": machine,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "implementation_version": python,
        "extra": "",
    }
    out = []
    for line in _requirements(text):
        spec, _sep, rest = line.partition(" --hash")
        hashes = (" --hash" + rest) if rest else ""
        name, _sep, marker = spec.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(env):
            continue
        out.append(name.strip() + hashes)
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--requirements", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--python", required=True, help="MAJOR.MINOR.MICRO of the gateway host")
    parser.add_argument("--machine", required=True, choices=sorted(MACHINES))
    parser.add_argument("--index-url", default="")
    args = parser.parse_args(argv)
    target = os.path.join(args.out, "wheelhouse.tar")
    if os.path.exists(target):
        return 0
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".wheelhouse-", dir=args.out)
    try:
        wheels = os.path.join(work, "wheels")
        os.makedirs(wheels)
        with open(args.requirements) as handle:
            pinned = for_host(handle.read(), args.python, args.machine)
        requirements = os.path.join(wheels, "requirements.txt")
        with open(requirements, "w") as handle:
            handle.write(pinned)
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--require-hashes", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", args.python, "--dest", wheels, "-r", requirements,
        ]
        for tag in MANYLINUX:
            command += ["--platform", "%s_%s" % (tag, args.machine)]
        if args.index_url:
            command += ["--index-url", args.index_url]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            errors = [l for l in done.stderr.splitlines() if l.startswith("ERROR")]
            sys.stderr.write("pip download: %s\n" % ((errors or done.stderr.splitlines() or ["failed"])[-1]))
            return 1
        partial = os.path.join(work, "wheelhouse.tar")
        with tarfile.open(partial, "w") as tar:
            for name in sorted(os.listdir(wheels)):
                tar.add(os.path.join(wheels, name), arcname=name)
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
