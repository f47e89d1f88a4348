"""The Ollama stand-in's chat, generate and embed endpoints, as Ollama's API documents
them (docs/api.md; server/routes.go, v0.12.3) and the real LiteLLM calls them: streamed
NDJSON unless ``"stream": false``, token counts in the last chunk, 400 for malformed
messages or input, 404 for a model that is not there."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parents[2] / "tests" / "standins" / "ollama"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str) -> None:
    """Until ``url`` answers at all (an HTTP error is an answer)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert time.monotonic() < deadline, url
            time.sleep(0.1)


@pytest.fixture(scope="module")
def ollama(tmp_path_factory):
    root = tmp_path_factory.mktemp("ollama")
    subprocess.run(
        [
            sys.executable,
            str(STANDIN),
            "make-model",
            "--root",
            str(root / "registry"),
            "--name",
            "library/tiny:1b",
            "--size",
            "1000",
        ],
        check=True,
        capture_output=True,
    )
    registry_port, port = _port(), _port()
    registry = subprocess.Popen(
        [
            sys.executable,
            str(STANDIN),
            "registry",
            "--root",
            str(root / "registry"),
            "--listen",
            f"127.0.0.1:{registry_port}",
        ]
    )
    env = {
        **os.environ,
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODELS": str(root / "models"),
        "OLLAMA_STANDIN_REGISTRY": f"http://127.0.0.1:{registry_port}",
    }
    server = subprocess.Popen([sys.executable, str(STANDIN), "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    for up in (url + "/api/version", f"http://127.0.0.1:{registry_port}/v2/"):
        _wait(up)
    pulled = urllib.request.urlopen(
        url + "/api/pull", json.dumps({"model": "tiny:1b"}).encode()
    ).read()
    assert b'"success"' in pulled
    yield url
    server.terminate()
    registry.terminate()


def _post(url: str, path: str, body: dict) -> tuple[int, str, str]:
    request = urllib.request.Request(url + path, json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.read().decode()


def test_chat_streams_by_default_and_the_last_chunk_counts_the_tokens(ollama):
    status, kind, body = _post(
        ollama,
        "/api/chat",
        {"model": "tiny:1b", "messages": [{"role": "user", "content": "hello world"}]},
    )
    assert status == 200 and kind == "application/x-ndjson"
    chunks = [json.loads(line) for line in body.splitlines()]
    assert all(not c["done"] for c in chunks[:-1]) and chunks[-1]["done"]
    text = "".join(c["message"]["content"] for c in chunks)
    assert text.startswith("stand-in answer") and chunks[0]["message"]["role"] == "assistant"
    assert chunks[-1]["done_reason"] == "stop"
    assert chunks[-1]["prompt_eval_count"] == 2 and chunks[-1]["eval_count"] == len(text.split())


def test_chat_without_streaming_is_one_object_and_num_predict_caps_the_answer(ollama):
    status, kind, body = _post(
        ollama,
        "/api/chat",
        {
            "model": "tiny:1b",
            "stream": False,
            "options": {"num_predict": 3},
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
            ],
        },
    )
    answer = json.loads(body)
    assert status == 200 and kind == "application/json" and answer["done"]
    assert len(answer["message"]["content"].split()) == 3 and answer["eval_count"] == 3
    assert answer["done_reason"] == "length" and answer["prompt_eval_count"] == 3


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", {"model": "absent:1b", "messages": []}, 404, 'model "absent:1b" not found'),
        (
            "/api/chat",
            {"model": "tiny:1b", "messages": [{"role": "user", "content": 5}]},
            400,
            "cannot unmarshal",
        ),
        ("/api/chat", {"model": "tiny:1b", "messages": "hello"}, 400, "cannot unmarshal"),
        ("/api/chat", {"model": "bad name", "messages": []}, 400, "invalid model name"),
        ("/api/embed", {"model": "tiny:1b", "input": 5}, 400, "invalid input type"),
        ("/api/generate", {"model": "absent:1b", "prompt": "x"}, 404, "not found"),
    ],
)
def test_what_ollama_refuses_the_stand_in_refuses(ollama, path, body, status, error):
    got, _kind, text = _post(ollama, path, body)
    assert got == status and error in json.loads(text)["error"]


def test_embed_gives_one_unit_vector_per_input(ollama):
    status, _kind, body = _post(ollama, "/api/embed", {"model": "tiny:1b", "input": ["a", "b c"]})
    answer = json.loads(body)
    assert status == 200 and len(answer["embeddings"]) == 2
    assert all(abs(sum(v * v for v in vec) - 1) < 1e-3 for vec in answer["embeddings"])
    again = json.loads(_post(ollama, "/api/embed", {"model": "tiny:1b", "input": "a"})[2])
    assert again["embeddings"][0] == answer["embeddings"][0] and answer["prompt_eval_count"] == 3


def test_a_role_is_not_checked_as_ollama_does_not_check_it(ollama):
    """Ollama hands roles to the model's template: an unusual one is no error."""
    body = {"model": "tiny:1b", "stream": False, "messages": [{"role": "robot", "content": "x"}]}
    status, _kind, text = _post(ollama, "/api/chat", body)
    assert status == 200 and json.loads(text)["done"]


def _standin_module():
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("ollama_standin", str(STANDIN))
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_loader("ollama_standin", loader)
    )
    loader.exec_module(module)
    return module


def _model(store, name, config=b'{"model_format":"gguf"}', layer=b"weights", mtime=0.0):
    import hashlib

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        Path(store.blob(digest)).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    manifest = {"schemaVersion": 2, "config": blob(config), "layers": [blob(layer)]}
    path = Path(store.manifest_path(["registry.ollama.ai", "library", *name.split(":")]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    os.utime(path, (mtime, mtime))
    return manifest


def test_tags_lists_as_ollama_lists_newest_first_with_the_config_in_the_size(tmp_path):
    """server/routes.go ListHandler and manifest.Size(): the size adds the config layer;
    the newest manifest first; a model whose config blob cannot be read, or whose
    manifest does not parse, is not listed."""
    ollama = _standin_module()
    store = ollama.Store(str(tmp_path))
    old = _model(store, "old:1", mtime=1_000_000)
    _model(store, "new:1", layer=b"other weights", mtime=2_000_000)
    broken = _model(store, "noconfig:1", config=b"cfg-not-json", mtime=3_000_000)
    assert broken
    bad = Path(store.manifest_path(["registry.ollama.ai", "library", "bad", "1"]))
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    listed = store.tags()
    assert [m["name"] for m in listed] == ["new:1", "old:1"]
    assert listed[1]["size"] == old["config"]["size"] + old["layers"][0]["size"]


def test_start_up_pruning_skips_everything_while_a_manifest_is_corrupt(tmp_path):
    """server/routes.go: "corrupt manifests detected, skipping prune operation"; with every
    manifest readable, an unreferenced blob older than an hour goes."""
    ollama = _standin_module()
    store = ollama.Store(str(tmp_path))
    _model(store, "kept:1")
    stray = Path(store.blob("sha256:" + "0" * 64))
    stray.write_bytes(b"stray")
    os.utime(stray, (0, 0))
    bad = Path(store.manifest_path(["registry.ollama.ai", "library", "bad", "1"]))
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    store.prune()
    assert stray.exists()
    bad.unlink()
    store.prune()
    assert not stray.exists() and len(list(Path(store.blobs).iterdir())) == 2
