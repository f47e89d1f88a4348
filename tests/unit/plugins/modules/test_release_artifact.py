"""release_artifact, run as a module in a process of its own: nothing is installed unless the
file's sha256 matches the release's checksum list; a converged host is not changed."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile

import pytest


def _release(tmp_path, content=b"#!/bin/sh\necho ollama\n"):
    rel = tmp_path / "release"
    rel.mkdir(exist_ok=True)
    archive = rel / "ollama-linux-amd64.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("bin/ollama")
        info.size, info.mode = len(content), 0o755
        tar.addfile(info, io.BytesIO(content))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (rel / "sha256sum.txt").write_text(
        f"{'0' * 64}  ./ollama-darwin.tgz\n{digest}  ./ollama-linux-amd64.tgz\n"
    )
    return rel, digest


def _args(rel, dest):
    return {
        "name": "ollama-linux-amd64.tgz",
        "src": str(rel / "ollama-linux-amd64.tgz"),
        "checksums_src": str(rel / "sha256sum.txt"),
        "dest": str(dest),
        "allowed_prefixes": [str(dest.parent)],
    }


def test_installs_once_after_checking_and_is_idempotent(run_module, tmp_path):
    rel, digest = _release(tmp_path)
    dest = tmp_path / "lib" / "0.12.3"
    check = run_module("release_artifact", _args(rel, dest), "--check")
    assert check["changed"] and not dest.exists()
    done = run_module("release_artifact", _args(rel, dest))
    assert done["changed"] and done["sha256"] == digest
    assert (dest / "bin" / "ollama").read_text().endswith("echo ollama\n")
    again = run_module("release_artifact", _args(rel, dest))
    assert not again["changed"] and again["previous_sha256"] == digest


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: (d / "bin" / "ollama").write_text("#!/bin/sh\necho patched\n"),
        lambda d: (d / "bin" / "ollama").chmod(0o777),
        lambda d: (d / "bin" / "ollama").unlink(),
        lambda d: (d / "bin" / "extra").write_text("planted"),
    ],
    ids=["edited", "mode", "removed", "added"],
)
def test_a_release_whose_installed_files_changed_is_installed_again(run_module, tmp_path, spoil):
    """The record vouches for what was installed, not only for the archive's digest."""
    rel, digest = _release(tmp_path)
    dest = tmp_path / "lib" / "0.12.3"
    run_module("release_artifact", _args(rel, dest))
    spoil(dest)
    check = run_module("release_artifact", _args(rel, dest), "--check")
    assert check["changed"] and "its files differ" in check["repaired"]
    fixed = run_module("release_artifact", _args(rel, dest))
    assert (
        fixed["changed"] and fixed["sha256"] == digest and "its files differ" in fixed["repaired"]
    )
    assert (dest / "bin" / "ollama").read_text().endswith("echo ollama\n")
    assert sorted(p.name for p in (dest / "bin").iterdir()) == ["ollama"]
    again = run_module("release_artifact", _args(rel, dest))
    assert not again["changed"] and again["repaired"] == ""


def _zst_release(tmp_path, member):
    rel = tmp_path / "release"
    rel.mkdir(exist_ok=True)
    plain = rel / "ollama.tar"
    with tarfile.open(plain, "w") as tar:
        content = b"#!/bin/sh\necho ollama\n"
        info = tarfile.TarInfo(member)
        info.size, info.mode = len(content), 0o755
        tar.addfile(info, io.BytesIO(content))
    archive = rel / "ollama-linux-amd64.tar.zst"
    subprocess.run(["zstd", "-q", "-f", str(plain), "-o", str(archive)], check=True)
    plain.unlink()
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (rel / "sha256sum.txt").write_text(f"{digest}  ./ollama-linux-amd64.tar.zst\n")
    return rel


@pytest.mark.parametrize(
    ("member", "installed"),
    [("bin/ollama", True), ("../escaped", False), ("/etc/escaped", False)],
)
def test_a_tar_zst_release_gets_the_same_member_checks_as_a_tgz(
    run_module, tmp_path, member, installed
):
    rel = _zst_release(tmp_path, member)
    dest = tmp_path / "lib" / "0.34.4"
    args = {
        **_args(rel, dest),
        "name": "ollama-linux-amd64.tar.zst",
        "src": str(rel / "ollama-linux-amd64.tar.zst"),
    }
    done = run_module("release_artifact", args)
    if installed:
        assert done["changed"] and (dest / "bin" / "ollama").read_text().endswith("echo ollama\n")
    else:
        assert done.get("failed") and "refusing a member outside the archive" in done["msg"]
        assert not dest.exists() and not (tmp_path / "escaped").exists()
    assert not [p for p in (tmp_path / "lib").iterdir() if p.name.startswith(".")]


def test_a_file_that_does_not_match_installs_nothing(run_module, tmp_path):
    rel, _digest = _release(tmp_path)
    (rel / "ollama-linux-amd64.tgz").write_bytes(b"tampered")
    dest = tmp_path / "lib" / "x"
    bad = run_module("release_artifact", _args(rel, dest))
    assert bad["failed"] and "does not match the release's" in bad["msg"] and not dest.exists()
    assert not (tmp_path / "lib").exists()  # checked before anything was written


def test_a_name_missing_from_the_checksum_list_fails(run_module, tmp_path):
    rel, _digest = _release(tmp_path)
    (rel / "sha256sum.txt").write_text(f"{'1' * 64}  other.tgz\n")
    bad = run_module("release_artifact", _args(rel, tmp_path / "d"))
    assert bad["failed"] and "no line for it" in bad["msg"]


def test_a_new_release_replaces_the_old_one_whole(run_module, tmp_path):
    rel, _digest = _release(tmp_path)
    dest = tmp_path / "lib" / "cur"
    run_module("release_artifact", _args(rel, dest))
    (dest / "stray").write_text("left by hand")
    rel, digest2 = _release(tmp_path, b"#!/bin/sh\necho newer\n")
    done = run_module("release_artifact", _args(rel, dest))
    assert done["changed"] and done["sha256"] == digest2
    assert (dest / "bin" / "ollama").read_text().endswith("echo newer\n")
    assert not (dest / "stray").exists()


def test_check_mode_before_the_files_are_copied_predicts_a_change(run_module, tmp_path):
    rel, _digest = _release(tmp_path)
    args = _args(rel, tmp_path / "d")
    args["checksums_src"] = str(tmp_path / "not-copied-yet" / "sha256sum.txt")
    check = run_module("release_artifact", args, "--check")
    assert check["changed"] and not check.get("failed") and not (tmp_path / "d").exists()
    real = run_module("release_artifact", args)
    assert real["failed"] and "no such checksum list" in real["msg"]


def test_a_pinned_sha256_stands_for_a_checksum_list(run_module, tmp_path):
    """Releases that publish one digest per file (EKS hybrid nodeadm): the caller pins it."""
    binary = tmp_path / "nodeadm"
    binary.write_bytes(b"#!/bin/sh\necho nodeadm\n")
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    args = {
        "name": "nodeadm",
        "src": str(binary),
        "dest": str(tmp_path / "lib"),
        "extract": False,
        "allowed_prefixes": [str(tmp_path)],
    }
    wrong = run_module("release_artifact", {**args, "sha256": "1" * 64})
    assert wrong["failed"] and "does not match the release's" in wrong["msg"]
    assert not (tmp_path / "lib").exists()
    bad = run_module("release_artifact", {**args, "sha256": "abc"})
    assert bad["failed"] and "is not a SHA-256" in bad["msg"]
    done = run_module("release_artifact", {**args, "sha256": digest.upper()})
    assert done["changed"] and (tmp_path / "lib" / "nodeadm").stat().st_mode & 0o777 == 0o755
    assert not run_module("release_artifact", {**args, "sha256": digest})["changed"]


# ------------------------------------------------------------ where a release may go


@pytest.mark.parametrize(
    ("dest", "why"),
    [
        ("/etc", "system directory"),
        ("/", "system directory"),
        ("/usr/local/lib", "system directory"),
        ("/opt/x/../../etc", "'..'"),
        ("/usr/local/lib/ollama/../../../etc", "'..'"),
        ("lib/ollama/0.12.3", "absolute path"),
        ("/usr/local/lib/ollama/./x", "'.'"),
        ("/usr/local/lib/ollama/0.12.3\n", "control characters"),
    ],
)
def test_a_destination_that_is_not_a_release_directory_is_refused(run_module, tmp_path, dest, why):
    rel, _digest = _release(tmp_path)
    args = {**_args(rel, tmp_path / "unused"), "dest": dest, "allowed_prefixes": ["/"]}
    refused = run_module("release_artifact", args)
    assert refused["failed"] and why in refused["msg"] and "nothing changed" in refused["msg"]
    assert refused["msg"].startswith(f"dest {json.dumps(dest)}: ") and "\n" not in refused["msg"]
    assert not list(tmp_path.glob("**/.incoming-*"))


def test_a_destination_outside_the_allowed_prefixes_is_refused(run_module, tmp_path):
    rel, _digest = _release(tmp_path)
    args = _args(rel, tmp_path / "lib" / "0.12.3")
    del args["allowed_prefixes"]  # the default: where the collection's roles install
    refused = run_module("release_artifact", args)
    assert refused["failed"] and "outside the allowed prefixes" in refused["msg"]
    assert "/usr/local/lib/ollama" in refused["msg"] and not (tmp_path / "lib").exists()


def test_a_link_on_the_way_out_of_the_prefix_is_refused_and_its_target_kept(run_module, tmp_path):
    rel, _digest = _release(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "0.12.3").mkdir(parents=True)
    (elsewhere / "0.12.3" / "keep").write_text("mine")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ollama").symlink_to(elsewhere)
    args = {**_args(rel, allowed / "ollama" / "0.12.3"), "allowed_prefixes": [str(allowed)]}
    refused = run_module("release_artifact", args)
    assert refused["failed"] and f"resolves to {elsewhere}/0.12.3" in refused["msg"]
    assert (elsewhere / "0.12.3" / "keep").read_text() == "mine"
    (allowed / "etc").symlink_to("/etc")
    args = {**_args(rel, allowed / "etc"), "allowed_prefixes": [str(allowed)]}
    refused = run_module("release_artifact", args)
    assert refused["failed"] and "resolves to /etc, a system directory" in refused["msg"]


@pytest.mark.parametrize("key", ["url", "checksums_url"])
def test_a_download_that_is_not_https_is_refused(run_module, tmp_path, key):
    dest = tmp_path / "lib" / "x"
    args = {
        "name": "k3s",
        "url": "https://github.com/k3s-io/k3s/releases/download/v1.31.4+k3s1/k3s",
        "checksums_url": "https://github.com/k3s-io/k3s/releases/download/v1.31.4+k3s1/sha256sum-amd64.txt",
        "dest": str(dest),
        "allowed_prefixes": [str(tmp_path)],
        "extract": False,
    }
    args[key] = args[key].replace("https://", "http://")
    refused = run_module("release_artifact", args)
    assert refused["failed"] and refused["msg"].startswith(f'{key} "http://')
    assert "https" in refused["msg"] and not (tmp_path / "lib").exists()


def test_the_default_prefixes_hold_every_destination_the_roles_use():
    """Each role's release_artifact dest (with its default variables) passes the rule."""
    from ansible_collections.homeforge.homelab.plugins.modules import release_artifact as module

    for dest in (
        "/usr/local/lib/k3s/v1.31.4+k3s1",
        "/var/lib/rancher/k3s/agent/images",
        "/usr/local/lib/nodeadm/v1.0.19",
        "/var/lib/homeforge/gateway-api/v1.5.0",
        "/usr/local/lib/ollama/0.12.3",
    ):
        assert module.dest_problem(dest, module.DEFAULT_PREFIXES) is None, dest
    assert module.dest_problem("/usr/local/lib/other", module.DEFAULT_PREFIXES)
    assert module.dest_problem("/usr/local/lib/k3s/", ["/usr/local/lib/k3s"]) is None
