"""Seeding, the source's side: a model on this host offered to others for a while.

A host program (see :mod:`homeforge.remote.prelude`; sent with
:mod:`~homeforge.remote.modelfiles`). Seeding moves a model host to host, never through
the controller: the source serves the model's manifest and blobs over HTTP for a while
(``seed_offer`` starts ``seed_server`` in the background, bound to one address,
answering only requests that carry the offer's token, and only for that model's files);
each target fetches them (:func:`homeforge.remote.modelops.seed_fetch`). Every file
served is opened as :func:`_walk` allows: the models directory is the Ollama user's.
"""

import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time

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
    from homeforge.remote.prelude import BOOTSTRAP, OpError, _open_file, _walk


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


def _read_below(start, rel, limit):
    """The file ``rel`` below ``start`` (``(fd, trusted)``), at most ``limit`` bytes."""
    dir_fd, name, trusted = _walk(rel, want_dir=False, start=start)
    try:
        fd = _open_file(dir_fd, name, trusted)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OpError("%s: larger than %d bytes; refused" % (rel, limit))
    return data


def _own_text():
    """This program's whole text, to start the seed server with: as sent (BOOTSTRAP keeps
    it in ``__source__``), or, imported on the controller, the text homeforge sends."""
    sent = globals().get("__source__")
    if sent:
        return sent
    from homeforge.remote import program_text

    return program_text(sys.modules[__name__])


def _offered(models_dir, manifest_rel):
    """The model's manifest (read as :func:`_walk` allows), its blobs, and the blobs
    directory ``(fd, trusted)``; refused when a blob is not a regular file of its size."""
    _manifest_path(models_dir, manifest_rel)
    models = _models(models_dir)
    try:
        try:
            raw = _read_below(models, manifest_rel, MANIFEST_LIMIT)
        except FileNotFoundError:
            raise OpError("%s: no such model here" % manifest_rel) from None
        blobs = _blobs_of(raw)
        blob_dir = _walk("blobs", start=models)
    finally:
        os.close(models[0])
    for blob in blobs:
        if _size_at(blob_dir[0], _blob_name(blob)) != blob["size"]:
            os.close(blob_dir[0])
            raise OpError(
                "%s: blob %s is missing or incomplete here" % (manifest_rel, blob["digest"])
            )
    return raw, blobs, (blob_dir[0], blob_dir[2])


def seed_offer(models_dir, manifest_rel, listen, idle=300):
    """Serve one model's files from this host for a while; the URL, token and file list."""
    raw, blobs, blob_dir = _offered(models_dir, manifest_rel)
    os.close(blob_dir[0])
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
    child.stdin.write(json.dumps(request) + "\n" + _own_text())
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

    raw, blobs, blob_dir = _offered(models_dir, manifest_rel)
    files = {"/manifest": None}
    files.update(("/blobs/" + blob["digest"], _blob_name(blob)) for blob in blobs)
    last = [time.time()]

    def open_served(name):
        """The manifest as read at the start, or a blob opened now, never through a
        link (the models directory is the Ollama user's): ``(file, size)``."""
        if name is None:
            return io.BytesIO(raw), len(raw)
        handle = os.fdopen(_open_file(blob_dir[0], name, blob_dir[1]), "rb")
        return handle, os.fstat(handle.fileno()).st_size

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            last[0] = time.time()
            given = self.headers.get("X-Homeforge-Token", "")
            known = self.path in files
            allowed = known and hmac.compare_digest(given, token)
            opened = None
            if allowed:
                with contextlib.suppress(OpError, OSError):
                    opened = open_served(files[self.path])
            if opened is None:
                self.send_response(403 if known and not allowed else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            handle, size = opened
            ranged = re.match(r"bytes=(\d+)-\Z", self.headers.get("Range", ""))
            start = min(int(ranged.group(1)), size) if ranged else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            with handle:
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
        with open("/proc/%d/cmdline" % int(pid), "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return {"stopped": False}
    if b"homeforge-program" not in cmdline:
        raise OpError("process %d is not a homeforge seed server" % int(pid))
    os.kill(int(pid), 15)
    return {"stopped": True}


OPS = {fn.__name__: fn for fn in (seed_offer, seed_server, seed_stop)}
