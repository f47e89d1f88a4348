"""Seeding a model host to host (homeforge.remote.modelops), run here between two models
directories with the real HTTP transfer on loopback. The model is a synthetic one in
Ollama's on-disk layout (made by the Ollama stand-in's make-model)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from homeforge.remote import modelops, offerops

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "ollama"
REL = "manifests/registry.ollama.ai/library/tiny/1b"
SIZE = 4_000_000


@pytest.fixture
def source(tmp_path):
    models = tmp_path / "src"
    make = ["make-model", "--root", str(models), "--name", "library/tiny:1b", "--size", str(SIZE)]
    subprocess.run(
        [sys.executable, str(STANDIN), *make],
        check=True,
        capture_output=True,
    )
    return models


def _offer(models):
    offer = offerops.seed_offer(str(models), REL, "127.0.0.1", idle=30)
    return offer


def _fetch(target, offer):
    return modelops.seed_fetch(
        str(target), offer["url"], offer["token"], REL, offer["digest"], offer["blobs"]
    )


def _stop(offer):
    offerops.seed_stop(offer["pid"])


def test_a_seeded_model_is_byte_identical_and_a_second_seed_sends_nothing(source, tmp_path):
    target = tmp_path / "dst"
    target.mkdir()
    offer = _offer(source)
    try:
        done = _fetch(target, offer)
        assert done["changed"] and done["fetched"] == 3 and done["transferred"] >= SIZE
        manifest = (target / REL).read_bytes()
        assert hashlib.sha256(manifest).hexdigest() == offer["digest"]
        for blob in offer["blobs"]:
            name = blob["digest"].replace(":", "-")
            assert (target / "blobs" / name).read_bytes() == (source / "blobs" / name).read_bytes()
        # every directory the seed made is the models' owner's (Ollama can delete the model)
        made = [p for p in target.rglob("*") if p.is_dir()]
        assert made and all(p.stat().st_uid == target.stat().st_uid for p in made)
        again = _fetch(target, offer)
        assert not again["changed"] and again["transferred"] == 0 and again["present"] == 3
        assert not list((target / ".homeforge-seed").iterdir())
    finally:
        _stop(offer)


def test_the_server_answers_only_with_the_token_and_only_that_models_files(source):
    import urllib.error
    import urllib.request

    offer = _offer(source)
    try:
        for path, token in (("/manifest", "wrong"), ("/etc/passwd", offer["token"])):
            request = urllib.request.Request(
                offer["url"] + path, headers={"X-Homeforge-Token": token}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request)
            assert refused.value.code in (403, 404)
    finally:
        _stop(offer)


def test_an_interrupted_seed_resumes_without_resending_what_arrived(source, tmp_path):
    target = tmp_path / "dst"
    weights = json.loads((source / REL).read_text())["layers"][0]["digest"].replace(":", "-")
    staging = target / ".homeforge-seed"
    staging.mkdir(parents=True)
    data = (source / "blobs" / weights).read_bytes()
    (staging / f"{weights}.part").write_bytes(data[: SIZE // 2])  # the first half arrived
    offer = _offer(source)
    try:
        done = _fetch(target, offer)
        assert SIZE // 2 <= done["transferred"] < SIZE // 2 + 100
        assert (target / "blobs" / weights).read_bytes() == data
    finally:
        _stop(offer)


def test_a_corrupt_blob_is_discarded_and_the_model_stays_absent(source, tmp_path):
    target = tmp_path / "dst"
    target.mkdir()
    weights = json.loads((source / REL).read_text())["layers"][0]["digest"].replace(":", "-")
    offer = _offer(source)
    (source / "blobs" / weights).write_bytes(b"x" * SIZE)  # bit rot on the source after the offer
    try:
        with pytest.raises(modelops.OpError, match="digest mismatch; discarded"):
            _fetch(target, offer)
        assert not (target / REL).exists()
        assert not (target / "blobs" / weights).exists()
        assert not list((target / ".homeforge-seed").iterdir())
    finally:
        _stop(offer)


def test_not_enough_space_changes_nothing(source, tmp_path, monkeypatch):
    target = tmp_path / "dst"
    target.mkdir()
    offer = _offer(source)
    monkeypatch.setattr(modelops.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    try:
        with pytest.raises(modelops.OpError, match=r"not enough free space .* nothing changed"):
            _fetch(target, offer)
        assert not (target / "blobs").exists() or not list((target / "blobs").iterdir())
    finally:
        _stop(offer)


def test_bad_paths_are_refused():
    for rel in ("manifests/../../etc/passwd", "manifests/a/b/c", "/etc/x", ""):
        with pytest.raises(modelops.OpError):
            modelops._manifest_path("/var/lib/ollama/models", rel)
    with pytest.raises(modelops.OpError):
        modelops._manifest_path("relative", REL)


def test_a_seed_records_where_the_model_came_from_and_tags_report_it(source, tmp_path, monkeypatch):
    monkeypatch.setattr(modelops, "ORIGINS", str(tmp_path / "origins" / "origins.json"))
    target = tmp_path / "dst"
    target.mkdir()
    offer = _offer(source)
    try:
        modelops.seed_fetch(
            str(target), offer["url"], offer["token"], REL, offer["digest"], offer["blobs"],
            name="tiny:1b", origin="seeded from gpu-a",
        )  # fmt: skip
    finally:
        _stop(offer)
    record = json.loads((tmp_path / "origins" / "origins.json").read_text())["models"]["tiny:1b"]
    assert record["digest"] == offer["digest"] and record["origin"] == "seeded from gpu-a"
    assert oct((tmp_path / "origins" / "origins.json").stat().st_mode & 0o777) == "0o644"

    class Tags:  # what Ollama's /api/tags answers: the record counts only for its digest
        def __init__(self, digest):
            self.body = json.dumps({"models": [{"name": "tiny:1b", "digest": digest}]}).encode()

        def read(self):
            return self.body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(modelops, "_listen_address", lambda: "http://127.0.0.1:11434")
    monkeypatch.setattr(modelops.urllib.request, "urlopen", lambda *a, **k: Tags(offer["digest"]))
    [model] = modelops.ollama_tags()["models"]
    assert model["origin"] == "seeded from gpu-a" and model["origin_at"]
    monkeypatch.setattr(modelops.urllib.request, "urlopen", lambda *a, **k: Tags("0" * 64))
    [model] = modelops.ollama_tags()["models"]
    assert model["origin"] == ""  # changed since: where it came from is not known
