"""Ollama on three lab hosts (the role in host mode, against the Ollama STAND-IN release
and registry) and `homeforge models`: the model is pulled from the registry by one host
and seeded host to host to the others, its digests checked. Results are the role's and
the seeding's behaviour with stand-in Ollama processes, not a real Ollama."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import LabEnv, start_lab

NAME = "hf-models"
SUBNET = "10.254.98.0/24"
ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "ollama"
REGISTRY_APP = Path(__file__).with_name("apps") / "ollama_registry.yml"
MODEL_SIZE = 64_000_000
REGISTRY_RATE = 16_000_000  # a slow uplink: a pull takes 4 s, long enough to watch


def _addresses(inventory: Path) -> dict[str, str]:
    data = yaml.safe_load((inventory / "inventory.yml").read_text())
    hosts = data["all"].get("hosts", {})
    return {name: hv["ansible_host"] for name, hv in hosts.items()}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 3, SUBNET)
    release = env.state / "ollama-release"
    subprocess.run([sys.executable, str(STANDIN), "release", "--out", str(release)], check=True)
    inventory = env.state / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    shutil.copy(env.inventory, inventory / "inventory.yml")
    registry = _addresses(inventory)["lab-1"]
    groups = {
        "all": {
            "children": {
                "ollama": {"hosts": {h: None for h in ("lab-1", "lab-2", "lab-3")}},
                "registry": {"hosts": {"lab-1": None}},
            }
        }
    }
    (inventory / "groups.yml").write_text(yaml.safe_dump(groups))
    (inventory / "group_vars" / "ollama.yml").write_text(
        yaml.safe_dump(
            {
                "ollama_artifacts_dir": str(release),
                "ollama_version": "0.35.1-standin",  # the stand-in's own (tests/standins/ollama)
                "ollama_extra_env": {"OLLAMA_STANDIN_REGISTRY": f"http://{registry}:5000"},
            }
        )
    )
    (inventory / "host_vars" / "lab-1.yml").write_text(
        yaml.safe_dump({"ollama_models": ["tiny:1b"]})
    )
    env.inventory = inventory
    # check mode on hosts that have nothing yet: it predicts, it does not fail
    check = env.hf("apply", "site", "-i", str(inventory), "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    for playbook in (str(REGISTRY_APP), "site"):
        done = env.hf(
            "apply",
            playbook,
            "-i",
            str(inventory),
            "-e",
            f"registry_model_size={MODEL_SIZE}",
            "-e",
            f"registry_rate={REGISTRY_RATE}",
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


def _list(env: LabEnv) -> dict:
    done = env.hf("models", "list", "-i", str(env.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])["hosts"]


def _registry_bytes(env: LabEnv) -> int:
    log = env.podman("exec", f"{NAME}-1", "cat", "/srv/registry.log").stdout
    return sum(json.loads(line)["bytes"] for line in log.splitlines() if line.strip())


def test_the_role_converged_and_only_lab_1_pulled_from_the_registry(fleet):
    listed = _list(fleet)
    assert [m["name"] for m in listed["lab-1"]["models"]] == ["tiny:1b"]
    assert listed["lab-1"]["models"][0]["origin"] == "pulled from registry.ollama.ai"
    assert listed["lab-2"]["models"] == [] and listed["lab-3"]["models"] == []
    assert MODEL_SIZE <= _registry_bytes(fleet) < MODEL_SIZE + 10_000
    for extra in (("--full",), ("--check", "--diff", "--full")):
        again = fleet.hf("apply", "site", "-i", str(fleet.inventory), "--json", *extra)
        summary = json.loads(again.stdout.splitlines()[-1])["summary"]
        assert again.returncode == 0 and all(h["changed"] == 0 for h in summary["hosts"].values())


def test_seeding_reaches_every_host_once_with_the_same_digest(fleet):
    before = _registry_bytes(fleet)
    done = fleet.hf(
        "models", "seed", "tiny:1b", "--from", "lab-1", "-i", str(fleet.inventory), "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])["seed"]
    assert result["url"].startswith("http://10.77.")  # over the mesh
    for host in ("lab-2", "lab-3"):
        assert (
            result["targets"][host]["changed"]
            and result["targets"][host]["transferred"] >= MODEL_SIZE
        )
    listed = _list(fleet)
    digests = {h: [m["digest"] for m in v["models"]] for h, v in listed.items()}
    assert digests["lab-1"] == digests["lab-2"] == digests["lab-3"] == [result["digest"]]
    origins = {h: [m["origin"] for m in v["models"]] for h, v in listed.items()}
    assert origins == {
        "lab-1": ["pulled from registry.ollama.ai"],
        "lab-2": ["seeded from lab-1"],
        "lab-3": ["seeded from lab-1"],
    }
    table = fleet.hf("models", "list", "-i", str(fleet.inventory))
    assert table.stdout.count("seeded from lab-1") == 2
    assert _registry_bytes(fleet) == before  # the uplink was not used again
    for path in ("blobs", "manifests/registry.ollama.ai/library/tiny"):
        owner = fleet.podman(
            "exec", f"{NAME}-2", "stat", "-c", "%U", f"/var/lib/ollama/models/{path}"
        )
        assert owner.stdout.strip() == "ollama", path  # Ollama can delete what was seeded

    again = fleet.hf(
        "models", "seed", "tiny:1b", "--from", "lab-1", "-i", str(fleet.inventory), "--json"
    )
    second = json.loads(again.stdout.splitlines()[-1])["seed"]
    assert all(t["transferred"] == 0 and not t["changed"] for t in second["targets"].values())
    verify = fleet.hf("verify", "-i", str(fleet.inventory))
    assert verify.returncode == 0, verify.stdout[-3000:]


def test_bad_seed_requests_are_one_line_and_change_nothing(fleet):
    unknown = fleet.hf("models", "seed", "nope:1", "--from", "lab-1", "-i", str(fleet.inventory))
    assert unknown.returncode == 2 and "lab-1 has no model nope:1" in unknown.stderr
    stranger = fleet.hf("models", "seed", "tiny:1b", "--from", "lab-9", "-i", str(fleet.inventory))
    assert stranger.returncode == 2 and "lab-9: not in group 'ollama'" in stranger.stderr
    malformed = fleet.hf(
        "models", "seed", "Bad Name", "--from", "lab-1", "-i", str(fleet.inventory)
    )
    assert malformed.returncode == 2 and "is not a model name" in malformed.stderr


def test_pull_and_rm_drive_the_module_and_show_each_hosts_progress(fleet):
    removed = fleet.hf(
        "models", "rm", "tiny:1b", "--on", "lab-3", "-i", str(fleet.inventory), "--json"
    )
    assert removed.returncode == 0, removed.stdout[-2000:] + removed.stderr
    listed = _list(fleet)
    assert listed["lab-3"]["models"] == [] and [m["name"] for m in listed["lab-2"]["models"]] == [
        "tiny:1b"
    ]
    before = _registry_bytes(fleet)
    pulled = fleet.hf(
        "models", "pull", "tiny:1b", "--on", "lab-3", "-i", str(fleet.inventory), "--json"
    )
    assert pulled.returncode == 0, pulled.stdout[-2000:] + pulled.stderr
    lines = [json.loads(line) for line in pulled.stdout.splitlines() if line.startswith("{")]
    progress = [line["progress"] for line in lines if "progress" in line]
    assert progress and {p["host"] for p in progress} == {"lab-3"}  # read while it pulled
    assert any(0 < p["completed"] <= p["total"] for p in progress)
    result = lines[-1]
    assert result["ok"] and result["hosts"]["lab-3"]["state"] == "present"
    assert result["hosts"]["lab-3"]["digest"] == listed["lab-1"]["models"][0]["digest"]
    assert MODEL_SIZE <= _registry_bytes(fleet) - before < MODEL_SIZE + 10_000
    again = fleet.hf("models", "pull", "tiny:1b", "-i", str(fleet.inventory), "--json")
    assert again.returncode == 0 and json.loads(again.stdout.splitlines()[-1])["ok"]
    assert _registry_bytes(fleet) - before < MODEL_SIZE + 10_000  # nobody pulled it again
    bad = fleet.hf("models", "pull", "Bad Name", "-i", str(fleet.inventory))
    assert bad.returncode == 2 and "is not a model name" in bad.stderr
    stranger = fleet.hf("models", "rm", "tiny:1b", "--on", "lab-9", "-i", str(fleet.inventory))
    assert stranger.returncode == 2 and "lab-9: not in group 'ollama'" in stranger.stderr


def test_an_ollama_upgrade_keeps_every_model(fleet):
    """A new ollama_version installs beside the old release and switches to it; the models
    directory is not the release's, so every host keeps its models with their digests."""
    before = {h: [(m["name"], m["digest"]) for m in v["models"]] for h, v in _list(fleet).items()}
    assert any(before.values())
    upgraded = fleet.hf(
        "apply", "site", "-i", str(fleet.inventory), "-e", "ollama_version=0.35.2-standin", "--json"
    )
    assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr
    summary = json.loads(upgraded.stdout.splitlines()[-1])["summary"]["hosts"]
    assert all(summary[h]["changed"] > 0 for h in ("lab-1", "lab-2", "lab-3")), summary
    for host in ("lab-1", "lab-2", "lab-3"):
        index = host[-1]
        link = fleet.podman("exec", f"{NAME}-{index}", "readlink", "-f", "/usr/local/bin/ollama")
        assert "/0.35.2-standin/" in link.stdout, link.stdout
    after = {h: [(m["name"], m["digest"]) for m in v["models"]] for h, v in _list(fleet).items()}
    assert after == before


def _host_models(env: LabEnv, host: str, models: list[str]) -> None:
    (env.inventory / "host_vars" / f"{host}.yml").write_text(
        yaml.safe_dump({"ollama_models": models})
    )


def _apply(env: LabEnv) -> dict:
    done = env.hf("apply", "site", "-i", str(env.inventory), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return json.loads(done.stdout.splitlines()[-1])["summary"]


MANY_SIZE = 8_000_000


def test_a_model_three_hosts_want_crosses_the_uplink_once_in_apply(fleet):
    """apply pulls a model all three hosts want on one host and seeds the other two over
    the mesh; the next apply changes nothing; a seeded copy removed by hand comes back
    from a peer; a source that cannot serve it sends the target to the registry, saying so."""
    made = fleet.podman(
        "exec", f"{NAME}-1", "/usr/local/bin/ollama-standin", "make-model", "--root",
        "/srv/registry", "--name", "library/many:1b", "--size", str(MANY_SIZE), "--seed", "7",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    _host_models(fleet, "lab-1", ["tiny:1b", "many:1b"])
    for host in ("lab-2", "lab-3"):
        _host_models(fleet, host, ["many:1b"])
    before = _registry_bytes(fleet)
    summary = _apply(fleet)
    assert summary["models"] == [
        {
            "model": "many:1b",
            "source": "lab-1",
            "pulled": True,
            "seeded": ["lab-2", "lab-3"],
            "fell_back": {},
            "missing": {},
            "ok": True,
        }
    ]
    assert MANY_SIZE <= _registry_bytes(fleet) - before < MANY_SIZE + 10_000  # once
    listed = _list(fleet)
    many = {h: [m for m in v["models"] if m["name"] == "many:1b"] for h, v in listed.items()}
    assert len({m[0]["digest"] for m in many.values()}) == 1
    assert [many[h][0]["origin"] for h in ("lab-1", "lab-2", "lab-3")] == [
        "pulled from registry.ollama.ai",
        "seeded from lab-1",
        "seeded from lab-1",
    ]

    again = _apply(fleet)
    assert again["models"] == [] and all(h["changed"] == 0 for h in again["hosts"].values())

    removed = fleet.hf("models", "rm", "many:1b", "--on", "lab-3", "-i", str(fleet.inventory))
    assert removed.returncode == 0, removed.stdout[-2000:] + removed.stderr
    back = _apply(fleet)
    assert back["outcomes"]["lab-3"] == "converged", back
    assert back["reasons"]["lab-3"] == "model many:1b was missing"
    assert back["models"][0]["seeded"] == ["lab-3"] and not back["models"][0]["pulled"]
    assert _registry_bytes(fleet) - before < MANY_SIZE + 10_000  # from a peer, not upstream

    # lab-1's copy loses a layer: its offer is refused, lab-2's copy serves lab-3
    manifest = "/var/lib/ollama/models/manifests/registry.ollama.ai/library/many/1b"

    def break_copy(host: str) -> None:
        layer = json.loads(fleet.podman("exec", f"{NAME}-{host[-1]}", "cat", manifest).stdout)
        blob = "/var/lib/ollama/models/blobs/" + layer["layers"][0]["digest"].replace(":", "-")
        assert fleet.podman("exec", f"{NAME}-{host[-1]}", "rm", blob).returncode == 0

    def remove_on_lab_3() -> None:
        done = fleet.hf("models", "rm", "many:1b", "--on", "lab-3", "-i", str(fleet.inventory))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr

    break_copy("lab-1")
    remove_on_lab_3()
    [other] = _apply(fleet)["models"]
    assert other["ok"] and other["source"] == "lab-2" and other["seeded"] == ["lab-3"]
    assert _registry_bytes(fleet) - before < MANY_SIZE + 10_000
    # and when no copy can be offered, lab-3 pulls for itself and the recap says why
    break_copy("lab-2")
    remove_on_lab_3()
    [fallen] = _apply(fleet)["models"]
    assert fallen["ok"] and fallen["seeded"] == [] and list(fallen["fell_back"]) == ["lab-3"]
    assert fallen["fell_back"]["lab-3"].startswith("seeding failed (lab-1: ")
    assert "is missing or incomplete here; lab-2: " in fallen["fell_back"]["lab-3"]
    assert 2 * MANY_SIZE <= _registry_bytes(fleet) - before < 2 * MANY_SIZE + 20_000
    assert "many:1b" in [m["name"] for m in _list(fleet)["lab-3"]["models"]]
