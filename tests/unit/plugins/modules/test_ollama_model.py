"""ollama_model, run as a module in a process of its own against the Ollama STAND-IN
(tests/standins/ollama: server and registry on loopback, real files and digests).
Results here are the module's behaviour against the stand-in's API contract, not
verified against a real Ollama (tests marked ``real`` do that when one is provided)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
STANDIN = ROOT / "tests" / "standins" / "ollama"
SIZE = 3_000_000


def _standin_args(*args) -> list[str]:
    return [str(a) for a in args]


def _standin(*args) -> list[str]:
    return [sys.executable, str(STANDIN), *_standin_args(*args)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Lab:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.registry_root = tmp / "registry"
        self.models = tmp / "models"
        self.log = tmp / "registry.log"
        self.procs: list[subprocess.Popen] = []
        self.registry_port, self.port = _port(), _port()

    @property
    def origins(self) -> Path:
        return self.tmp / "origins.json"

    def recorded(self, args: dict) -> dict:
        """The module's arguments with its origin record kept under the test's directory."""
        return {"origin_file": str(self.origins), **args}

    def make_model(self, name: str, seed: int = 0, size: int = SIZE) -> Path:
        out = subprocess.run(
            _standin("make-model", "--root", self.registry_root, "--name", name)
            + _standin_args("--size", size, "--seed", seed),
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip())

    def start(self) -> None:
        self.procs.append(
            subprocess.Popen(
                _standin("registry", "--root", self.registry_root, "--log", self.log)
                + _standin_args("--listen", f"127.0.0.1:{self.registry_port}")
            )
        )
        env = {
            **os.environ,
            "OLLAMA_HOST": f"127.0.0.1:{self.port}",
            "OLLAMA_MODELS": str(self.models),
            "OLLAMA_NOPRUNE": "1",
            "OLLAMA_STANDIN_REGISTRY": f"http://127.0.0.1:{self.registry_port}",
        }
        self.procs.append(subprocess.Popen(_standin("serve"), env=env))
        _wait(self.registry_port)
        _wait(self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fetched(self) -> int:
        if not self.log.exists():
            return 0
        return sum(json.loads(line)["bytes"] for line in self.log.read_text().splitlines())

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def ollama(tmp_path):
    lab = Lab(tmp_path)
    lab.make_model("library/tiny:1b")
    lab.start()
    yield lab
    lab.stop()


def test_pull_is_idempotent_and_changed_only_when_the_digest_changes(run_module, ollama):
    args = {"name": "tiny:1b", "url": ollama.url, "progress_file": str(ollama.tmp / "p.json")}
    check = run_module("ollama_model", ollama.recorded(args), "--check")
    assert check["changed"] and check["attempts"] == 0 and ollama.fetched() == 0

    pulled = run_module("ollama_model", ollama.recorded(args))
    manifest = ollama.models / "manifests/registry.ollama.ai/library/tiny/1b"
    assert pulled["changed"] and pulled["previous_digest"] == ""
    assert pulled["digest"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert pulled["transferred"] >= SIZE and pulled["attempts"] == 1
    progress = json.loads((ollama.tmp / "p.json").read_text())
    assert progress["done"] and progress["completed"] == progress["total"] >= SIZE

    fetched = ollama.fetched()
    again = run_module("ollama_model", ollama.recorded(args))
    assert not again["changed"] and again["attempts"] == 0 and again["digest"] == pulled["digest"]
    assert ollama.fetched() == fetched  # nothing pulled on a converged host

    same = run_module("ollama_model", ollama.recorded(dict(args, update=True)))
    assert not same["changed"] and same["attempts"] == 1 and same["transferred"] == 0

    ollama.make_model("library/tiny:1b", seed=1)  # the tag moves to new weights upstream
    moved = run_module("ollama_model", ollama.recorded(dict(args, update=True)))
    assert moved["changed"] and moved["previous_digest"] == pulled["digest"] != moved["digest"]
    # where it came from: the registry, recorded with the digest it has now
    record = json.loads(ollama.origins.read_text())["models"]["tiny:1b"]
    assert (
        record["digest"] == moved["digest"] and record["origin"] == "pulled from registry.ollama.ai"
    )


def test_absent_removes_the_model_and_its_blobs(run_module, ollama):
    args = {"name": "tiny:1b", "url": ollama.url}
    run_module("ollama_model", ollama.recorded(args))
    check = run_module("ollama_model", ollama.recorded(dict(args, state="absent")), "--check")
    assert check["changed"] and any((ollama.models / "blobs").iterdir())
    gone = run_module("ollama_model", ollama.recorded(dict(args, state="absent")))
    assert gone["changed"] and gone["digest"] == ""
    assert not list((ollama.models / "blobs").iterdir())
    assert not run_module("ollama_model", ollama.recorded(dict(args, state="absent")))["changed"]
    assert json.loads(ollama.origins.read_text())["models"] == {}  # forgotten with the model


def test_a_partial_download_resumes_instead_of_starting_over(run_module, ollama):
    manifest = json.loads(
        (ollama.registry_root / "manifests/registry.ollama.ai/library/tiny/1b").read_text()
    )
    weights = manifest["layers"][0]["digest"].replace(":", "-")
    blob = (ollama.registry_root / "blobs" / weights).read_bytes()
    (ollama.models / "blobs").mkdir(parents=True, exist_ok=True)
    (ollama.models / "blobs" / f"{weights}-partial").write_bytes(blob[: SIZE // 2])
    pulled = run_module("ollama_model", ollama.recorded({"name": "tiny:1b", "url": ollama.url}))
    assert pulled["changed"]
    assert SIZE // 2 <= pulled["transferred"] < SIZE // 2 + 1000
    assert ollama.fetched() < SIZE // 2 + 2000  # the registry sent only the missing half
    assert (ollama.models / "blobs" / weights).read_bytes() == blob


def test_a_corrupt_blob_fails_the_pull_and_leaves_the_model_absent(run_module, ollama):
    ollama.make_model("library/other:1", seed=7, size=1000)
    ok = run_module("ollama_model", ollama.recorded({"name": "other:1", "url": ollama.url}))
    assert ok["changed"]
    manifest = json.loads(
        (ollama.registry_root / "manifests/registry.ollama.ai/library/tiny/1b").read_text()
    )
    weights = ollama.registry_root / "blobs" / manifest["layers"][0]["digest"].replace(":", "-")
    weights.write_bytes(b"x" * SIZE)  # same size, wrong bytes
    bad = run_module(
        "ollama_model", ollama.recorded({"name": "tiny:1b", "url": ollama.url, "retries": 1})
    )
    assert bad["failed"] and "digest mismatch" in bad["msg"] and bad["attempts"] == 2
    tags = json.loads(
        subprocess.run(["curl", "-s", ollama.url + "/api/tags"], capture_output=True).stdout
    )
    assert [m["name"] for m in tags["models"]] == ["other:1"]  # untouched, tiny absent
    assert not list((ollama.models / "blobs").glob("*-partial"))


def test_bad_input_is_one_clear_message(run_module, ollama):
    bad_name = run_module("ollama_model", ollama.recorded({"name": "Bad Name!", "url": ollama.url}))
    assert bad_name["failed"] and "is not a model name" in bad_name["msg"]
    unknown = run_module(
        "ollama_model", ollama.recorded({"name": "nope:1", "url": ollama.url, "retries": 0})
    )
    assert unknown["failed"] and "file does not exist" in unknown["msg"]
    down = run_module(
        "ollama_model", ollama.recorded({"name": "tiny:1b", "url": f"http://127.0.0.1:{_port()}"})
    )
    assert down["failed"] and "did not answer /api/tags" in down["msg"]
