"""Which checks look at a stand-in: a pytest plugin ``homeforge verify`` loads.

A role's checks look at the software that role installs. Where that software, on the
host, is one of the project's stand-ins (``tests/standins/``: each says STAND-IN in its
first lines, as the placeholders of the stand-in NVIDIA packages do), a passing check
shows the role's behaviour, not the real program's. Each such check gets a JUnit
property ``subject`` = ``stand-in: <names>``; ``homeforge verify`` reads it back and
shows "passed (stand-in)" in its table, JSON and merged JUnit, so a count of passed
checks never reads as a real cluster verified.
"""

from __future__ import annotations

from pathlib import Path

import pytest

K3S = ("K3s", "/usr/local/bin/k3s")
NVIDIA_SMI = ("nvidia-smi", "/usr/bin/nvidia-smi")

# role -> the programs its checks are about: (name shown, path on the host).
ROLE_SUBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "k3s_server": (K3S,),
    "k3s_agent": (K3S,),
    "ingress_traefik": (K3S,),
    "ingress_istio": (K3S,),
    "nfs_provisioner": (K3S,),
    "ebs_csi": (K3S,),
    "nvidia_device_plugin": (K3S, NVIDIA_SMI),
    "nvidia_driver": (NVIDIA_SMI,),
    "nvidia_container_toolkit": (("NVIDIA container toolkit", "/usr/bin/nvidia-ctk"),),
    "ollama": (("Ollama", "/usr/local/bin/ollama"), K3S),  # on the host, or in the cluster
    "eks_node": (("nodeadm", "/usr/local/bin/nodeadm"),),
}

# The first bytes of a program that say it is a stand-in (case-insensitive).
MARKER = "stand-in"
HEAD_BYTES = 1024

_seen: dict[tuple[str, str], bool] = {}


def role_of(path: Path) -> str:
    """The role whose suite a test file belongs to (roles/<role>/tests/...), or ''."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-2]):
        if part == "roles" and parts[i + 2] == "tests":
            return parts[i + 1]
    return ""


def is_standin(host, path: str) -> bool:
    """Whether the program at ``path`` on the testinfra ``host`` is a stand-in (a
    missing program is not)."""
    key = (str(getattr(host.backend, "hostname", id(host))), path)
    if key not in _seen:
        done = host.run("head -c %s -- %s | grep -a -c -i -e %s", str(HEAD_BYTES), path, MARKER)
        _seen[key] = done.stdout.strip().isdigit() and int(done.stdout.strip()) > 0
    return _seen[key]


def standins(host, role: str) -> list[str]:
    """The names of the stand-ins among the programs ``role``'s checks look at."""
    return [name for name, path in ROLE_SUBJECTS.get(role, ()) if is_standin(host, path)]


@pytest.fixture(autouse=True)
def _homeforge_subject(request):
    """Mark the check with the stand-ins it looked at (a JUnit property)."""
    role = role_of(request.node.path)
    if role in ROLE_SUBJECTS and "host" in request.fixturenames:
        found = standins(request.getfixturevalue("host"), role)
        if found:
            request.node.user_properties.append(("subject", "stand-in: " + ", ".join(found)))
