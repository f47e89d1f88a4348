"""wireguard_psk, run for real by Ansible on the local host (check mode where it would change it)."""

from __future__ import annotations

import json

from ansible_collections.homeforge.homelab.plugins.modules import wireguard_psk


def test_wireguard_psk_owner_makes_keys_receiver_keeps_them_and_only_fingerprints_return(
    run_module, tmp_path
):
    owner_dir, receiver_dir = tmp_path / "a", tmp_path / "b"
    check = run_module(
        "wireguard_psk", {"directory": str(owner_dir), "owned": ["b", "c"]}, "--check"
    )
    assert check["changed"] and check["created"] == ["b", "c"] and not owner_dir.exists()

    made = run_module("wireguard_psk", {"directory": str(owner_dir), "owned": ["b", "c"]})
    keydir = owner_dir / "wg0.psk.d"
    assert made["changed"] and oct(keydir.stat().st_mode & 0o777) == "0o700"
    key = (keydir / "b.psk").read_text().strip()
    assert oct((keydir / "b.psk").stat().st_mode & 0o777) == "0o600"
    assert key not in json.dumps(made)  # only fingerprints come back
    assert set(made["fingerprints"]) == {"b", "c"} and len(made["fingerprints"]["b"]) == 16
    again = run_module("wireguard_psk", {"directory": str(owner_dir), "owned": ["b", "c"]})
    assert not again["changed"] and again["fingerprints"] == made["fingerprints"]

    kept = run_module(
        "wireguard_psk",
        {"directory": str(receiver_dir), "received": ["a"], "install": {"a": key}},
    )
    assert kept["changed"] and kept["fingerprints"]["a"] == made["fingerprints"]["b"]
    assert key not in json.dumps(kept)
    received = receiver_dir / "wg0.psk.d" / "a.psk"
    assert received.read_text().strip() == key
    assert oct(received.stat().st_mode & 0o777) == "0o600"

    # a peer that left the mesh: its key is removed
    left = run_module("wireguard_psk", {"directory": str(owner_dir), "owned": ["b"]})
    assert left["removed"] == ["c"] and not (keydir / "c.psk").exists()
    assert sorted(p.name for p in keydir.iterdir()) == ["b.psk"]  # no temporaries


def test_wireguard_psk_refuses_a_malformed_key_and_an_unknown_sender(run_module, tmp_path):
    bad = run_module(
        "wireguard_psk", {"directory": str(tmp_path), "received": ["a"], "install": {"a": "short"}}
    )
    assert bad["failed"] and "not a WireGuard key" in bad["msg"] and "short" not in bad["msg"]
    stranger = run_module(
        "wireguard_psk",
        {"directory": str(tmp_path), "received": [], "install": {"x": "A" * 43 + "="}},
    )
    assert stranger["failed"] and "not a peer this host receives" in stranger["msg"]


def test_wireguard_psk_rejects_bad_interface_and_peer_names(run_module, tmp_path):
    iface = run_module("wireguard_psk", {"directory": str(tmp_path), "interface": "wg0\nx"})
    assert iface["failed"] and "invalid interface name" in iface["msg"]
    peer = run_module("wireguard_psk", {"directory": str(tmp_path), "owned": ["../etc"]})
    assert peer["failed"] and "invalid peer name '../etc'" in peer["msg"]
    assert list(tmp_path.iterdir()) == []


def test_wireguard_psk_check_mode_needs_no_wg(call_module, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # `wg` lives in /usr/bin
    args = {"directory": str(tmp_path / "wireguard"), "owned": ["b"]}
    planned = call_module(wireguard_psk, args, check_mode=True)
    assert planned["changed"] and planned["created"] == ["b"] and not planned.get("failed")
    applied = call_module(wireguard_psk, args)
    assert applied["failed"] and 'required executable "wg"' in applied["msg"]
