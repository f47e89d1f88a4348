"""apt_signing_key: a downloaded signing key is installed only when its fingerprint is pinned.

Fingerprints are checked against gpg's own for the Debian archive keyring this machine ships
(an independent implementation), in binary and armored form."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible_collections.homeforge.homelab.plugins.modules import apt_signing_key as module

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-bookworm-stable.gpg")
pytestmark = pytest.mark.skipif(
    not DEBIAN_KEYRING.exists() or not shutil.which("gpg"),
    reason="needs Debian's archive keyring and gpg (both on every Debian 12 host)",
)


def gpg_fingerprints(path: Path) -> list[str]:
    out = subprocess.run(
        ["gpg", "--show-keys", "--with-colons", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the first fpr line after each pub line is the primary key's
    prints, want = [], False
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            want = True
        elif fields[0] == "fpr" and want:
            prints.append(fields[9])
            want = False
    return prints


def armored(data: bytes) -> bytes:
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n"
        + "\n".join(lines)
        + "\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
    ).encode()


def test_fingerprints_are_gpgs_in_binary_and_armored_form():
    data = DEBIAN_KEYRING.read_bytes()
    expected = gpg_fingerprints(DEBIAN_KEYRING)
    assert expected
    assert module.primary_fingerprints(data) == expected
    assert module.primary_fingerprints(armored(data)) == expected


def test_a_key_outside_the_pins_is_refused():
    data = DEBIAN_KEYRING.read_bytes()
    pinned = {module.normalised(gpg_fingerprints(DEBIAN_KEYRING)[0])}
    assert module.matches(data, pinned)[1] is None
    found, why = module.matches(data, {"C95B321B61E88C1809C4F759DDCAE044F796ECB0"})
    assert found and "not one of the pinned fingerprints" in why
    assert module.matches(b"\x99\x00\x00", pinned)[1]  # an empty key packet
    assert module.matches(b"<html>not a key</html>", pinned)[1]


def test_a_pinned_key_in_place_is_left_alone_without_a_download(run_module, tmp_path):
    dest = tmp_path / "debian.gpg"
    shutil.copy(DEBIAN_KEYRING, dest)
    prints = gpg_fingerprints(DEBIAN_KEYRING)
    # the URL answers nothing: a download would fail the task
    out = run_module(
        "apt_signing_key",
        {"url": "https://127.0.0.1:9/key", "dest": str(dest), "fingerprints": prints},
    )
    assert not out.get("failed") and not out["changed"], out
    assert out["fingerprints"] == prints


def test_a_key_in_place_that_is_not_pinned_is_replaced_and_check_mode_says_so(run_module, tmp_path):
    dest = tmp_path / "key.asc"
    dest.write_bytes(DEBIAN_KEYRING.read_bytes())
    args = {
        "url": "https://127.0.0.1:9/key",
        "dest": str(dest),
        "fingerprints": ["C95B321B61E88C1809C4F759DDCAE044F796ECB0"],
    }
    checked = run_module("apt_signing_key", args, "--check")
    assert checked["changed"] and not checked.get("failed")
    out = run_module("apt_signing_key", args)
    assert out["failed"] and "downloading https://127.0.0.1:9/key failed" in out["msg"]
    assert dest.read_bytes() == DEBIAN_KEYRING.read_bytes()


def test_plain_http_and_bad_fingerprints_are_refused(run_module, tmp_path):
    dest = tmp_path / "key.asc"
    out = run_module(
        "apt_signing_key",
        {"url": "http://example.org/key", "dest": str(dest), "fingerprints": ["A" * 40]},
    )
    assert out["failed"] and "https" in out["msg"]
    out = run_module(
        "apt_signing_key",
        {"url": "https://example.org/key", "dest": str(dest), "fingerprints": ["xyz"]},
    )
    assert out["failed"] and "hexadecimal" in out["msg"]
    assert not dest.exists()
