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
import errno
import hashlib
import hmac
import http.client
import io
import json
import os
import re
import secrets
import shutil
import socket
import stat
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
MANIFEST_LIMIT = 4 << 20  # Ollama's manifests are a few KiB


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


# --------------------------------------------------------------------------- paths other users can change
# Root never follows a link another user could have placed. A path is opened one name at a
# time from "/"; a symbolic link is followed only when it is root's and sits in a directory
# only root can change. Files are made with O_EXCL|O_NOFOLLOW beside their final name,
# given their mode and owner through the descriptor, then renamed into place.

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _root_only(st):
    """Only root can add, rename or remove entries in a directory with this stat."""
    return st.st_uid == 0 and (not st.st_mode & 0o022 or bool(st.st_mode & stat.S_ISVTX))


def _open_root():
    fd = os.open("/", DIR_FLAGS)
    return fd, _root_only(os.fstat(fd))


def _walk(path, want_dir=True, make=None, start=None):
    """Open ``path`` as above: ``(dir_fd, name, trusted)``. A directory is ``dir_fd`` itself
    (``name`` None); a file is ``name`` in ``dir_fd`` (it may not exist yet). ``trusted``:
    only root can change ``dir_fd``. ``make``: ``(mode, ids)`` creates missing directories,
    each given to ``ids``. ``start``: ``(fd, trusted)`` a relative ``path`` begins at."""
    if start is None and not path.startswith("/"):
        raise OpError("not an absolute path: %r" % (path,))
    stack = [_open_root() if start is None else (os.dup(start[0]), start[1])]
    names, hops = path.split("/"), 0
    try:
        while True:
            names = [n for n in names if n not in ("", ".")]
            fd, trusted = stack[-1]
            if not names:
                if not want_dir:
                    raise OpError("%s: not a file" % path)
                return stack.pop()[0], None, trusted
            name, names = names[0], names[1:]
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop()[0])
                continue
            last_file = not names and not want_dir
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if last_file:
                    return stack.pop()[0], name, trusted
                if make is None:
                    raise FileNotFoundError(2, "No such file or directory", path) from None
                os.mkdir(name, make[0], dir_fd=fd)
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                if not (trusted and st.st_uid == 0):
                    raise OpError(
                        "%s: %s is a symbolic link in a directory another user can change; "
                        "not followed" % (path, name)
                    )
                hops += 1
                if hops > 40:
                    raise OpError("%s: too many levels of symbolic links" % path)
                target = os.readlink(name, dir_fd=fd)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop()[0])
                    stack.append(_open_root())
                names = target.split("/") + names
                continue
            if last_file:
                return stack.pop()[0], name, trusted
            sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            stack.append((sub, False))
            if st is None:
                if make[1]:
                    os.fchown(sub, *make[1])
                os.fchmod(sub, make[0])
            stack[-1] = (sub, trusted and _root_only(os.fstat(sub)))
    finally:
        for fd, _trusted in stack:
            os.close(fd)


def _open_file(dir_fd, name, trusted, flags=os.O_RDONLY):
    """A regular file ``name`` in ``dir_fd``, never through a link; in a directory another
    user can change, not one with other hard links (it could be any file of the disk)."""
    try:
        fd = os.open(name, flags | FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OpError("%s is a symbolic link; not followed" % name) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_nlink > 1 and not trusted):
        os.close(fd)
        raise OpError("%s: not a regular file with a single link; not used" % name)
    return fd


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace_at(dir_fd, name, data, mode, ids=None):
    """Write ``name`` in ``dir_fd`` whole: a new file (O_EXCL, never through a link) given
    its mode and owner through its descriptor, then renamed over the old one."""
    tmp = ".homeforge-%s.tmp" % os.urandom(8).hex()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        _write_all(fd, data)
        os.fsync(fd)
        if ids:
            os.fchown(fd, *ids)
        os.fchmod(fd, mode)
        os.close(fd)
        fd = None
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def _models(models_dir):
    """The models directory, opened as :func:`_walk` allows: ``(fd, trusted)``."""
    try:
        fd, _name, trusted = _walk(models_dir)
    except FileNotFoundError:
        raise OpError("%s: no such models directory" % models_dir) from None
    return fd, trusted


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


def _blob_name(blob):
    return blob["digest"].replace(":", "-")


def _size_at(dir_fd, name):
    """The size of the regular file ``name`` in ``dir_fd`` (a link is no file), else None."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


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


# --------------------------------------------------------------------------- seeding: source


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
    except (OpError, OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as exc:
        print(json.dumps({"ok": False, "error": str(exc) or type(exc).__name__}))
        return 1
