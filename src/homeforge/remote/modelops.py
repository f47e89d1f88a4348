"""Model operations homeforge runs on Ollama hosts (see :class:`homeforge.remote.Remote`).

Like :mod:`homeforge.remote.hostops` this file is sent whole over SSH and runs with
the host's own python3 (standard library, Python 3.7 syntax), one operation per call.

Seeding moves a model host to host, never through the controller: the source host
serves the model's manifest and blobs over HTTP for a while (``seed_offer`` starts
``seed_server`` in the background, bound to one address, answering only requests
that carry the offer's token, and only for that model's files); each target fetches
them (``seed_fetch``) into ``MODELS/.homeforge-seed/``, resuming a partial file with
a Range request, checks every blob's sha256 before it moves into ``blobs/``, and
writes the manifest last and atomically, after checking its digest too. Ollama lists
a model once its manifest is there, so it never sees a partial model, and the
blobs it would prune at start-up (unreferenced ones) are in ``blobs/`` only for the
moment before their manifest lands.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHUNK = 1 << 20
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
MANIFEST_REL = re.compile(
    r"manifests/[A-Za-z0-9.:_-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+\Z"
)
SEED_DIR = ".homeforge-seed"


class OpError(Exception):
    pass


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def _manifest_path(models_dir, manifest_rel):
    if not MANIFEST_REL.match(manifest_rel or "") or ".." in manifest_rel.split("/"):
        raise OpError("not a manifest path: %r" % (manifest_rel,))
    if not os.path.isabs(models_dir or ""):
        raise OpError("not an absolute models directory: %r" % (models_dir,))
    return os.path.join(models_dir, manifest_rel)


def _blobs_of(raw):
    manifest = json.loads(raw)
    layers = [*(manifest.get("layers") or []), manifest.get("config") or {}]
    blobs = []
    for layer in layers:
        digest, size = layer.get("digest", ""), layer.get("size")
        if not DIGEST.match(digest) or not isinstance(size, int) or size < 0:
            raise OpError("manifest lists a malformed layer: %r" % (layer,))
        blobs.append({"digest": digest, "size": size})
    return blobs


def _listen_address():
    done = subprocess.run(
        ["systemctl", "show", "--property=Environment", "--value", "ollama.service"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


# --------------------------------------------------------------------------- seeding: source


def seed_offer(models_dir, manifest_rel, listen, idle=300):
    """Serve one model's files from this host for a while; the URL, token and file list."""
    path = _manifest_path(models_dir, manifest_rel)
    try:
        raw = _read(path)
    except OSError:
        raise OpError("%s: no such model here" % manifest_rel) from None
    blobs = _blobs_of(raw)
    for blob in blobs:
        have = os.path.join(models_dir, "blobs", blob["digest"].replace(":", "-"))
        if not os.path.isfile(have) or os.path.getsize(have) != blob["size"]:
            raise OpError(
                "%s: blob %s is missing or incomplete here" % (manifest_rel, blob["digest"])
            )
    with socket.socket(socket.AF_INET6 if ":" in listen else socket.AF_INET) as probe:
        probe.bind((listen, 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    request = {
        "op": "seed_server",
        "args": {
            "models_dir": models_dir,
            "manifest_rel": manifest_rel,
            "listen": listen,
            "port": port,
            "token": token,
            "idle": int(idle),
        },
    }
    child = subprocess.Popen(
        [sys.executable, "-c", BOOTSTRAP],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        universal_newlines=True,
    )
    source = globals().get("__source__") or _read(__file__).decode()  # sent, or this file
    child.stdin.write(json.dumps(request) + "\n" + source)
    child.stdin.close()
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection((listen, port), timeout=0.5).close()
            break
        except OSError:
            if time.time() > deadline or child.poll() is not None:
                raise OpError("the seed server did not start on %s:%d" % (listen, port)) from None
            time.sleep(0.05)
    host = "[%s]" % listen if ":" in listen else listen
    return {
        "url": "http://%s:%d" % (host, port),
        "token": token,
        "pid": child.pid,
        "digest": hashlib.sha256(raw).hexdigest(),
        "blobs": blobs,
        "size": sum(b["size"] for b in blobs),
    }


def seed_server(models_dir, manifest_rel, listen, port, token, idle):
    """The HTTP side of an offer (runs detached; exits after ``idle`` quiet seconds)."""
    import http.server
    import socketserver
    import threading

    path = _manifest_path(models_dir, manifest_rel)
    raw = _read(path)
    files = {"/manifest": path}
    for blob in _blobs_of(raw):
        files["/blobs/" + blob["digest"]] = os.path.join(
            models_dir, "blobs", blob["digest"].replace(":", "-")
        )
    last = [time.time()]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            last[0] = time.time()
            given = self.headers.get("X-Homeforge-Token", "")
            target = files.get(self.path)
            if not hmac.compare_digest(given, token) or target is None:
                self.send_response(403 if target else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = os.path.getsize(target)
            ranged = re.match(r"bytes=(\d+)-\Z", self.headers.get("Range", ""))
            start = min(int(ranged.group(1)), size) if ranged else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            with open(target, "rb") as handle:
                handle.seek(start)
                with contextlib.suppress(OSError):  # the client went away
                    shutil.copyfileobj(handle, self.wfile, CHUNK)
            last[0] = time.time()

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in listen else socket.AF_INET

    server = Server((listen, int(port)), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    while time.time() - last[0] < idle:
        time.sleep(1)
    server.shutdown()
    return {"stopped": True}


def seed_stop(pid):
    """End an offer's server early (it also ends by itself when idle)."""
    try:
        cmdline = _read("/proc/%d/cmdline" % int(pid))
    except OSError:
        return {"stopped": False}
    if b"homeforge-program" not in cmdline:
        raise OpError("process %d is not a homeforge seed server" % int(pid))
    os.kill(int(pid), 15)
    return {"stopped": True}


# --------------------------------------------------------------------------- seeding: target


def _get(url, token, start=0):
    request = urllib.request.Request(url, headers={"X-Homeforge-Token": token})
    if start:
        request.add_header("Range", "bytes=%d-" % start)
    try:
        return urllib.request.urlopen(request, timeout=60)
    except (urllib.error.URLError, OSError) as exc:
        raise OpError("%s: %s" % (url, getattr(exc, "reason", exc))) from None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
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


def _fetch_blob(url, token, blob, final, staging, ids):
    part = os.path.join(staging, blob["digest"].replace(":", "-") + ".part")
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if have > blob["size"]:
        os.unlink(part)
        have = 0
    got = 0
    if have < blob["size"]:
        response = _get("%s/blobs/%s" % (url, blob["digest"]), token, have)
        if have and response.status != 206:
            have = 0
        with open(part, "ab" if have else "wb") as handle:
            try:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    handle.write(chunk)
                    got += len(chunk)
            except (http.client.HTTPException, OSError) as exc:
                raise OpError(
                    "blob %s: the transfer broke off after %d bytes (%s); "
                    "run the seed again to resume" % (blob["digest"], have + got, exc)
                ) from None
    if _sha256(part) != blob["digest"].split(":", 1)[1]:
        os.unlink(part)
        raise OpError(
            "blob %s: digest mismatch; discarded, the model is not installed" % blob["digest"]
        )
    if ids:
        os.chown(part, *ids)
    os.chmod(part, 0o644)
    os.replace(part, final)
    return got


def _make_dirs(directory, top, ids):
    """Create ``directory`` below ``top``, each new level owned like the models (Ollama
    must be able to delete a model it did not pull)."""
    missing = []
    while not os.path.isdir(directory) and directory != top:
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        if ids:
            os.chown(path, *ids)


def seed_fetch(
    models_dir, url, token, manifest_rel, manifest_digest, blobs, owner="", name="", origin=""
):
    """Fetch an offered model: blobs checked one by one, the manifest last and atomically;
    then ``origin`` ("seeded from HOST") recorded for ``name`` (the name Ollama lists)."""
    path = _manifest_path(models_dir, manifest_rel)
    ids = _owner(owner)
    blob_dir = os.path.join(models_dir, "blobs")
    staging = os.path.join(models_dir, SEED_DIR)
    for directory in (blob_dir, staging):
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
            if ids:
                os.chown(directory, *ids)
    missing = []
    for blob in blobs:
        if not DIGEST.match(blob.get("digest", "")):
            raise OpError("malformed blob digest: %r" % (blob.get("digest"),))
        final = os.path.join(blob_dir, blob["digest"].replace(":", "-"))
        if not (os.path.isfile(final) and os.path.getsize(final) == blob["size"]):
            missing.append((blob, final))
    need = sum(b["size"] for b, _ in missing)
    free = shutil.disk_usage(models_dir).free
    if need > free:
        raise OpError(
            "not enough free space in %s: the model needs %d more bytes, %d are free; nothing changed"
            % (models_dir, need, free)
        )
    transferred = 0
    for blob, final in missing:
        transferred += _fetch_blob(url, token, blob, final, staging, ids)
    raw = _get(url + "/manifest", token).read()
    if hashlib.sha256(raw).hexdigest() != manifest_digest:
        raise OpError("manifest digest mismatch; the model is not installed")
    directory = os.path.dirname(path)
    _make_dirs(directory, models_dir, ids)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".homeforge-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    if ids:
        os.chown(tmp, *ids)
    changed = not (os.path.isfile(path) and _read(path) == raw)
    os.replace(tmp, path)
    if name and origin and (changed or missing or name not in _origins()):
        _record_origin(name, manifest_digest, origin)
    return {
        "changed": changed or bool(missing),
        "transferred": transferred,
        "fetched": len(missing),
        "present": len(blobs) - len(missing),
    }


OPS = {
    fn.__name__: fn
    for fn in (ollama_tags, pull_progress, seed_offer, seed_server, seed_stop, seed_fetch)
}

# How a host runs a program sent on stdin (homeforge.remote.BOOTSTRAP is this text): the
# request (first line), then the program, which keeps its own source in ``__source__``
# so it can start itself again (the seed server).
BOOTSTRAP = (
    "import sys,json;r=json.loads(sys.stdin.readline());s=sys.stdin.read();"
    "g={'__name__':'homeforge_program','__source__':s};"
    "exec(compile(s,'homeforge-program','exec'),g);sys.exit(g['serve'](r))"
)


def serve(request):
    """Run one request ``{"op": NAME, "args": {...}}``; print one JSON line; the exit code."""
    try:
        result = OPS[request["op"]](**request.get("args", {}))
        print(json.dumps({"ok": True, "result": result}))
        return 0
    except (OpError, OSError, ValueError, KeyError, TypeError) as exc:
        print(json.dumps({"ok": False, "error": str(exc) or type(exc).__name__}))
        return 1
