"""Install LiteLLM into a virtual environment from a wheelhouse, on the gateway host,
with no package index: ``pip install --no-index --require-hashes`` against the
requirements the wheelhouse carries (already evaluated for this host's Python and
machine: ``--no-deps``, nothing is resolved here), so every wheel is checked against its pinned
SHA-256 here too. The environment is complete when its marker ``.homeforge-complete``
exists (written last); a half-made one is removed and made again.

    install_wheelhouse.py --wheelhouse TAR --venv DIR
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

MARKER = ".homeforge-complete"


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheelhouse", required=True)
    parser.add_argument("--venv", required=True)
    args = parser.parse_args(argv)
    if os.path.exists(os.path.join(args.venv, MARKER)):
        return 0
    shutil.rmtree(args.venv, ignore_errors=True)
    work = tempfile.mkdtemp(prefix="homeforge-wheelhouse-")
    try:
        with tarfile.open(args.wheelhouse) as tar:
            for member in tar.getmembers():
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    sys.stderr.write("wheelhouse: unexpected member %r\n" % member.name)
                    return 1
            tar.extractall(work)
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True)
        done = subprocess.run(
            [
                os.path.join(args.venv, "bin", "pip"), "install", "--quiet",
                "--disable-pip-version-check", "--no-index", "--find-links", work,
                "--require-hashes", "--no-deps", "--only-binary=:all:",
                "-r", os.path.join(work, "requirements.txt"),
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
        )
        if done.returncode != 0:
            lines = [l for l in done.stderr.splitlines() if l.strip()]
            sys.stderr.write("pip install: %s\n" % (lines[-1] if lines else "failed"))
            return 1
        with open(os.path.join(args.venv, MARKER), "w") as handle:
            handle.write("installed from %s\n" % os.path.basename(args.wheelhouse))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
