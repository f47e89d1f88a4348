"""The lab's base image: a Debian rootfs built with mmdebstrap, imported into podman.

No image registry is reachable from our machines, so the image is built locally
from Debian packages. Its tag is a hash of the recipe below: it is rebuilt only
when the recipe changes, and reused otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from homeforge.errors import EnvironmentProblem
from homeforge.lab import podman

REPOSITORY = "localhost/homeforge-lab"
SUITE = "bookworm"
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-apt",
    "python3-yaml",  # the K3s stand-in reads config.yaml with it (lab up --cluster)
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "procps",
    "sudo",
    "ca-certificates",
    "less",
]
# Host keys are made on each host's first boot, never baked into the image.
HOSTKEY_UNIT = """\
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
"""
HOSTS_FILE = "127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n"
CUSTOMIZE = [
    'rm -f "$1"/etc/ssh/ssh_host_*',
    f"printf '%s' '{HOSTKEY_UNIT}' > \"$1\"/etc/systemd/system/homeforge-ssh-hostkeys.service",
    'chroot "$1" systemctl enable homeforge-ssh-hostkeys.service ssh.service',
    'install -d -m 0700 "$1"/root/.ssh',
    f"printf '{HOSTS_FILE}' > \"$1\"/etc/hosts",
    'rm -f "$1"/etc/machine-id && touch "$1"/etc/machine-id',
]
# Keep the package lists from the build, so a new host can install at once; apt's
# cache_valid_time refreshes them when they are old.
OPTIONS = ["--variant=minbase", "--skip=cleanup/apt/lists"]


def recipe() -> dict:
    return {
        "suite": SUITE,
        "options": OPTIONS,
        "packages": PACKAGES,
        "customize": CUSTOMIZE,
        "mirror": os.environ.get("HOMEFORGE_LAB_MIRROR", ""),
    }


def tag() -> str:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{digest}"


def exists(image: str | None = None) -> bool:
    return podman.run("image", "exists", image or tag(), check=False).returncode == 0


def ensure(log=print) -> str:
    """The image tag, building it first when this recipe has no image yet."""
    image = tag()
    if exists(image):
        return image
    if subprocess.run(["which", "mmdebstrap"], capture_output=True).returncode != 0:
        raise EnvironmentProblem(
            "mmdebstrap not found: install it (apt-get install mmdebstrap) to build the lab image"
        )
    log(f"building lab image {image} with mmdebstrap (about a minute, once)")
    with tempfile.TemporaryDirectory(prefix="homeforge-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        cmd = ["mmdebstrap", "--quiet", *OPTIONS, f"--include={','.join(PACKAGES)}"]
        cmd += [f"--customize-hook={hook}" for hook in CUSTOMIZE]
        cmd += [SUITE, str(tarball)]
        mirror = recipe()["mirror"]
        if mirror:
            cmd.append(mirror)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise EnvironmentProblem(f"mmdebstrap failed building the lab image: {tail}")
        podman.run(
            "import",
            "--change",
            'CMD ["/sbin/init"]',
            "--change",
            f"LABEL homeforge.recipe={image.split(':')[1]}",
            str(tarball),
            image,
        )
    return image


def remove_all() -> list[str]:
    """Remove every lab image homeforge built (any recipe)."""
    out = podman.run(
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        f"reference={REPOSITORY}",
        check=False,
    ).stdout.split()
    for image in out:
        podman.run("rmi", "--force", image, check=False)
    return out
