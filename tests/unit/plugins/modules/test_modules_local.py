"""Our modules, run for real by Ansible on the local host (check mode where they would change it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from homeforge import paths

ANSIBLE = str(Path(sys.executable).parent / "ansible")


def run_module(module: str, args: dict, *extra: str) -> dict:
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(paths.collections_dir()),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "json",
    }
    done = subprocess.run(
        [
            ANSIBLE,
            "localhost",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            f"homeforge.homelab.{module}",
            "-a",
            json.dumps(args),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    data = json.loads(done.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_kernel_params_writes_file_and_reports_live_drift(tmp_path):
    conf = tmp_path / "sysctl.d" / "90-test.conf"
    live = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    other = "0" if live == "1" else "1"

    # the file is new; the live value already matches: only the file changes
    first = run_module(
        "kernel_params", {"params": {"net.ipv4.ip_forward": int(live)}, "file": str(conf)}
    )
    assert first["changed"] and first["file_changed"] and first["live_changed"] == []
    assert conf.read_text().endswith(f"net.ipv4.ip_forward={live}\n")
    again = run_module(
        "kernel_params", {"params": {"net.ipv4.ip_forward": int(live)}, "file": str(conf)}
    )
    assert not again["changed"]

    # a different live value, in check mode with diff: reported, nothing touched
    drift = run_module(
        "kernel_params",
        {"params": {"net.ipv4.ip_forward": int(other)}, "file": str(conf)},
        "--check",
        "--diff",
    )
    assert drift["changed"] and drift["live_changed"] == ["net.ipv4.ip_forward"]
    assert f"net.ipv4.ip_forward={other}" in drift["diff"]["after"]
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == live
    assert conf.read_text().endswith(f"net.ipv4.ip_forward={live}\n")


def test_kernel_params_rejects_unknown_parameter(tmp_path):
    out = run_module(
        "kernel_params", {"params": {"net.ipv4.no_such_thing": 1}, "file": str(tmp_path / "x.conf")}
    )
    assert out["failed"] and "unknown kernel parameter net.ipv4.no_such_thing" in out["msg"]


def test_deb_packages_asks_dpkg_and_changes_nothing_when_installed():
    out = run_module("deb_packages", {"names": ["bash", "coreutils"]})
    assert not out["changed"] and out["missing"] == [] and not out["cache_updated"]


def test_deb_packages_check_mode_reports_missing_without_installing():
    out = run_module("deb_packages", {"names": ["bash", "homeforge-no-such-package"]}, "--check")
    assert out["changed"] and out["missing"] == ["homeforge-no-such-package"]


def test_deb_packages_refuses_versions_and_globs():
    out = run_module("deb_packages", {"names": ["curl=7.88", "lib*"]})
    assert out["failed"] and "not plain package names: curl=7.88, lib*" in out["msg"]


def test_wireguard_host_creates_private_key_and_returns_only_the_public_key(tmp_path):
    directory = tmp_path / "wireguard"
    planned = run_module(
        "wireguard_host", {"interface": "wgt0", "directory": str(directory)}, "--check"
    )
    assert planned["changed"] and planned["public_key"] == "" and not directory.exists()

    made = run_module("wireguard_host", {"interface": "wgt0", "directory": str(directory)})
    key_file = directory / "wgt0.key"
    private = key_file.read_text().strip()
    assert made["changed"] and oct(key_file.stat().st_mode & 0o777) == "0o600"
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
    assert (directory / "wgt0.key.old").read_text().strip() == private


def test_wireguard_host_rejects_bad_interface_names(tmp_path):
    out = run_module("wireguard_host", {"interface": "wg0; rm -rf /", "directory": str(tmp_path)})
    assert out["failed"] and "invalid interface name" in out["msg"]


def test_wireguard_psk_owner_makes_keys_receiver_keeps_them_and_only_fingerprints_return(tmp_path):
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
    assert (receiver_dir / "wg0.psk.d" / "a.psk").read_text().strip() == key

    # a peer that left the mesh: its key is removed
    left = run_module("wireguard_psk", {"directory": str(owner_dir), "owned": ["b"]})
    assert left["removed"] == ["c"] and not (keydir / "c.psk").exists()


def test_wireguard_psk_refuses_a_malformed_key_and_an_unknown_sender(tmp_path):
    bad = run_module(
        "wireguard_psk", {"directory": str(tmp_path), "received": ["a"], "install": {"a": "short"}}
    )
    assert bad["failed"] and "not a WireGuard key" in bad["msg"] and "short" not in bad["msg"]
    stranger = run_module(
        "wireguard_psk",
        {"directory": str(tmp_path), "received": [], "install": {"x": "A" * 43 + "="}},
    )
    assert stranger["failed"] and "not a peer this host receives" in stranger["msg"]
