"""This host's Ollama models: what Ollama lists, a pull's progress, a seeded model fetched.

A host program (see :mod:`homeforge.remote.prelude`; sent with
:mod:`~homeforge.remote.modelfiles`), one operation per call.

Seeding, the target's side: a target fetches an offered model
(:mod:`~homeforge.remote.offerops`) with ``seed_fetch`` into
``MODELS/.homeforge-seed/``, resuming a partial file with a Range request, checks
every blob's sha256 before it moves into ``blobs/``, and writes the manifest last and
atomically, after checking its digest too. Ollama lists a model once its manifest is
there, so it never sees a partial model, and the blobs it would prune at start-up
(unreferenced ones) are in ``blobs/`` only for the moment before their manifest lands.
"""

import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.modelfiles import (
        CHUNK,
        DIGEST,
        MANIFEST_LIMIT,
        _blob_name,
        _manifest_path,
        _models,
        _size_at,
    )
    from homeforge.remote.prelude import OpError, _open_file, _replace_at, _walk, _write_all

SEED_DIR = ".homeforge-seed"


def _listen_address():
    done = subprocess.run(
        ["systemctl", "show", "--property=Environment", "--value", "ollama.service"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=30,
    )
    found = re.findall(r"(?:^|\s)OLLAMA_HOST=(\S+)", done.stdout)
    listen = re.sub(r"^https?://", "", found[-1] if found else "127.0.0.1:11434")
    address, _, port = listen.rpartition(":")
    if address in ("", "0.0.0.0", "[::]"):
        address = "127.0.0.1"
    return "http://%s:%s" % (address, port or "11434")


# homeforge's record of where each model came from (plugins/module_utils/ollama.py
# ORIGINS_FILE, the same format: {"models": {"name:tag": {"digest", "origin", "at"}}})
ORIGINS = "/var/lib/homeforge/ollama/origins.json"


def _origins():
    try:
        with open(ORIGINS) as handle:
            records = json.load(handle).get("models")
    except (OSError, ValueError, AttributeError):
        return {}
    return records if isinstance(records, dict) else {}


def _record_origin(name, digest, origin):
    records = _origins()
    records[name] = {
        "digest": digest,
        "origin": origin,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.makedirs(os.path.dirname(ORIGINS), 0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(ORIGINS), prefix=".origins-")
    with os.fdopen(fd, "w") as handle:
        json.dump({"models": records}, handle, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, ORIGINS)


def ollama_tags():
    """The models Ollama lists (``/api/tags``), asked where the service listens now, each
    with ``origin``: where homeforge's record says it came from, "" when the record has no
    entry for that digest (pulled by hand, or changed since)."""
    url = _listen_address()
    try:
        with urllib.request.urlopen(url + "/api/tags", timeout=20) as response:
            models = json.loads(response.read().decode()).get("models") or []
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OpError("Ollama at %s did not answer /api/tags: %s" % (url, exc)) from None
    records = _origins()
    for model in models:
        record = records.get(model.get("name")) or {}
        same = record.get("digest") == model.get("digest")
        model["origin"] = record.get("origin", "") if same else ""
        model["origin_at"] = record.get("at", "") if same else ""
    return {"url": url, "models": models}


PROGRESS = re.compile(r"/run/homeforge-ollama-pull-[A-Za-z0-9._-]+\.json\Z")


def pull_progress(path, reset=False):
    """The progress the ollama_model module writes during a pull (``{}`` when none yet);
    ``reset`` removes a file an earlier pull left, before a new one starts."""
    if not PROGRESS.match(path):
        raise OpError("not a pull progress file: %r" % path)
    if reset:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return {}
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- seeding: target


def _get(url, token, start=0):
    request = urllib.request.Request(url, headers={"X-Homeforge-Token": token})
    if start:
        request.add_header("Range", "bytes=%d-" % start)
    try:
        return urllib.request.urlopen(request, timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise OpError("%s: %s" % (url, getattr(exc, "reason", exc))) from None


def _sha256_fd(fd):
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    for chunk in iter(lambda: os.read(fd, CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _owner(owner):
    if not owner:
        return None
    import grp
    import pwd

    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(owner).gr_gid
    except KeyError:
        raise OpError("no user/group %r on this host" % owner) from None


def _open_part(staging, part, size):
    """The blob's partial file: kept when it is a regular file with a single link, no
    larger than the blob; anything else there (a link, a FIFO) is removed, not followed,
    and a new file made (O_EXCL)."""
    try:
        st = os.stat(part, dir_fd=staging, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and (not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > size):
        os.unlink(part, dir_fd=staging)
        st = None
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if st is None else 0)
    return _open_file(staging, part, False, flags)


def _receive(response, fd, have, size):
    """Append the response's body at ``have``, never past the declared ``size``: the
    bytes written, and whether the source offered more than that."""
    declared = response.headers.get("Content-Length") or ""
    if declared.isdigit() and int(declared) > size - have:
        return 0, True
    os.lseek(fd, have, os.SEEK_SET)
    got = 0
    while have + got < size:
        chunk = response.read(min(CHUNK, size - have - got))
        if not chunk:
            return got, False
        _write_all(fd, chunk)
        got += len(chunk)
    return got, bool(response.read(1))


def _fetch_blob(url, token, blob, blob_dir, staging, ids):
    """One blob into ``staging`` (``.part``, resumed where an earlier try stopped), its
    digest checked, then renamed into the blobs directory; the bytes transferred."""
    name, size = _blob_name(blob), blob["size"]
    part = name + ".part"
    fd = _open_part(staging, part, size)
    try:
        have, got, more = os.fstat(fd).st_size, 0, False
        if have < size:
            response = _get("%s/blobs/%s" % (url, blob["digest"]), token, have)
            if have and response.status != 206:
                os.ftruncate(fd, 0)
                have = 0
            try:
                got, more = _receive(response, fd, have, size)
            except (http.client.HTTPException, OSError) as exc:
                raise OpError(
                    "blob %s: the transfer broke off after %d bytes (%s); "
                    "run the seed again to resume" % (blob["digest"], os.fstat(fd).st_size, exc)
                ) from None
            if not more and have + got < size:
                raise OpError(
                    "blob %s: the transfer broke off after %d of %d bytes; "
                    "run the seed again to resume" % (blob["digest"], have + got, size)
                )
        if more or _sha256_fd(fd) != blob["digest"].split(":", 1)[1]:
            os.unlink(part, dir_fd=staging)
            why = "more than its declared %d bytes" % size if more else "digest mismatch"
            raise OpError(
                "blob %s: %s; discarded, the model is not installed" % (blob["digest"], why)
            )
        if ids:
            os.fchown(fd, *ids)
        os.fchmod(fd, 0o644)
    finally:
        os.close(fd)
    os.replace(part, name, src_dir_fd=staging, dst_dir_fd=blob_dir)
    return got


def _manifest_from(url, token):
    """The offered manifest, at most MANIFEST_LIMIT bytes (more is refused)."""
    response = _get(url + "/manifest", token)
    try:
        raw = response.read(MANIFEST_LIMIT + 1)
    except (http.client.HTTPException, OSError) as exc:
        raise OpError("%s/manifest: %s" % (url, exc)) from None
    if len(raw) > MANIFEST_LIMIT:
        raise OpError("the offered manifest is larger than %d bytes; refused" % MANIFEST_LIMIT)
    return raw


def _install_manifest(models, manifest_rel, raw, ids):
    """Write the manifest in place, its directories made as the models' owner's; whether
    it changed."""
    directory, name = manifest_rel.rsplit("/", 1)
    dir_fd, _name, trusted = _walk(directory, make=(0o755, ids), start=models)
    try:
        try:
            fd = _open_file(dir_fd, name, trusted)
        except (OpError, OSError):
            old = None
        else:
            with os.fdopen(fd, "rb") as handle:
                old = handle.read(MANIFEST_LIMIT + 1)
        _replace_at(dir_fd, name, raw, 0o644, ids)
    finally:
        os.close(dir_fd)
    return old != raw


def seed_fetch(
    models_dir, url, token, manifest_rel, manifest_digest, blobs, owner="", name="", origin=""
):
    """Fetch an offered model: blobs checked one by one, the manifest last and atomically;
    then ``origin`` ("seeded from HOST") recorded for ``name`` (the name Ollama lists).
    Every write below the models directory (the Ollama user's) goes through :func:`_walk`,
    :func:`_open_file` and :func:`_replace_at`: nothing there is followed as a link."""
    _manifest_path(models_dir, manifest_rel)
    ids = _owner(owner)
    for blob in blobs:
        if not DIGEST.match(blob.get("digest", "")):
            raise OpError("malformed blob digest: %r" % (blob.get("digest"),))
        if not isinstance(blob.get("size"), int) or blob["size"] < 0:
            raise OpError("malformed blob size: %r" % (blob.get("size"),))
    models = _models(models_dir)
    fds = [models[0]]
    try:
        blob_dir = _walk("blobs", make=(0o750, ids), start=models)[0]
        fds.append(blob_dir)
        staging = _walk(SEED_DIR, make=(0o750, ids), start=models)[0]
        fds.append(staging)
        missing = [b for b in blobs if _size_at(blob_dir, _blob_name(b)) != b["size"]]
        need = sum(b["size"] for b in missing)
        free = shutil.disk_usage(models_dir).free
        if need > free:
            raise OpError(
                "not enough free space in %s: the model needs %d more bytes, %d are free; "
                "nothing changed" % (models_dir, need, free)
            )
        transferred = 0
        for blob in missing:
            transferred += _fetch_blob(url, token, blob, blob_dir, staging, ids)
        raw = _manifest_from(url, token)
        if hashlib.sha256(raw).hexdigest() != manifest_digest:
            raise OpError("manifest digest mismatch; the model is not installed")
        changed = _install_manifest(models, manifest_rel, raw, ids)
    finally:
        for fd in fds:
            os.close(fd)
    if name and origin and (changed or missing or name not in _origins()):
        _record_origin(name, manifest_digest, origin)
    return {
        "changed": changed or bool(missing),
        "transferred": transferred,
        "fetched": len(missing),
        "present": len(blobs) - len(missing),
    }


OPS = {fn.__name__: fn for fn in (ollama_tags, pull_progress, seed_fetch)}
