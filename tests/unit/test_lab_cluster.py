"""`lab up --cluster`: the K3s groups and variables it adds to the lab's inventory, and the
stand-ins it plants on the hosts (podman replaced by a recorder; the stand-in K3s release
and NVIDIA apt repository are really built)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from homeforge.errors import BadInput
from homeforge.lab import Lab, LabHost
from homeforge.lab import cluster as lab_cluster

EXECS: list[tuple] = []  # podman exec calls the fixture recorded


@pytest.fixture
def planted(monkeypatch, tmp_path):
    """podman cp recorded: each copy lands in tmp_path/hosts/<container>."""
    copies = []
    execs = EXECS

    def fake_run(*args, **kwargs):
        if args[0] == "exec":
            execs.append(args[1:])
            return None
        assert args[0] == "cp"
        source, target = args[1], args[2]
        container, _, path = target.partition(":")
        destination = tmp_path / "hosts" / container / path.lstrip("/")
        if Path(source.rstrip(".")).is_dir():
            shutil.copytree(source.rstrip("."), destination, dirs_exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        copies.append((container, path))

    monkeypatch.setattr(lab_cluster.podman, "run", fake_run)
    monkeypatch.delenv("HOMEFORGE_K3S_ARTIFACTS", raising=False)
    monkeypatch.delenv("HOMEFORGE_K3S_VERSION", raising=False)
    monkeypatch.delenv("HOMEFORGE_OLLAMA_ARTIFACTS", raising=False)
    EXECS[:] = []
    return tmp_path, copies


def _lab(nodes: int) -> Lab:
    hosts = [LabHost(f"lab-{i}", f"t-{i}", f"10.0.0.{i}") for i in range(1, nodes + 1)]
    return Lab("t", "10.0.0.0/24", "img", False, hosts)


def test_lab_1_serves_the_others_join_and_the_last_has_a_stand_in_gpu(planted):
    tmp_path, copies = planted
    groups = lab_cluster.prepare(_lab(3), tmp_path / "state", log=lambda *_: None)
    cluster = groups["k3s_cluster"]
    assert cluster["children"] == {
        "server": {"hosts": {"lab-1": None}},
        "agent": {"hosts": {"lab-2": None, "lab-3": None}},
    }
    variables = cluster["vars"]
    release = Path(variables["k3s_artifacts_dir"])
    assert (release / "k3s").is_file() and (release / "sha256sum-amd64.txt").is_file()
    assert variables["k3s_version"] == lab_cluster.K3S_STANDIN_VERSION
    assert variables["k3s_version"] in (release / "k3s").read_text()  # packed under it
    assert variables["nvidia_driver_apt_repository"] == "deb [trusted=yes] file:/srv/standin-apt ./"
    # every host gets the repository; only the last one a GPU
    assert [c for c, p in copies if p == "/srv/standin-apt"] == ["t-1", "t-2", "t-3"]
    hosts = tmp_path / "hosts"
    assert (hosts / "t-1" / "srv/standin-apt/Packages").is_file()
    device = hosts / "t-3" / "srv/standin-sys/bus/pci/devices/0000:01:00.0"
    assert (device / "vendor").read_text() == "0x10de\n" and (
        device / "class"
    ).read_text() == "0x030200\n"
    report = json.loads((hosts / "t-3" / "etc/homeforge-standin/nvidia-gpus.json").read_text())
    assert [g["pci_bus_id"] for g in report["gpus"]] == ["0000:01:00.0"]
    assert not (hosts / "t-2" / "srv/standin-sys").exists()


def test_a_real_release_is_taken_as_given_and_half_a_pair_is_refused(planted, monkeypatch):
    tmp_path, _copies = planted
    monkeypatch.setenv("HOMEFORGE_K3S_ARTIFACTS", str(tmp_path))
    with pytest.raises(BadInput, match="go together"):
        lab_cluster.prepare(_lab(1), tmp_path / "state", log=lambda *_: None)
    monkeypatch.setenv("HOMEFORGE_K3S_VERSION", "v1.33.1+k3s1")
    groups = lab_cluster.prepare(_lab(1), tmp_path / "state", log=lambda *_: None)
    assert groups["k3s_cluster"]["vars"]["k3s_artifacts_dir"] == str(tmp_path)
    assert groups["k3s_cluster"]["children"]["agent"] == {"hosts": {}}


def test_ollama_on_every_host_lab_1_pulls_from_the_stand_in_registry_it_serves(planted):
    tmp_path, copies = planted
    lab = _lab(3)
    groups = lab_cluster.prepare(lab, tmp_path / "state", log=lambda *_: None)
    ollama = groups["ollama"]
    assert ollama["hosts"] == {
        "lab-1": {"ollama_models": ["tiny:1b"]},
        "lab-2": None,
        "lab-3": None,
    }
    release = Path(ollama["vars"]["ollama_artifacts_dir"])
    assert (release / "sha256sum.txt").is_file()
    assert ollama["vars"]["ollama_extra_env"] == {"OLLAMA_STANDIN_REGISTRY": "http://10.0.0.1:5000"}
    assert ("t-1", "/usr/local/bin/ollama-standin") in copies
    made = [e for e in EXECS if "make-model" in e]
    assert made and made[0][0] == "t-1"  # the registry and its model live on lab-1 only
    assert groups["nfs_server"]["hosts"] == {"lab-1": None}
    assert groups["k3s_cluster"]["vars"]["homeforge_ingress"] == "traefik"
    recap = dict(lab_cluster.recap(lab))
    assert recap["K3s"].startswith("STAND-IN") and recap["Ollama"].startswith("STAND-IN")
    assert recap["NFS"].startswith("real") and recap["WireGuard mesh"].startswith("real")


def test_a_real_ollama_release_replaces_the_stand_in_and_the_recap_says_so(planted, monkeypatch):
    tmp_path, copies = planted
    given = tmp_path / "ollama-artifacts"
    given.mkdir()
    monkeypatch.setenv("HOMEFORGE_OLLAMA_ARTIFACTS", str(given))
    lab = _lab(2)
    groups = lab_cluster.prepare(lab, tmp_path / "state", log=lambda *_: None)
    assert groups["ollama"]["vars"] == {"ollama_artifacts_dir": str(given)}
    assert groups["ollama"]["hosts"] == {"lab-1": None, "lab-2": None}  # no synthetic model
    assert not [c for c in copies if c[1] == "/usr/local/bin/ollama-standin"]
    assert dict(lab_cluster.recap(lab))["Ollama"] == "real release"
    # with an Ollama models directory among the artifacts, its models go on lab-1
    manifest = given / "models/manifests/registry.ollama.ai/library/qwen2.5/0.5b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    (given / "models/blobs").mkdir()
    groups = lab_cluster.prepare(lab, tmp_path / "state", log=lambda *_: None)
    assert groups["ollama"]["hosts"]["lab-1"] == {"ollama_models": ["qwen2.5:0.5b"]}
    assert ("t-1", "/var/lib/ollama/models") in copies
    assert dict(lab_cluster.recap(lab))["models"].startswith("qwen2.5:0.5b: real")
