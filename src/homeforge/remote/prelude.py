"""The start of every host program: the dispatch, the errors and the safe-path primitives.

homeforge's host programs (the ``*ops`` modules of :mod:`homeforge.remote`) run on the
hosts with their own python3, one operation per call. :class:`homeforge.remote.Remote`
sends a program as one text (:func:`homeforge.remote.program_text`): this prelude, the
shared parts the program builds on, then the program. The request travels on stdin
ahead of that text, and the host runs it with ``python3 -c BOOTSTRAP``, so neither
appears in ``ps`` or in sudo's log. Every part therefore uses the standard library only,
keeps to Python 3.7 syntax and has no ``from __future__`` import (it would stand in the
middle of the text).

On the host the parts share one namespace, so a program never defines a name the
prelude defines. On the controller (and in the tests) each program imports the names
it uses from here, in a block the host skips: ``if __name__ != "homeforge_program":``
(BOOTSTRAP runs the text under that name).

Each operation takes keyword arguments from the JSON request and returns a JSON-able
dict; the process prints ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
"..."}`` and nothing else (:func:`serve`).

Every write is idempotent (writing the value a file already has changes nothing and
says so) and atomic (a temporary file in the same directory, then rename), so a
consumer reading its environment file never sees half of it, and replaying a journal
after an interruption is safe. No read or write follows a link that another user could
have placed (an environment file in an application's own directory, Ollama's models):
see :func:`_walk`.
"""

import contextlib
import errno
import json
import os
import re
import stat
import subprocess

# How a host runs a program sent on stdin (homeforge.remote.BOOTSTRAP is this text): the
# request (first line), then the program, which keeps its own text in ``__source__`` so it
# can start itself again (the seed server).
BOOTSTRAP = (
    "import sys,json;r=json.loads(sys.stdin.readline());s=sys.stdin.read();"
    "g={'__name__':'homeforge_program','__source__':s};"
    "exec(compile(s,'homeforge-program','exec'),g);sys.exit(g['serve'](r))"
)


class OpError(Exception):
    pass


def serve(request, ops=None):
    """Run one request ``{"op": NAME, "args": {...}}``; print one JSON line; the exit code.

    ``ops``: the operations by name; by default the program's ``OPS`` (on a host the
    program's text follows this one, in the same namespace)."""
    try:
        table = globals()["OPS"] if ops is None else ops
        result = table[request["op"]](**request.get("args", {}))
        print(json.dumps({"ok": True, "result": result}))
        return 0
    except (OpError, OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as exc:
        print(json.dumps({"ok": False, "error": str(exc) or type(exc).__name__}))
        return 1


def _run(args, timeout=60, check=True):
    done = subprocess.run(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise OpError(
            "%s: exit %d%s" % (" ".join(args), done.returncode, ": " + detail[-1] if detail else "")
        )
    return done


def _one_line(value):
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise OpError("refusing a value with a control character (newline, tab, ...): %r" % value)


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


def _atomic_write(path, text, mode=0o644, keep=False):
    """Write text to path via a temporary file and rename (see above); ``keep``: the old
    file's mode and owner. A link root placed stays a link: its target is replaced."""
    dir_fd, name, trusted = _walk(path, want_dir=False)
    try:
        ids = None
        if keep:
            try:
                fd = _open_file(dir_fd, name, trusted)
            except FileNotFoundError:
                fd = None
            if fd is not None:
                st = os.fstat(fd)
                os.close(fd)
                mode, ids = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
        _replace_at(dir_fd, name, text.encode("utf-8", "surrogateescape"), mode, ids)
    finally:
        os.close(dir_fd)


def _read(path):
    """A file's text, opened as :func:`_walk` allows; None when there is none."""
    try:
        dir_fd, name, trusted = _walk(path, want_dir=False)
    except FileNotFoundError:
        return None
    try:
        fd = _open_file(dir_fd, name, trusted)
    except FileNotFoundError:
        return None
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")
