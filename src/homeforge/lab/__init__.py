"""The built-in lab: N podman systemd containers that behave like small servers.

Each lab host runs systemd and sshd, has its own address on a dedicated podman
network, NET_ADMIN and /dev/net/tun (for the WireGuard mesh), writable network
sysctls, and optionally full privileges (for K3s). ``up`` writes an SSH key, a
known_hosts file read from the hosts themselves (no trust-on-first-use) and an
inventory that ``homeforge apply site`` uses with zero edits. ``down`` removes
exactly what ``up`` created.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from homeforge import paths
from homeforge.errors import BadInput, EnvironmentProblem
from homeforge.lab import image, podman

DEFAULT_NAME = "homeforge-lab"
DEFAULT_SUBNET = "10.254.90.0/24"
FIRST_HOST_OFFSET = 11
MAX_NODES = 20
BOOT_TIMEOUT = 90


@dataclass
class LabHost:
    name: str
    container: str
    address: str


@dataclass
class Lab:
    name: str
    subnet: str
    image: str
    privileged: bool
    hosts: list[LabHost]
    cluster: dict | None = None  # the K3s groups of `lab up --cluster` (lab/cluster.py)
    real: dict | None = None  # with --cluster: which parts are real, not stand-ins (recap)

    @property
    def label(self) -> str:
        return f"homeforge.lab={self.name}"


def lab_dir(name: str = DEFAULT_NAME) -> Path:
    return paths.state_dir() / "lab" / name


def inventory_path(name: str = DEFAULT_NAME) -> Path:
    return lab_dir(name) / "inventory.yml"


def load(name: str = DEFAULT_NAME) -> Lab | None:
    record = lab_dir(name) / "lab.json"
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    data["hosts"] = [LabHost(**h) for h in data["hosts"]]
    return Lab(**data)


def _plan(name: str, nodes: int, subnet: str, privileged: bool) -> Lab:
    if not 1 <= nodes <= MAX_NODES:
        raise BadInput(f"--nodes: {nodes} is out of range (1-{MAX_NODES})")
    try:
        network = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise BadInput(f"--subnet: '{subnet}' is not a valid CIDR ({exc})") from None
    if network.version != 4 or network.num_addresses < FIRST_HOST_OFFSET + nodes + 1:
        raise BadInput(f"--subnet: {subnet} is too small for {nodes} hosts (use an IPv4 /24)")
    hosts = [
        LabHost(f"lab-{i}", f"{name}-{i}", str(network.network_address + FIRST_HOST_OFFSET + i - 1))
        for i in range(1, nodes + 1)
    ]
    return Lab(name, subnet, image.tag(), privileged, hosts)


def up(
    nodes: int = 3,
    name: str = DEFAULT_NAME,
    subnet: str = DEFAULT_SUBNET,
    privileged: bool = False,
    log=print,
    cluster: bool = False,
) -> Lab:
    lab = _plan(name, nodes, subnet, privileged)
    podman.require()
    for tool in ("ssh-keygen",):
        if shutil.which(tool) is None:
            raise EnvironmentProblem(f"{tool} not found: install openssh-client")
    existing = podman.containers(lab.label)
    if existing or podman.network_exists(name) or load(name):
        raise EnvironmentProblem(
            f"lab '{name}' already exists ({len(existing)} host(s)): run 'homeforge lab down' first"
        )
    lab.image = image.ensure(log=log)

    created: list[str] = []  # what to undo if anything below fails
    state = lab_dir(name)
    try:
        podman.run("network", "create", "--subnet", subnet, "--label", lab.label, name)
        created.append("network")
        for directory in (paths.state_dir(), state.parent, state):
            paths.private_dir(directory)
        key = state / "id_ed25519"
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"homeforge {name}",
                "-f",
                str(key),
            ],
            check=True,
            capture_output=True,
        )
        for host in lab.hosts:
            _start(lab, host, key.with_suffix(".pub"), nfs=cluster and host is lab.hosts[0])
            created.append(host.container)
        known = [_wait_ready(lab, host) for host in lab.hosts]
        (state / "known_hosts").write_text("".join(known))
        if cluster:
            from homeforge.lab import cluster as cluster_layer

            lab.cluster = cluster_layer.prepare(lab, state, log=log)
        _write_inventory(lab, state)
        (state / "lab.json").write_text(json.dumps(asdict(lab), indent=2) + "\n")
    except BaseException:
        _remove(lab)
        raise
    return lab


NFS_EXPORTS = "/srv/nfs"  # the cluster's NFS server's exports (lab/cluster.py)


def _start(lab: Lab, host: LabHost, pubkey: Path, nfs: bool = False) -> None:
    """Start one host. The NFS server of `lab up --cluster` gets what NFS-Ganesha's VFS
    backend needs: CAP_DAC_READ_SEARCH (it opens files by handle) and a volume for its
    exports (overlayfs, a container's root, cannot be exported); the volume goes with
    the container (podman rm --volumes)."""
    args = [
        "run",
        "--detach",
        "--name",
        host.container,
        "--hostname",
        host.name,
        "--label",
        lab.label,
        "--network",
        lab.name,
        "--ip",
        host.address,
        "--systemd=always",
        "--no-hosts",
        "--cap-add",
        "NET_ADMIN",
        "--cap-add",
        "NET_RAW",
        "--device",
        "/dev/net/tun",
        # Network sysctls are per network namespace: safe to let the host's roles set them.
        "--security-opt",
        "unmask=/proc/sys",
        "--volume",
        f"{pubkey}:/root/.ssh/authorized_keys:ro",
    ]
    if nfs:
        args += [
            "--cap-add",
            "DAC_READ_SEARCH",
            "--mount",
            f"type=volume,destination={NFS_EXPORTS}",
        ]
    if lab.privileged:
        args.append("--privileged")
    podman.run(*args, lab.image)


def _wait_ready(lab: Lab, host: LabHost) -> str:
    """Wait for systemd and sshd; return the host's known_hosts line."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        state = podman.run(
            "exec", host.container, "systemctl", "is-system-running", check=False
        ).stdout.strip()
        if state in ("running", "degraded") and _ssh_banner(host.address):
            pub = podman.run(
                "exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"
            ).stdout.split()
            return f"{host.address} {pub[0]} {pub[1]}\n"
        time.sleep(0.5)
    raise EnvironmentProblem(
        f"lab host {host.name} ({host.address}) did not boot in {BOOT_TIMEOUT}s (systemd: {state or 'unknown'})"
    )


def _ssh_banner(address: str, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(16).startswith(b"SSH-")
    except OSError:
        return False


def _write_inventory(lab: Lab, state: Path) -> None:
    hosts = {h.name: {"ansible_host": h.address} for h in lab.hosts}
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(state / "id_ed25519"),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={state / 'known_hosts'} -o StrictHostKeyChecking=yes",
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "hosts": hosts,
            "children": {
                # Every lab host; with --cluster also K3s's groups (server, agent) and the
                # artifacts the cluster layer needs (lab/cluster.py).
                "lab": {"hosts": dict.fromkeys(hosts)},
                **(lab.cluster or {}),
            },
        }
    }
    header = (
        f"# Written by 'homeforge lab up' for lab '{lab.name}'; removed by 'homeforge lab down'.\n"
    )
    (state / "inventory.yml").write_text(header + yaml.safe_dump(inventory, sort_keys=False))


def _remove(lab: Lab) -> list[str]:
    removed = []
    for container in podman.containers(lab.label):
        for name in container.get("Names", []):
            podman.run("rm", "--force", "--volumes", "--time", "2", name, check=False)
            removed.append(name)
    if podman.network_exists(lab.name):
        podman.run("network", "rm", "--force", lab.name, check=False)
        removed.append(f"network {lab.name}")
    facts = paths.state_dir() / "facts"
    for host in lab.hosts:
        (facts / host.name).unlink(missing_ok=True)
    shutil.rmtree(lab_dir(lab.name), ignore_errors=True)
    return removed


def down(name: str = DEFAULT_NAME, remove_image: bool = False) -> list[str]:
    podman.require()
    lab = load(name) or Lab(name, DEFAULT_SUBNET, image.tag(), False, [])
    removed = _remove(lab)
    if remove_image:
        removed += image.remove_all()
    return removed


@dataclass
class HostHealth:
    name: str
    address: str
    container: str
    state: str
    systemd: str
    ssh: bool


def status(name: str = DEFAULT_NAME) -> list[HostHealth]:
    podman.require()
    lab = load(name)
    if lab is None:
        raise EnvironmentProblem(f"lab '{name}' is not up: run 'homeforge lab up'")
    running = {c["Names"][0]: c.get("State", "?") for c in podman.containers(lab.label)}
    out = []
    for host in lab.hosts:
        state = running.get(host.container, "missing")
        systemd = "-"
        if state == "running":
            systemd = (
                podman.run(
                    "exec", host.container, "systemctl", "is-system-running", check=False
                ).stdout.strip()
                or "unknown"
            )
        out.append(
            HostHealth(
                host.name,
                host.address,
                host.container,
                state,
                systemd,
                state == "running" and _ssh_banner(host.address),
            )
        )
    return out


def healthy(health: list[HostHealth]) -> bool:
    """Every host running, booted (systemd running or degraded) and answering SSH."""
    return all(
        h.state == "running" and h.ssh and h.systemd in ("running", "degraded") for h in health
    )
