"""The wireguard role's host-side helper scripts, run here with stand-in ``wg``,
``wg-quick`` and ``ip`` commands on PATH (the real ones run in molecule and the lab)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RELOAD = ROOT / "roles" / "wireguard" / "files" / "homeforge-wg-reload"
KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


def _tool(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture
def reload_env(tmp_path):
    """The helper copied with /etc/wireguard and /run pointed into tmp_path."""
    etc, run, bindir = tmp_path / "etc", tmp_path / "run", tmp_path / "bin"
    for d in (etc, run, bindir):
        d.mkdir()
    script = RELOAD.read_text().replace("/etc/wireguard", str(etc)).replace("/run/", f"{run}/")
    helper = tmp_path / "reload"
    helper.write_text(script)
    helper.chmod(0o755)
    (etc / "wg0.conf").write_text("[Interface]\nAddress = 10.77.0.1/24\n\n[Peer]\nPublicKey = x\n")
    (etc / "wg0.key").write_text(KEY + "\n")
    _tool(bindir, "ip", "exit 0")
    calls = tmp_path / "calls"
    _tool(bindir, "wg", f'echo "$@" >> {calls}; cat "$3" >> {calls}.conf')
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    return helper, bindir, calls, env, run


def test_a_failing_strip_applies_nothing(reload_env):
    helper, bindir, calls, env, run = reload_env
    _tool(bindir, "wg-quick", "echo partial; exit 1")
    done = subprocess.run([str(helper), "wg0"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert not calls.exists()  # syncconf never ran with an empty or partial config
    assert list(run.iterdir()) == []  # temporary files removed


def test_the_key_is_injected_and_syncconf_errors_are_not_echoed(reload_env):
    helper, bindir, calls, env, run = reload_env
    _tool(bindir, "wg-quick", 'grep -v "^Address" "$2"')
    done = subprocess.run([str(helper), "wg0"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().startswith("syncconf wg0 ")
    assert f"PrivateKey = {KEY}" in Path(f"{calls}.conf").read_text()
    _tool(bindir, "wg", f'echo "Key is not the correct length or format: {KEY}" >&2; exit 1')
    done = subprocess.run([str(helper), "wg0"], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "syncconf wg0 failed" in done.stderr
    assert KEY not in done.stdout + done.stderr
    assert list(run.iterdir()) == []


@pytest.mark.parametrize("iface", ["", "-h", "wg0 private-key", "wg0;id", "../x"])
def test_the_interface_argument_is_checked(reload_env, iface):
    helper, _bindir, calls, env, _run = reload_env
    done = subprocess.run([str(helper), iface], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and not calls.exists()


def test_the_reload_handler_hides_its_output_and_uses_argv():
    handlers = yaml.safe_load((ROOT / "roles" / "wireguard" / "handlers" / "main.yml").read_text())
    (reload,) = [h for h in handlers if h["name"] == "Reload wireguard peers"]
    assert reload["no_log"] is True
    assert isinstance(reload["ansible.builtin.command"], dict)
    assert reload["ansible.builtin.command"]["argv"][0] == "/usr/local/sbin/homeforge-wg-reload"
