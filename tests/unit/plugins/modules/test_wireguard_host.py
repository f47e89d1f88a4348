"""wireguard_host, run for real by Ansible on the local host (check mode where it would change it)."""

from __future__ import annotations

import json
import subprocess

from ansible_collections.homeforge.homelab.plugins.modules import wireguard_host


def test_wireguard_host_creates_private_key_and_returns_only_the_public_key(run_module, tmp_path):
    directory = tmp_path / "wireguard"
    planned = run_module(
        "wireguard_host", {"interface": "wgt0", "directory": str(directory)}, "--check"
    )
    assert planned["changed"] and planned["public_key"] == "" and not directory.exists()

    made = run_module("wireguard_host", {"interface": "wgt0", "directory": str(directory)})
    key_file = directory / "wgt0.key"
    private = key_file.read_text().strip()
    assert made["changed"] and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    derived = subprocess.run(
        ["wg", "pubkey"], input=private + "\n", capture_output=True, text=True, check=True
    )
    assert made["public_key"] == derived.stdout.strip()
    assert private not in json.dumps(made)

    again = run_module("wireguard_host", {"interface": "wgt0", "directory": str(directory)})
    assert not again["changed"] and again["public_key"] == made["public_key"]

    (directory / "wgt0.conf").write_text("[Interface]\nAddress = 10.77.0.5/24\n")
    key_file.chmod(0o644)
    repaired = run_module("wireguard_host", {"interface": "wgt0", "directory": str(directory)})
    assert repaired["changed"] and repaired["address"] == "10.77.0.5"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"

    rotated = run_module(
        "wireguard_host", {"interface": "wgt0", "directory": str(directory), "rotate": True}
    )
    assert rotated["changed"] and rotated["public_key"] != made["public_key"]
    old = directory / "wgt0.key.old"
    assert old.read_text().strip() == private and oct(old.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in directory.iterdir()) == ["wgt0.conf", "wgt0.key", "wgt0.key.old"]


def test_wireguard_host_rejects_bad_interface_names(run_module, tmp_path):
    out = run_module("wireguard_host", {"interface": "wg0; rm -rf /", "directory": str(tmp_path)})
    assert out["failed"] and "invalid interface name" in out["msg"]
    out = run_module("wireguard_host", {"interface": "-wg0", "directory": str(tmp_path)})
    assert out["failed"] and "invalid interface name" in out["msg"]
    assert list(tmp_path.iterdir()) == []


def test_wireguard_host_check_mode_needs_no_wg_until_a_key_exists(
    call_module, monkeypatch, tmp_path
):
    # On a new host wireguard-tools is installed by the same play, so in check mode
    # it is absent: the module must still answer. `wg` lives in /usr/bin.
    monkeypatch.setenv("PATH", str(tmp_path))
    args = {"interface": "wg0", "directory": str(tmp_path / "wireguard")}
    planned = call_module(wireguard_host, args, check_mode=True)
    assert planned["changed"] and planned["public_key"] == "" and not planned.get("failed")
    applied = call_module(wireguard_host, args)
    assert applied["failed"] and 'required executable "wg"' in applied["msg"]
    assert not (tmp_path / "wireguard" / "wg0.key").exists()
