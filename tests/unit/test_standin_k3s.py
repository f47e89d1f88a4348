"""The K3s STAND-IN fails where K3s fails (tests/standins/k3s): the roles' tests rely on it
refusing what K3s refuses, so these pin that down (run here with this Python)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parents[2] / "tests" / "standins" / "k3s"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, name, kind, text, wait=True):
    config = tmp_path / f"{name}.yaml"
    config.write_text(text + f"\nnode-name: {name}\ndata-dir: {tmp_path / name}\n")
    env = {**os.environ, "K3S_CONFIG_FILE": str(config)}
    cmd = [sys.executable, str(STANDIN), kind]
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def cluster(tmp_path):
    port = _port()
    server = _run(
        tmp_path,
        "s1",
        "server",
        f"cluster-init: true\ntoken: sekrit\nhttps-listen-port: {port}\ncluster-cidr: 10.42.0.0/16",
        wait=False,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.05)
    yield tmp_path, port, server
    server.terminate()


def _nodes(tmp_path):
    env = {**os.environ, "K3S_STANDIN_DATA_DIR": str(tmp_path / "s1")}
    out = subprocess.run(
        [sys.executable, str(STANDIN), "kubectl", "get", "nodes"],
        env=env,
        capture_output=True,
        text=True,
    )
    return out.stdout


def test_join_needs_the_right_token_and_never_makes_a_second_cluster(cluster):
    tmp_path, port, _server = cluster
    wrong = _run(tmp_path, "a1", "agent", f"server: https://127.0.0.1:{port}\ntoken: wrong")
    assert wrong.returncode == 1 and "token is not valid" in wrong.stderr
    nowhere = _run(tmp_path, "a2", "agent", "token: sekrit")
    assert nowhere.returncode == 1 and "--server is required" in nowhere.stderr
    assert "a1" not in _nodes(tmp_path) and "a2" not in _nodes(tmp_path)
    agent = _run(
        tmp_path, "a1", "agent", f"server: https://127.0.0.1:{port}\ntoken: sekrit", wait=False
    )
    try:
        deadline = time.monotonic() + 10
        while "a1 Ready" not in _nodes(tmp_path):
            assert time.monotonic() < deadline, _nodes(tmp_path)
            time.sleep(0.2)
    finally:
        agent.terminate()
    token = tmp_path / "s1" / "server" / "token"
    assert token.stat().st_mode & 0o777 == 0o600 and token.read_text().startswith("K10")


def test_unknown_keys_fatal_on_agents_skipped_with_a_warning_on_servers(cluster):
    tmp_path, port, server = cluster
    agent = _run(
        tmp_path,
        "a1",
        "agent",
        f"server: https://127.0.0.1:{port}\ntoken: sekrit\ndisable: [traefik]",
    )
    assert agent.returncode == 1 and "flag provided but not defined: -disable" in agent.stderr
    server.terminate()
    assert "Unknown flag --" not in server.stderr.read()  # the fixture's config has none
    bogus = _run(
        tmp_path,
        "s9",
        "server",
        f"cluster-init: true\ntoken: x\nhttps-listen-port: {_port()}\nbogus-key: 1",
        wait=False,
    )
    time.sleep(1)
    bogus.terminate()
    assert "Unknown flag --bogus-key found in config.yaml, skipping" in bogus.stderr.read()


def test_a_server_with_different_critical_flags_is_refused(cluster):
    tmp_path, port, _server = cluster
    joined = _run(
        tmp_path,
        "s2",
        "server",
        f"server: https://127.0.0.1:{port}\ntoken: sekrit\nhttps-listen-port: {_port()}\ncluster-cidr: 10.99.0.0/16",
    )
    assert joined.returncode == 1
    assert "critical configuration value mismatch between servers" in joined.stderr
