"""The gateway's host program (keys made on the host, stored as digests, shown once;
usage summed up) run as a host runs it, and `homeforge gateway` / `inventory check`
on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from homeforge.cli import main
from homeforge.remote import gatewayops
from homeforge.remote.prelude import OpError


@pytest.fixture
def gateway_host(tmp_path, monkeypatch):
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    state.mkdir(mode=0o700)
    (etc / "consumers.json").write_text(
        json.dumps({"app": {"models": ["tiny:1b"], "rpm": 5, "tpm": 100}})
    )
    keys = state / "keys.json"
    keys.write_text('{"keys": {}, "revoked": {}}')
    keys.chmod(0o600)
    monkeypatch.setattr(gatewayops, "STATE", str(state))
    monkeypatch.setattr(gatewayops, "KEYS", str(keys))
    monkeypatch.setattr(gatewayops, "CONSUMERS", str(etc / "consumers.json"))
    monkeypatch.setattr(gatewayops, "USAGE", str(state / "usage.jsonl"))
    return state


def test_a_key_is_made_on_the_host_shown_once_and_stored_as_its_digest(gateway_host):
    issued = gatewayops.keys_issue("app")
    key = issued["key"]
    assert key.startswith("sk-hf-") and len(key) > 40
    text = (gateway_host / "keys.json").read_text()
    assert key not in text
    stored = json.loads(text)["keys"]["app"]
    assert stored["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert stat.S_IMODE(os.stat(gateway_host / "keys.json").st_mode) == 0o600
    listed = gatewayops.keys_list()["consumers"]["app"]
    assert (
        listed["has_key"]
        and key not in json.dumps(listed)
        and stored["sha256"] not in json.dumps(listed)
    )


def test_a_second_issue_is_refused_rotate_replaces_and_revoke_removes(gateway_host):
    first = gatewayops.keys_issue("app")["key"]
    with pytest.raises(OpError, match="has a key already"):
        gatewayops.keys_issue("app")
    second = gatewayops.keys_issue("app", rotate=True)["key"]
    assert second != first
    digests = json.loads((gateway_host / "keys.json").read_text())["keys"]["app"]["sha256"]
    assert digests == hashlib.sha256(second.encode()).hexdigest()
    assert gatewayops.keys_revoke("app") == {"name": "app", "revoked": True}
    assert gatewayops.keys_revoke("app") == {"name": "app", "revoked": False}
    listed = gatewayops.keys_list()["consumers"]["app"]
    assert not listed["has_key"] and listed["revoked_at"]


def test_only_a_declared_consumer_gets_a_key(gateway_host):
    with pytest.raises(OpError, match="not a consumer of this gateway"):
        gatewayops.keys_issue("stranger")
    with pytest.raises(OpError, match="not a consumer name"):
        gatewayops.keys_issue("../app")
    assert json.loads((gateway_host / "keys.json").read_text())["keys"] == {}


def test_usage_sums_requests_errors_tokens_and_latency_per_consumer_and_model(gateway_host):
    now = time.time()
    records = [
        {
            "t": now,
            "consumer": "app",
            "model": "tiny:1b",
            "status": 200,
            "tokens_in": 3,
            "tokens_out": 9,
            "ms": 10.0,
        },
        {
            "t": now,
            "consumer": "app",
            "model": "tiny:1b",
            "status": 200,
            "tokens_in": 2,
            "tokens_out": 8,
            "ms": 30.0,
        },
        {"t": now, "consumer": "app", "model": "tiny:1b", "status": 429},
        {"t": now, "consumer": "", "model": None, "status": 401},
        {
            "t": now - 7200,
            "consumer": "app",
            "model": "tiny:1b",
            "status": 200,
            "tokens_in": 100,
            "ms": 1.0,
        },
    ]
    (gateway_host / "usage.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records) + "torn line\n"
    )
    rows = {(r["consumer"], r["model"]): r for r in gatewayops.usage(since=now - 3600)["rows"]}
    assert rows[("app", "tiny:1b")] == {
        "consumer": "app",
        "model": "tiny:1b",
        "requests": 3,
        "errors": 1,
        "tokens_in": 5,
        "tokens_out": 17,
        "p50_ms": 10.0,
        "p99_ms": 30.0,  # nearest rank
    }
    assert rows[("-", "-")]["errors"] == 1
    everything = {(r["consumer"], r["model"]): r for r in gatewayops.usage()["rows"]}
    assert everything[("app", "tiny:1b")]["requests"] == 4  # since the beginning


def test_gateway_commands_without_a_gateway_group_are_bad_input(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n")
    done = CliRunner().invoke(main, ["gateway", "keys", "issue", "app", "-i", str(inventory)])
    assert done.exit_code == 2
    assert (
        done.output.strip()
        .splitlines()[-1]
        .endswith("no hosts in group 'ai_gateway' (the AI gateway's host)")
    )
    done = CliRunner().invoke(main, ["gateway", "usage", "--since", "5x", "-i", str(inventory)])
    assert done.exit_code == 2 and "--since '5x'" in done.output


def test_inventory_check_names_the_file_host_and_key_of_each_gateway_problem(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n"
        "  hosts:\n    a: {ansible_host: 10.0.0.1}\n    b: {ansible_host: 10.0.0.2}\n"
        "  children:\n"
        "    ollama: {hosts: {a: {ollama_models: ['tiny:1b']}, b: {ollama_models: ['big:7b']}}}\n"
        "    ai_gateway:\n      hosts:\n        a:\n          ai_gateway_consumers:\n"
        "            - {name: App, models: ['nope:1b'], rpm: 0, tpm: 5}\n"
    )
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(inventory)])
    assert done.exit_code == 2
    lines = done.output.splitlines()
    where = f"{inventory}: host a: ai_gateway_consumers"
    assert (
        f"{where}[0].name: a consumer name is lowercase letters, digits, _ and - (at most 63, starting with a letter)"
        in lines
    )
    assert f"{where}[0].rpm: must be a positive whole number (got 0)" in lines
    assert (
        f"{where}[0].models: 'nope:1b' is not served by any Ollama host (ollama_models: big:7b, tiny:1b)"
        in lines
    )
    assert any(
        line.startswith(f"{inventory}: host b: ollama_host: Ollama listens on 127.0.0.1:11434")
        for line in lines
    )


def test_a_gateway_group_with_no_ollama_host_is_bad_input(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n  children:\n    ai_gateway: {hosts: {a: {}}}\n"
    )
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(inventory)])
    assert done.exit_code == 2
    assert "group 'ollama' has no hosts: the gateway has no Ollama host to serve" in done.output


def _wheelhouse_module():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "roles" / "ai_gateway" / "files" / "wheelhouse.py"
    spec = importlib.util.spec_from_file_location("ai_gateway_wheelhouse", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_wheelhouse_pins_what_the_gateway_hosts_python_needs_not_the_controllers():
    """Markers are evaluated for the host (Debian 12's 3.11.2 needs async-timeout, a
    3.12 host does not): pip would evaluate them for the Python that runs it."""
    wheelhouse = _wheelhouse_module()
    root = Path(__file__).resolve().parents[2] / "roles" / "ai_gateway" / "files"
    text = (root / "requirements-1.108.7.txt").read_text()
    debian = wheelhouse.for_host(text, "3.11.2", "x86_64").splitlines()
    newer = wheelhouse.for_host(text, "3.12.3", "aarch64").splitlines()
    assert any(line.startswith("async-timeout==5.0.1 --hash=sha256:") for line in debian)
    assert not any(line.startswith("async-timeout==") for line in newer)
    for line in debian + newer:
        name, _sep, hashes = line.partition(" --hash=sha256:")
        assert "==" in name and ";" not in line and len(hashes.split()[0]) == 64, line
    assert any(line.startswith("litellm==1.108.7 ") for line in debian)


def test_the_ollama_hosts_models_and_listeners_are_inputs_of_the_gateway_host():
    """The gateway's configuration is built from every Ollama host's variables: the fast
    path must count them, so a model added on one Ollama host converges the gateway."""
    from homeforge import paths
    from homeforge.fastpath import inputs

    keys = inputs.cross_host_keys(paths.content_root())
    assert {"ollama_models", "ollama_host", "wireguard_facts"} <= keys


def test_the_host_program_names_consumers_by_the_collections_rule():
    """gatewayops runs on the host with the standard library only, so it keeps its own
    copy of the rule: the same pattern as module_utils/gateway.py's."""
    from homeforge.module_utils import load

    load("validation")
    load("ollama")
    assert gatewayops.NAME.pattern == load("gateway").CONSUMER_NAME.pattern


def _gateway_service(tmp_path, **service) -> tuple[int, list[str]]:
    """inventory check's exit code, and its lines about homeforge_services, for the
    gateway (on gw) declared as the mesh service 'llm'."""
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text(
        "all:\n"
        "  hosts:\n    gw: {ansible_host: 10.0.0.1}\n    app: {ansible_host: 10.0.0.2}\n"
        "  children:\n"
        "    ollama: {hosts: {gw: {ollama_models: ['tiny:1b']}}}\n"
        "    ai_gateway: {hosts: {gw: {ai_gateway_listen: '0.0.0.0:4000'}}}\n"
    )
    body = {
        "port": 4000,
        "health": "/health/liveliness",
        "hosts": {"gw": {"legacy": "http://192.168.0.10:4000"}},
        "consumers": [
            {
                "host": "app",
                "env_file": "/etc/app/llm.env",
                "variables": {"OPENAI_BASE_URL": {"host": "gw", "suffix": "/v1"}},
            }
        ],
        **service,
    }
    (root / "group_vars" / "all.yml").write_text(json.dumps({"homeforge_services": {"llm": body}}))
    done = CliRunner().invoke(main, ["inventory", "check", "-i", str(root)])
    return done.exit_code, [
        line for line in done.output.splitlines() if "homeforge_services" in line
    ]


def test_the_gateway_declared_as_a_mesh_service_is_accepted(tmp_path):
    assert _gateway_service(tmp_path) == (0, [])


def test_a_gateway_service_with_another_port_a_keyed_health_path_or_bind_is_one_line_each(
    tmp_path,
):
    where = f"{tmp_path / 'inv' / 'group_vars' / 'all.yml'}: homeforge_services.llm"
    assert _gateway_service(tmp_path, port=4001) == (
        2,
        [
            f"{where}.port: 4001: the AI gateway on gw listens on port 4000"
            " (ai_gateway_listen, ai_gateway_port)"
        ],
    )
    assert _gateway_service(tmp_path, health="/v1/models") == (
        2,
        [
            f"{where}.health: /v1/models: the AI gateway answers it only with a consumer's key:"
            " use /health/liveliness"
        ],
    )
    bind = {"mode": "bind", "unit": "homeforge-gateway.service", "variable": "HOST"}
    assert _gateway_service(tmp_path, exposure=bind) == (
        2,
        [
            f"{where}.exposure: bind: the AI gateway's address is ai_gateway_listen, not an"
            " environment variable: use firewall (or none)"
        ],
    )
