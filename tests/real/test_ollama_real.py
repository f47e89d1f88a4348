"""The real path for Ollama: the same module and checks against a real Ollama release
and a real model, when they are provided (our build machines reach neither).

    HOMEFORGE_OLLAMA_ARTIFACTS=/path/with/ollama-linux-amd64.tgz+sha256sum.txt \\
    HOMEFORGE_OLLAMA_MODEL=qwen2.5:0.5b  make real

The release is installed only after its checksum matches (release_artifact), started
as `ollama serve` on a free loopback port with a scratch models directory, the model is
pulled through ollama_model (changed, digest = sha256 of its manifest file), pulled
again (not changed), and answers a short generate.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ARTIFACTS = os.environ.get("HOMEFORGE_OLLAMA_ARTIFACTS", "")
MODEL = os.environ.get("HOMEFORGE_OLLAMA_MODEL", "")

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(
        not (ARTIFACTS and MODEL),
        reason="real Ollama: set HOMEFORGE_OLLAMA_ARTIFACTS and HOMEFORGE_OLLAMA_MODEL",
    ),
]


def test_a_real_ollama_pulls_lists_and_answers(run_module, tmp_path):
    archive = next(Path(ARTIFACTS).glob("ollama-linux-*.t*"))
    install = run_module(
        "release_artifact",
        {
            "name": archive.name,
            "src": str(archive),
            "checksums_src": str(Path(ARTIFACTS) / "sha256sum.txt"),
            "dest": str(tmp_path / "ollama"),
        },
    )
    assert install["changed"], install
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODELS": str(tmp_path / "models"),
    }
    server = subprocess.Popen([str(tmp_path / "ollama" / "bin" / "ollama"), "serve"], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api/version", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "ollama serve did not answer"
                time.sleep(0.5)
        pulled = run_module("ollama_model", {"name": MODEL, "url": url, "timeout": 3600})
        assert pulled["changed"] and pulled["transferred"] > 0, pulled
        manifests = list((tmp_path / "models" / "manifests").rglob("*"))
        digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in manifests if p.is_file()}
        assert pulled["digest"] in digests
        again = run_module("ollama_model", {"name": MODEL, "url": url})
        assert not again["changed"] and again["attempts"] == 0
        body = json.dumps({"model": MODEL, "prompt": "Say hi.", "stream": False}).encode()
        answer = json.loads(urllib.request.urlopen(url + "/api/generate", body, timeout=600).read())
        assert answer["done"] and answer["response"].strip()
    finally:
        server.terminate()
        server.wait(timeout=30)
