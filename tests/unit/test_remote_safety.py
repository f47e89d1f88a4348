"""The host programs (homeforge.remote.*ops) run as root and write into directories other
users own (Ollama's models, an application's environment file): nothing there may steer
a root write, chown or read through a link, and a seeding source cannot send more than
the model declares. These tests run as root, as the programs do on a host."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from homeforge.remote import envops, modelops, offerops, prelude, stampops

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "ollama"
REL = "manifests/registry.ollama.ai/library/tiny/1b"
SIZE = 300_000
NOBODY = 65534  # the unprivileged owner (Ollama's user, an application's)
SECRET = b"root:$6$secret-hash:19000:0:99999:7:::\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the host programs run as root")


def _chown_tree(path: Path, uid: int = NOBODY) -> None:
    os.chown(path, uid, uid)
    for item in path.rglob("*"):
        os.chown(item, uid, uid, follow_symlinks=False)


@pytest.fixture
def victim(tmp_path):
    """A root file outside every models directory (an /etc/shadow or ld.so.preload)."""
    path = tmp_path / "victim"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def _unchanged(victim: Path) -> bool:
    st = victim.stat()
    return victim.read_bytes() == SECRET and (st.st_uid, st.st_mode & 0o7777) == (0, 0o600)


@pytest.fixture
def source(tmp_path):
    models = tmp_path / "src"
    make = ["make-model", "--root", str(models), "--name", "library/tiny:1b", "--size", str(SIZE)]
    subprocess.run([sys.executable, str(STANDIN), *make], check=True, capture_output=True)
    return models


@pytest.fixture
def offer(source):
    made = offerops.seed_offer(str(source), REL, "127.0.0.1", idle=10)
    yield made
    offerops.seed_stop(made["pid"])


@pytest.fixture
def target(tmp_path, monkeypatch):
    """A models directory the Ollama user (here: nobody) owns, as the role makes it."""
    models = tmp_path / "dst"
    models.mkdir(mode=0o750)
    os.chown(models, NOBODY, NOBODY)
    monkeypatch.setattr(modelops, "_owner", lambda owner: (NOBODY, NOBODY) if owner else None)
    return models


def _fetch(target, offer):
    return modelops.seed_fetch(
        str(target), offer["url"], offer["token"], REL, offer["digest"], offer["blobs"], "ollama"
    )


def _weights(offer) -> str:
    return max(offer["blobs"], key=lambda b: b["size"])["digest"].replace(":", "-")


# --------------------------------------------------------------------------- seed: the target


def test_a_part_file_planted_as_a_link_is_replaced_not_followed(target, offer, victim, source):
    staging = target / ".homeforge-seed"
    staging.mkdir()
    part = staging / f"{_weights(offer)}.part"
    part.symlink_to(victim)
    _chown_tree(target)
    _fetch(target, offer)
    assert _unchanged(victim)
    blob = target / "blobs" / _weights(offer)
    assert blob.read_bytes() == (source / "blobs" / _weights(offer)).read_bytes()
    assert not blob.is_symlink() and blob.stat().st_uid == NOBODY


def test_a_part_file_planted_as_a_hard_link_is_not_written_through(target, offer, victim):
    staging = target / ".homeforge-seed"
    staging.mkdir()
    _chown_tree(target)
    os.link(victim, staging / f"{_weights(offer)}.part")  # the victim's inode, left root's
    _fetch(target, offer)
    assert _unchanged(victim)


@pytest.mark.parametrize("planted", ["blobs", ".homeforge-seed", "manifests"])
def test_a_directory_planted_as_a_link_is_refused(target, offer, tmp_path, planted):
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir(mode=0o755)
    (target / planted).symlink_to(elsewhere)
    _chown_tree(target)
    with pytest.raises(modelops.OpError, match=r"symbolic link .* not followed"):
        _fetch(target, offer)
    assert not list(elsewhere.iterdir()) and elsewhere.stat().st_uid == 0
    assert not (target / REL).exists()


def test_a_manifest_written_into_a_models_directory_of_another_user_is_theirs(target, offer):
    _chown_tree(target)
    _fetch(target, offer)
    made = [p for p in target.rglob("*")]
    assert (target / REL).is_file() and all(p.stat().st_uid == NOBODY for p in made)


class Endless:
    """A response that never ends (a hostile or broken source); counts what was read."""

    def __init__(self, length: int | None = None, total: int = 64 << 20):
        self.status, self.left, self.read_bytes = 200, total, 0
        self.headers = {"Content-Length": str(length)} if length is not None else {}

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        self.read_bytes += n
        return b"x" * n


def test_a_blob_stream_longer_than_declared_is_refused_at_the_declared_size(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    blob = {"digest": "sha256:" + hashlib.sha256(b"x" * 10).hexdigest(), "size": 10}
    stream = Endless()
    monkeypatch.setattr(modelops, "_get", lambda url, token, start=0: stream)
    with pytest.raises(modelops.OpError, match="more than its declared 10 bytes"):
        modelops.seed_fetch(str(models), "http://src", "t", REL, "0" * 64, [blob])
    assert stream.read_bytes <= 11
    staged = list((models / ".homeforge-seed").iterdir())
    assert not staged and not list((models / "blobs").iterdir())
    declared = Endless(length=64 << 20)  # says so up front: nothing is written at all
    monkeypatch.setattr(modelops, "_get", lambda url, token, start=0: declared)
    with pytest.raises(modelops.OpError, match="more than its declared 10 bytes"):
        modelops.seed_fetch(str(models), "http://src", "t", REL, "0" * 64, [blob])
    assert declared.read_bytes == 0


def test_a_stream_that_ends_early_keeps_what_arrived_for_the_next_try(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    data = b"y" * 10
    blob = {"digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": 10}
    monkeypatch.setattr(modelops, "_get", lambda url, token, start=0: Endless(total=4))
    with pytest.raises(modelops.OpError, match="broke off after 4 of 10 bytes"):
        modelops.seed_fetch(str(models), "http://src", "t", REL, "0" * 64, [blob])
    [part] = (models / ".homeforge-seed").iterdir()
    assert part.read_bytes() == b"x" * 4


def test_a_manifest_stream_is_read_only_up_to_a_limit(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    stream = Endless()
    monkeypatch.setattr(modelops, "_get", lambda url, token, start=0: stream)
    with pytest.raises(modelops.OpError, match="larger than"):
        modelops.seed_fetch(str(models), "http://src", "t", REL, "0" * 64, [])
    assert stream.read_bytes <= modelops.MANIFEST_LIMIT + 1 < 64 << 20
    assert not (models / REL).exists()


# --------------------------------------------------------------------------- seed: the source


def _plant_config_link(source: Path, victim: Path) -> str:
    """Replace the model's config blob with a link to the victim (made the same size)."""
    config = json.loads((source / REL).read_text())["config"]
    name = config["digest"].replace(":", "-")
    victim.write_bytes(SECRET[:1] * config["size"])
    victim.chmod(0o600)
    (source / "blobs" / name).unlink()
    (source / "blobs" / name).symlink_to(victim)
    return config["digest"]


def test_the_source_refuses_to_offer_a_blob_that_is_a_link(source, victim):
    _chown_tree(source)
    _plant_config_link(source, victim)
    with pytest.raises(modelops.OpError, match="missing or incomplete"):
        offerops.seed_offer(str(source), REL, "127.0.0.1", idle=3)


def test_the_seed_server_does_not_send_a_blob_swapped_for_a_link(source, victim):
    _chown_tree(source)
    offer = offerops.seed_offer(str(source), REL, "127.0.0.1", idle=10)
    try:
        digest = _plant_config_link(source, victim)  # after the offer, before the fetch
        request = urllib.request.Request(
            f"{offer['url']}/blobs/{digest}", headers={"X-Homeforge-Token": offer["token"]}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10).read()
        assert refused.value.code == 404
    finally:
        offerops.seed_stop(offer["pid"])


def test_a_timeout_on_the_host_is_a_clean_error(monkeypatch, capsys):
    def slow():
        raise subprocess.TimeoutExpired(["systemctl", "show"], 30)

    monkeypatch.setitem(modelops.OPS, "ollama_tags", slow)
    assert prelude.serve({"op": "ollama_tags", "args": {}}, modelops.OPS) == 1
    reply = json.loads(capsys.readouterr().out)
    assert not reply["ok"] and "timed out" in reply["error"]


# --------------------------------------------------------------------------- envops


@pytest.fixture
def app_dir(tmp_path):
    """An application's own directory, where its environment file lives."""
    path = tmp_path / "app"
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    return path


def test_an_env_file_planted_as_a_link_by_its_directory_owner_is_not_followed(app_dir, victim):
    victim.write_bytes(b"URL=http://old:1\n")
    victim.chmod(0o600)
    (app_dir / "app.env").symlink_to(victim)
    os.chown(app_dir / "app.env", NOBODY, NOBODY, follow_symlinks=False)
    with pytest.raises(envops.OpError, match=r"symbolic link .* not followed"):
        envops.env_write(str(app_dir / "app.env"), {"URL": "http://new:2"})
    with pytest.raises(envops.OpError, match=r"symbolic link .* not followed"):
        envops.env_read(str(app_dir / "app.env"), ["URL"])
    assert victim.read_bytes() == b"URL=http://old:1\n" and victim.stat().st_uid == 0


def test_a_directory_planted_as_a_link_below_an_env_file_is_not_followed(app_dir, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "app.env").write_text("URL=http://old:1\n")
    (app_dir / "conf").symlink_to(etc)
    with pytest.raises(envops.OpError, match=r"symbolic link .* not followed"):
        envops.env_write(str(app_dir / "conf" / "app.env"), {"URL": "http://new:2"})
    assert (etc / "app.env").read_text() == "URL=http://old:1\n"


def test_an_env_file_in_its_owners_directory_is_rewritten_in_place_keeping_its_owner(app_dir):
    env = app_dir / "app.env"
    env.write_text("URL=http://old:1\n")
    os.chown(env, NOBODY, NOBODY)
    env.chmod(0o640)
    assert envops.env_write(str(env), {"URL": "http://new:2"})["changed"]
    st = env.stat()
    assert env.read_text() == "URL=http://new:2\n" and not env.is_symlink()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, 0o640)
    assert [p.name for p in app_dir.iterdir()] == ["app.env"]  # no temporary file left


# --------------------------------------------------------------------------- stampops


def test_a_watched_file_swapped_for_a_link_after_its_lstat_is_not_read(
    tmp_path, victim, monkeypatch
):
    managed = tmp_path / "managed.conf"
    managed.write_text("a=1\n")
    before = os.lstat(managed)
    managed.unlink()
    managed.symlink_to(victim)  # the swap lands between the lstat and the open
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p: before if str(p) == str(managed) else real_lstat(p))
    state = stampops._file_state(str(managed))
    assert hashlib.sha256(SECRET).hexdigest() not in state
