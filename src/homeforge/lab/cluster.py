"""``homeforge lab up --cluster``: the lab with the cluster layer.

lab-1 is a K3s server and the other hosts are agents; with two or more hosts the last
one is a GPU node with one STAND-IN GPU (a fake sysfs tree with its PCI function, and
what the driver would report, read by the nvidia-smi stand-in). K3s comes from a real
release when ``HOMEFORGE_K3S_ARTIFACTS`` (its ``k3s``, ``sha256sum-<arch>.txt`` and
airgap images) and ``HOMEFORGE_K3S_VERSION`` are set (K3s then needs ``--privileged``),
else from the K3s stand-in's release, built here (a checkout's ``tests/standins``). The
NVIDIA packages come from the stand-in apt repository (``tests/standins/nvidia-apt-repo``)
copied to every host. lab-1 is also the cluster's NFS server (NFS-Ganesha, for real) and
the cluster gets the Traefik ingress layer (cert-manager, a homelab CA, Ollama's route),
as objects K3s would apply. Results on stand-ins are the roles' behaviour, never K3s's or
NVIDIA's verified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from homeforge import paths
from homeforge.errors import BadInput
from homeforge.lab import podman
from homeforge.roles import role_default

STANDIN_APT = "/srv/standin-apt"
NFS_EXPORTS = "/srv/nfs"  # lab/__init__.py gives lab-1 a volume there
GATEWAY_HOST = "ai.lab.internal"
STANDIN_SYS = "/srv/standin-sys"
STANDIN_GPU = {
    "name": "NVIDIA GeForce RTX 3090",
    "memory_total_mib": 24576,
    "pci_bus_id": "0000:01:00.0",
}


def _standins() -> Path:
    root = paths.checkout_root()
    if root is None or not (root / "tests" / "standins").is_dir():
        raise BadInput(
            "--cluster: outside a checkout, set HOMEFORGE_K3S_ARTIFACTS and HOMEFORGE_K3S_VERSION "
            "(a K3s release) and give the NVIDIA packages yourself"
        )
    return root / "tests" / "standins"


# The stand-in release's version: the pinned minor, a patch the roles do not pin (they hold
# a pinned version to its published digest, which the stand-in's binary does not have).
K3S_STANDIN_VERSION = "v1.36.3+k3s1"


def _k3s(state: Path, log) -> tuple[str, str]:
    """(k3s_version, k3s_artifacts_dir): the real release given, or the stand-in's."""
    artifacts = os.environ.get("HOMEFORGE_K3S_ARTIFACTS", "")
    version = os.environ.get("HOMEFORGE_K3S_VERSION", "")
    if artifacts or version:
        if not (artifacts and version and Path(artifacts).is_dir()):
            raise BadInput(
                "--cluster: HOMEFORGE_K3S_ARTIFACTS (a directory) and HOMEFORGE_K3S_VERSION go together"
            )
        return version, str(Path(artifacts).resolve())
    version = K3S_STANDIN_VERSION
    out = state / "k3s-release"
    log(f"K3s: the STAND-IN release {version} (set HOMEFORGE_K3S_ARTIFACTS for a real one)")
    _build(
        [
            sys.executable,
            str(_standins() / "k3s"),
            "release",
            "--out",
            str(out),
            "--version",
            version,
        ]
    )
    return version, str(out)


def _build(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise BadInput(f"--cluster: {' '.join(argv[1:3])}: {(done.stderr or done.stdout).strip()}")


DEMO_CONSUMER = {"name": "demo", "rpm": 60, "tpm": 100_000}
MODEL = "tiny:1b"  # the synthetic model of the stand-in registry (tests/standins/ollama)
# The stand-in release's own version (its VERSION): the role holds a real release's version
# to that release's pinned digest, which the stand-in's archive does not have.
OLLAMA_STANDIN_VERSION = "0.35.1-standin"
MODEL_SIZE = 32_000_000
REGISTRY_PORT = 5000


def real_models(models: Path) -> list[str]:
    """The models an Ollama models directory holds, by the names Ollama lists them."""
    found = []
    for manifest in sorted((models / "manifests").glob("*/*/*/*")):
        registry, namespace, model, tag = manifest.relative_to(models / "manifests").parts
        prefix = "" if namespace == "library" else f"{namespace}/"
        prefix = prefix if registry == "registry.ollama.ai" else f"{registry}/{namespace}/"
        found.append(f"{prefix}{model}:{tag}")
    return found


def _ollama(lab, state: Path, log) -> tuple[str, bool, list[str]]:
    """(ollama_artifacts_dir, real, models): a real release given in
    HOMEFORGE_OLLAMA_ARTIFACTS (and the models of its ``models/`` directory, an Ollama
    models directory, put on lab-1), or the stand-in packed as Ollama packs its releases,
    with the stand-in registry on lab-1 holding one synthetic model (real files, real
    sha256 digests) for lab-1 to pull."""
    given = os.environ.get("HOMEFORGE_OLLAMA_ARTIFACTS", "")
    if given:
        if not Path(given).is_dir():
            raise BadInput("--cluster: HOMEFORGE_OLLAMA_ARTIFACTS must be a directory")
        log(f"Ollama: the release in {given} (real)")
        models = Path(given) / "models"
        names = real_models(models) if models.is_dir() else []
        if names:
            podman.run("cp", f"{models}/.", f"{lab.hosts[0].container}:/var/lib/ollama/models")
            log(f"Ollama: {', '.join(names)} (real) put on {lab.hosts[0].name}")
        return str(Path(given).resolve()), True, names
    standin = _standins() / "ollama"
    out = state / "ollama-release"
    _build([sys.executable, str(standin), "release", "--out", str(out)])
    first = lab.hosts[0].container
    podman.run("cp", str(standin), f"{first}:/usr/local/bin/ollama-standin")
    podman.run(
        "exec", first, "/usr/local/bin/ollama-standin", "make-model", "--root", "/srv/registry",
        "--name", f"library/{MODEL}", "--size", str(MODEL_SIZE),
    )  # fmt: skip
    unit = (
        "[Unit]\nDescription=STAND-IN Ollama model registry (homeforge lab)\n[Service]\n"
        "ExecStart=/usr/local/bin/ollama-standin registry --root /srv/registry "
        f"--listen 0.0.0.0:{REGISTRY_PORT} --log /srv/registry.log\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )
    podman.run(
        "exec", first, "sh", "-c",
        f"printf '{unit}' > /etc/systemd/system/ollama-standin-registry.service && "
        "systemctl daemon-reload && systemctl enable --now ollama-standin-registry.service",
    )  # fmt: skip
    log(f"Ollama: the STAND-IN release and registry ({MODEL}, synthetic) on {lab.hosts[0].name}")
    return str(out), False, [MODEL]


def recap(lab) -> list[tuple[str, str]]:
    """What ran for real in this lab and what ran against a stand-in, in plain words."""
    real = lab.real or {}
    k3s = real.get("k3s")
    ollama = real.get("ollama")
    models = ", ".join(real.get("models") or []) or "none"
    return [
        ("hosts", "real: podman containers with systemd, sshd and apt"),
        ("WireGuard mesh", "real: wireguard-go, keys made on each host"),
        ("NFS", f"real: NFS-Ganesha on {lab.hosts[0].name}, exported to the mesh only"),
        ("K3s", f"real: {k3s}" if k3s else "STAND-IN (tests/standins/k3s): no pod runs"),
        ("GPU, NVIDIA driver", "STAND-IN: a fake PCI device and nvidia-smi; real apt and dpkg"),
        (
            "csi-driver-nfs, Traefik, cert-manager",
            "written for K3s and validated against upstream schemas; "
            + ("applied by K3s" if k3s else "not run (the stand-in runs no controller)"),
        ),
        (
            "Ollama",
            "real release" if ollama else "STAND-IN server and registry (tests/standins/ollama)",
        ),
        (
            "AI gateway",
            f"real: LiteLLM {role_default('ai_gateway', 'ai_gateway_version')} (PyPI) on "
            f"{lab.hosts[0].name}, consumer keys and limits by homeforge's hooks, in front of "
            + ("the real Ollama" if ollama else "the Ollama STAND-IN"),
        ),
        (
            "models",
            (
                f"{models}: real, put on {lab.hosts[0].name}, seeded host to host for real"
                if ollama
                else f"{models}: synthetic, pulled once from the STAND-IN registry by "
                f"{lab.hosts[0].name}, seeded host to host for real (every blob's sha256 checked)"
            ),
        ),
    ]


def _ollama_vars(lab, artifacts: str, real: bool) -> dict:
    """The ollama group's variables: the release, and for the stand-in its own version and
    the stand-in registry on lab-1."""
    if real:
        return {"ollama_artifacts_dir": artifacts}
    registry = f"http://{lab.hosts[0].address}:{REGISTRY_PORT}"
    return {
        "ollama_artifacts_dir": artifacts,
        "ollama_version": OLLAMA_STANDIN_VERSION,
        "ollama_extra_env": {"OLLAMA_STANDIN_REGISTRY": registry},
    }


def _gateway(lab, models: list[str]) -> dict:
    """The AI gateway (real LiteLLM) on lab-1, in front of the Ollama hosts' models, with
    one consumer for the demo (its key: `homeforge gateway keys issue demo`)."""
    if not models:
        return {}
    consumer = DEMO_CONSUMER | {"models": models}
    return {
        "ai_gateway": {
            "hosts": {lab.hosts[0].name: None},
            "vars": {"ai_gateway_consumers": [consumer]},
        }
    }


def prepare(lab, state: Path, log=print) -> dict:
    """Plant the stand-ins on the hosts; return the inventory's groups for the cluster,
    storage, ingress and Ollama."""
    version, artifacts = _k3s(state, log)
    ollama_artifacts, ollama_real, models = _ollama(lab, state, log)
    lab.real = {
        "k3s": version if os.environ.get("HOMEFORGE_K3S_ARTIFACTS") else "",
        "ollama": ollama_real,
        "models": models,
    }
    repo = state / "standin-apt"
    _build([sys.executable, str(_standins() / "nvidia-apt-repo"), "--out", str(repo)])
    for host in lab.hosts:
        podman.run("cp", f"{repo}/.", f"{host.container}:{STANDIN_APT}")
    agents = [h.name for h in lab.hosts[1:]]
    if agents:
        gpu_host = lab.hosts[-1]
        log(f"{gpu_host.name}: one STAND-IN GPU ({STANDIN_GPU['name']})")
        with tempfile.TemporaryDirectory() as tree:
            device = Path(
                tree, STANDIN_SYS.lstrip("/"), "bus/pci/devices", STANDIN_GPU["pci_bus_id"]
            )
            device.mkdir(parents=True)
            for name, value in (("vendor", "0x10de"), ("class", "0x030200"), ("device", "0x2204")):
                (device / name).write_text(value + "\n")
            report = Path(tree, "etc/homeforge-standin/nvidia-gpus.json")
            report.parent.mkdir(parents=True)
            report.write_text(
                json.dumps(
                    {"driver_version": "535.216.01", "cuda_version": "12.2", "gpus": [STANDIN_GPU]}
                )
            )
            for path in Path(tree).rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            podman.run("cp", f"{tree}/.", f"{gpu_host.container}:/")
    source = f"deb [trusted=yes] file:{STANDIN_APT} ./"
    log(f"{lab.hosts[0].name}: NFS server (NFS-Ganesha, real) for the cluster's volumes")
    ollama_vars = _ollama_vars(lab, ollama_artifacts, ollama_real)
    return {
        # Ollama on every host (host mode); lab-1 pulls the model once, `homeforge models
        # seed` copies it to the others
        "ollama": {
            "hosts": {
                h.name: ({"ollama_models": models} if h is lab.hosts[0] and models else None)
                for h in lab.hosts
            },
            "vars": ollama_vars,
        },
        **_gateway(lab, models),
        # real NFS: Ganesha on lab-1 (the lab starts it with what Ganesha needs), its
        # export the cluster's default StorageClass (csi-driver-nfs; the K3s stand-in
        # installs no chart, so no volume is provisioned)
        "nfs_server": {
            "hosts": {lab.hosts[0].name: None},
            "vars": {
                "nfs_server_backend": "ganesha",
                "nfs_server_exports": [{"path": f"{NFS_EXPORTS}/k8s", "pseudo": "/k8s"}],
            },
        },
        "k3s_cluster": {
            "children": {
                "server": {"hosts": {lab.hosts[0].name: None}},
                "agent": {"hosts": dict.fromkeys(agents)},
            },
            "vars": {
                "k3s_version": version,
                "k3s_artifacts_dir": artifacts,
                "nvidia_driver_apt_repository": source,
                "nvidia_container_toolkit_apt_repository": source,
                "nvidia_container_toolkit_apt_key_url": "",
                "nvidia_sysfs_root": STANDIN_SYS,
                # the ingress objects (Traefik, cert-manager, a homelab CA, the AI gateway's
                # route) are written for K3s; the stand-in runs none of them
                "homeforge_ingress": "traefik",
                **({"ingress_traefik_gateway_host": GATEWAY_HOST} if models else {}),
            },
        },
    }
