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


@pytest.fixture
def planted(monkeypatch, tmp_path):
    """podman cp recorded: each copy lands in tmp_path/hosts/<container>."""
    copies = []

    def fake_run(*args, **kwargs):
        assert args[0] == "cp"
        source, target = args[1], args[2]
        container, _, path = target.partition(":")
        destination = tmp_path / "hosts" / container / path.lstrip("/")
        shutil.copytree(source.rstrip("."), destination, dirs_exist_ok=True)
        copies.append((container, path))

    monkeypatch.setattr(lab_cluster.podman, "run", fake_run)
    monkeypatch.delenv("HOMEFORGE_K3S_ARTIFACTS", raising=False)
    monkeypatch.delenv("HOMEFORGE_K3S_VERSION", raising=False)
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
    assert variables["k3s_version"] in (release / "k3s").read_text()  # the pinned version
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
