"""testinfra suite for the ollama role (molecule verify and `homeforge verify`).

Against the Ollama stand-in (tests/standins/ollama) in the lab, these check the role's
work (release, user, unit, listener, models with their digests), not a real Ollama.
"""

from __future__ import annotations

import hashlib
import json


def _listen(host) -> str:
    env = host.check_output("systemctl show --property=Environment --value ollama.service")
    found = [w.split("=", 1)[1] for w in env.split() if w.startswith("OLLAMA_HOST=")]
    return found[0]


def _api(host, path: str) -> dict:
    address, port = _listen(host).rsplit(":", 1)
    address = "127.0.0.1" if address in ("0.0.0.0", "") else address
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"
    return json.loads(host.check_output(f"python3 -c '{fetch}' http://{address}:{port}{path}"))


def test_the_pinned_release_is_installed_and_current(host, hf_vars):
    current = host.file("/usr/local/bin/ollama")
    assert current.is_symlink
    assert (
        current.linked_to
        == f"{hf_vars['ollama_install_root']}/{hf_vars['ollama_version']}/bin/ollama"
    )
    record = host.file(
        f"{hf_vars['ollama_install_root']}/{hf_vars['ollama_version']}/.homeforge-artifact.json"
    )
    assert len(json.loads(record.content_string)["sha256"]) == 64


def test_service_runs_as_its_own_user_and_is_enabled(host, hf_vars):
    service = host.service("ollama")
    assert service.is_running and service.is_enabled
    user = hf_vars["ollama_user"]
    assert host.user(user).shell == "/usr/sbin/nologin"
    pid = host.check_output("systemctl show --property=MainPID --value ollama.service")
    assert host.check_output(f"ps -o user= -p {pid}") == user


def test_listening_only_where_configured(host, hf_vars):
    listen = _listen(host)
    address, port = listen.rsplit(":", 1)
    sockets = host.socket.get_listening_sockets()
    assert f"tcp://{address}:{port}" in sockets
    if address not in ("0.0.0.0", "::"):
        assert f"tcp://0.0.0.0:{port}" not in sockets
    if listen == hf_vars["ollama_host"]:
        assert _api(host, "/api/version")["version"]


def test_models_directory_and_environment(host, hf_vars):
    models = host.file(hf_vars["ollama_models_dir"])
    assert models.is_directory and models.user == hf_vars["ollama_user"] and models.mode == 0o750
    env = host.check_output("systemctl show --property=Environment --value ollama.service")
    assert f"OLLAMA_MODELS={hf_vars['ollama_models_dir']}" in env
    assert ("OLLAMA_NOPRUNE=1" in env) == bool(hf_vars["ollama_noprune"])


def test_required_models_are_listed_with_the_digest_of_their_manifest(host, hf_vars):
    listed = {m["name"]: m["digest"] for m in _api(host, "/api/tags")["models"]}
    for name in hf_vars["ollama_models"]:
        short = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        assert short in listed, f"{short} not in {sorted(listed)}"
        model, tag = short.rsplit(":", 1)
        parts = model.split("/")
        parts = ["registry.ollama.ai", "library", *parts] if len(parts) == 1 else parts
        parts = ["registry.ollama.ai", *parts] if len(parts) == 2 else parts
        manifest = host.file(f"{hf_vars['ollama_models_dir']}/manifests/{'/'.join(parts)}/{tag}")
        assert hashlib.sha256(manifest.content).hexdigest() == listed[short]


def test_each_required_model_answers_a_short_generate(host, hf_vars):
    """A few tokens from each model the host must have (a real answer with a real Ollama
    and model; the stand-in's canned answer names itself)."""
    address, port = _listen(host).rsplit(":", 1)
    address = "127.0.0.1" if address in ("0.0.0.0", "") else address
    ask = (
        "import json, sys, urllib.request; "
        "body = json.dumps({'model': sys.argv[2], 'prompt': 'Say hello.', 'stream': False, "
        "'options': {'num_predict': 8}}).encode(); "
        "print(urllib.request.urlopen(sys.argv[1], body, timeout=300).read().decode())"
    )
    for name in hf_vars["ollama_models"]:
        answer = json.loads(
            host.check_output(f'python3 -c "{ask}" http://{address}:{port}/api/generate {name}')
        )
        assert answer["done"] and answer["response"].strip(), answer
