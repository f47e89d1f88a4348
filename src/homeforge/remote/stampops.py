"""Converge stamps: what a clean converge left on a host, and whether it is still there.

A host program (see :mod:`homeforge.remote.prelude`; sent with
:mod:`~homeforge.remote.stampwatch`, which observes each kind of item), one operation
per call. After a host converges cleanly, homeforge writes a **stamp** here: the digest
of the run's inputs (computed on the controller) and the **watch list** of what the run
manages, each item with the digest observed right after the run. ``apply`` later sends
only the new inputs digest; :func:`stamp_check` recomputes every watched digest in one
pass and answers "unchanged" or why not.

Stamps live in ``/var/lib/homeforge/stamps`` (0700, files 0600, root's); nothing a
digest was computed from is returned. Every ``apply`` on a host removes its stamps first
(:func:`stamp_clear`), so a run that fails or is killed leaves none: the next ``apply``
converges that host in full.
"""

import hashlib
import json
import os
import stat
import subprocess
import tempfile
import time

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError
    from homeforge.remote.stampwatch import _file_state, _sha, _unit_props, observe

STAMP_DIR = "/var/lib/homeforge/stamps"
FORMAT = 1
SHOWN = 3  # drifted items named in a reason


def describe(item):
    """An item as people read it: ``file /etc/hosts``, ``unit ollama.service``."""
    kind = item.get("kind")
    if kind in ("file", "tree"):
        return "%s %s" % (kind, item["path"])
    if kind == "chain":
        rules = " (rules '%s')" % item["comment"] if item.get("comment") else ""
        return "firewall chain %s %s/%s%s" % (
            item.get("family", "ipv4"),
            item["table"],
            item["chain"],
            rules,
        )
    if kind == "wireguard":
        return "WireGuard peers of %s" % item["iface"]
    if kind == "account":
        return "%s entry %s" % ("group" if item.get("db") == "group" else "user", item["name"])
    if kind in ("host", "hostname"):
        return {"host": "kernel, distribution or address", "hostname": "host name"}[kind]
    if kind == "gpus":
        return "NVIDIA GPUs or their driver"
    if kind == "ollama_model":
        return "Ollama model %s" % item["name"]
    if kind == "local":
        return "controller file %s" % item["path"]
    return "%s %s" % (kind, item.get("name") or item.get("key") or "?")


def local_digest(path):
    """A controller file's digest (the controller computes it with this same code)."""
    return _sha(_file_state(path))


# ------------------------------------------------------------------ stamps


def _stamp_path(playbook):
    if not playbook or "/" in playbook or playbook.startswith("."):
        raise OpError("bad playbook name %r" % (playbook,))
    return os.path.join(STAMP_DIR, playbook + ".json")


def stamp_clear():
    """Remove every stamp of this host (done before any run on it)."""
    removed = []
    if os.path.isdir(STAMP_DIR):
        for name in sorted(os.listdir(STAMP_DIR)):
            os.unlink(os.path.join(STAMP_DIR, name))
            removed.append(name)
    return {"removed": removed}


RUNNING = ("active", "activating", "reloading")


def _unmet(watch):
    """The first unit that is not as the run's last task on it asked (started, stopped,
    enabled, disabled): a service that died after its restart must not be recorded as
    converged, or every later probe would find it "unchanged"."""
    wanted = [i for i in watch if i.get("kind") == "unit" and ("active" in i or "enabled" in i)]
    found = _unit_props([i["name"] for i in wanted])
    for item in wanted:
        if item["name"] not in found:
            return "unit %s: systemd does not answer for it" % item["name"]
        enabled = found[item["name"]].get("UnitFileState", "")
        active = found[item["name"]].get("ActiveState", "")
        if item.get("active") is True and active not in RUNNING:
            return "unit %s is %s after the run, which started it" % (item["name"], active)
        if item.get("active") is False and active in RUNNING:
            return "unit %s is %s after the run, which stopped it" % (item["name"], active)
        if item.get("enabled") is True and enabled in ("disabled", "masked"):
            return "unit %s is %s after the run, which enabled it" % (item["name"], enabled)
        if item.get("enabled") is False and enabled == "enabled":
            return "unit %s is enabled after the run, which disabled it" % item["name"]
    return None


def _file_differs(item):
    """How a file differs from what the run's last task on it reported (its content's
    SHA-1, mode, owner, or that it removed it), or None."""
    path = item["path"]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None if item.get("want_absent") else "file %s: gone, the run wrote it" % path
    if item.get("want_absent"):
        return "file %s: there, the run removed it" % path
    if stat.S_ISLNK(st.st_mode):  # the modules wrote through it: its target's content counts
        return _content_differs(path, item.get("want_sha1"))
    mode = stat.S_IMODE(st.st_mode)
    if "want_mode" in item and mode != int(str(item["want_mode"]), 8):
        return "file %s: mode %04o, the run left %s" % (path, mode, item["want_mode"])
    for key, have in (("want_uid", st.st_uid), ("want_gid", st.st_gid)):
        if key in item and have != int(item[key]):
            return "file %s: %s %d, the run left %s" % (path, key[5:], have, item[key])
    return _content_differs(path, item.get("want_sha1")) if stat.S_ISREG(st.st_mode) else None


def _content_differs(path, want_sha1):
    if not want_sha1:
        return None
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return "file %s: unreadable (%s)" % (path, exc.strerror or exc)
    if digest.hexdigest() != want_sha1:
        return "file %s: other content than the run wrote" % path
    return None


def _edited_during_the_run(watch):
    """The first file that is not as the run's last task on it reported: edited by hand,
    a hook or another controller while the run went on. Stamping it would record that
    edit as the converged state."""
    for item in watch:
        if item.get("kind") == "file" and any(k.startswith("want_") for k in item):
            problem = _file_differs(item)
            if problem:
                return problem + " (changed during the run)"
    return None


def _unrepaired(drifted):
    """A line naming the drifted items the converge left as the probe found them: still
    not as the last stamp recorded, and not made anew either (a role that regenerates a
    lost key makes a new one, which is a repair)."""
    if not drifted:
        return None
    now = observe(drifted)
    still = [
        describe(item)
        for item, d in zip(drifted, now)
        if d != item.get("digest") and d == item.get("found")
    ]
    if not still:
        return None
    return "%s drifted and the converge did not bring it back (no role repairs it)" % ", ".join(
        still[:SHOWN]
    )


def _kept_changed(kept):
    """The first item a targeted converge kept from the last stamp (a role it did not run
    manages it) that is no longer as recorded: it changed while the run went on."""
    for item, d in zip(kept, observe(kept)):
        if d != item.get("digest"):
            return "%s changed during the run (its role did not run)" % describe(item)
    return None


def stamp_write(playbook, inputs, watch, eligible=True, reason="", drifted=(), kept=()):
    """Record a clean converge: the inputs' digests (one per part, from the controller) and
    each watched item's digest now. Refused (OpError) when a unit is not as the run asked,
    a file not as the task that wrote it last reported it, when an item whose drift
    caused this converge (``drifted``, with the digest the last stamp recorded) did not
    come back (the roles do not repair it, and stamping the host would forget the drift),
    or when an item a targeted converge keeps from the last stamp (``kept``, with its
    recorded digest) changed."""
    kept = [dict(item) for item in kept]
    if eligible:
        unmet = (
            _unmet(watch)
            or _edited_during_the_run(watch)
            or _unrepaired(drifted)
            or _kept_changed(kept)
        )
        if unmet:
            raise OpError(unmet)
    # a controller file's digest is the controller's; every other item is observed now
    watch = list(watch) + [
        {k: v for k, v in i.items() if k != "digest" or i.get("kind") == "local"} for i in kept
    ]
    digests = observe(watch) if eligible else []
    stamp = {
        "format": FORMAT,
        "playbook": playbook,
        "inputs": inputs,
        "eligible": bool(eligible),
        "reason": reason,
        "written": int(time.time()),
        "watch": [dict(item, digest=d) for item, d in zip(watch, digests)],
    }
    os.makedirs(STAMP_DIR, mode=0o700, exist_ok=True)
    os.chmod(STAMP_DIR, 0o700)
    fd, tmp = tempfile.mkstemp(dir=STAMP_DIR, prefix=".stamp-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(stamp, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.rename(tmp, _stamp_path(playbook))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {"items": len(stamp["watch"]), "eligible": stamp["eligible"]}


def _read_stamp(playbook):
    """``(stamp, "")``, ``(None, "")`` when there is none, or ``(None, why)`` when the file
    cannot be trusted: a link, not root's, writable by others (or in such a directory), or
    without what every stamp has (the host item, a digest per item). Such a stamp would let
    whoever wrote it declare the host converged."""
    try:
        fd = os.open(_stamp_path(playbook), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, "stamp not trusted: %s" % (exc.strerror or exc)
    with os.fdopen(fd) as handle:
        st, parent = os.fstat(handle.fileno()), os.stat(STAMP_DIR)
        for what, info in (("stamp", st), ("stamp directory", parent)):
            if info.st_uid != 0 or info.st_mode & 0o022:
                return None, "%s not trusted: not root's, or writable by others" % what
        if not stat.S_ISREG(st.st_mode):
            return None, "stamp not trusted: not a regular file"
        try:
            stamp = json.load(handle)
        except ValueError:
            return None, "stamp not trusted: not JSON"
    watch = stamp.get("watch") if isinstance(stamp, dict) else None
    if not isinstance(watch, list) or not all(isinstance(i, dict) for i in watch):
        return None, "stamp not trusted: no watch list"
    if stamp.get("eligible") and (
        not any(i.get("kind") == "host" for i in watch) or not all("digest" in i for i in watch)
    ):
        return None, "stamp not trusted: it lacks what every stamp has (the host item, digests)"
    return stamp, ""


def stamp_check(playbook, inputs, clear=True):
    """``unchanged`` when this host's stamp has these inputs and every watched digest
    still matches; otherwise why not (``never``, ``ineligible``, ``inputs``, ``drift``),
    and with ``clear`` every stamp is removed, since a run on this host follows."""
    stamp, untrusted = _read_stamp(playbook)
    if untrusted:
        outcome, detail = "never", untrusted
    elif stamp is None or stamp.get("format") != FORMAT:
        outcome, detail = "never", "no stamp of a clean converge"
    elif not stamp.get("eligible"):
        outcome, detail = "ineligible", stamp.get("reason") or "not eligible"
    elif stamp.get("inputs") != inputs:
        before = stamp.get("inputs") if isinstance(stamp.get("inputs"), dict) else {}
        changed = sorted(k for k in set(before) | set(inputs) if before.get(k) != inputs.get(k))
        more = " and %d more" % (len(changed) - SHOWN) if len(changed) > SHOWN else ""
        reply = {"outcome": "inputs", "detail": ", ".join(changed[:SHOWN]) + more}
        watch = stamp.get("watch") or []
        try:  # what drifted meanwhile must run too, if only the roles that changed run
            now = observe(watch)
        except (OpError, OSError, ValueError, KeyError, subprocess.SubprocessError):
            now = None
        moved = [(i, d) for i, d in zip(watch, now or []) if i.get("digest") != d]
        if any(i.get("kind") in ("host", "hostname") for i, _d in moved):
            reply["facts_stale"] = True  # the whole playbook, on facts gathered anew
        elif now is not None:
            reply["parts"], reply["stamp"] = changed, watch
            reply["drifted"] = [dict(i, found=d) for i, d in moved if i.get("kind") != "local"]
        if clear:
            stamp_clear()
        return reply
    else:
        watch = stamp.get("watch") or []
        try:
            now = observe(watch)
        except (OpError, OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            now = None
            outcome, detail = "error", "cannot observe: %s" % (exc or type(exc).__name__)
        if now is not None:
            drifted = [describe(item) for item, d in zip(watch, now) if item.get("digest") != d]
            if not drifted:
                local = [
                    {"path": i["path"], "digest": i.get("digest", "")}
                    for i in watch
                    if i.get("kind") == "local"
                ]
                return {
                    "outcome": "unchanged",
                    "detail": "%d watched item(s) as converged" % len(watch),
                    "local": local,
                }
            more = " and %d more" % (len(drifted) - SHOWN) if len(drifted) > SHOWN else ""
            outcome = "drift"
            detail = "changed since the last converge: " + ", ".join(drifted[:SHOWN]) + more
            # the host itself changed (kernel, distribution, addresses, name): the facts
            # the controller keeps for it are stale, and the run must gather them anew
            stale = any(
                item.get("kind") in ("host", "hostname") and item.get("digest") != d
                for item, d in zip(watch, now)
            )
            # what a converge with the same inputs must bring back (the host's own changes
            # and the controller's files are not a role's to repair)
            repairable = [
                dict(item, found=d)
                for item, d in zip(watch, now)
                if item.get("digest") != d and item.get("kind") not in ("host", "hostname", "local")
            ]
            if clear:
                stamp_clear()
            return {
                "outcome": outcome,
                "detail": detail,
                "facts_stale": stale,
                "drifted": repairable,
                "stamp": watch,  # what a targeted converge keeps of the roles it leaves
            }
    if clear:
        stamp_clear()
    return {"outcome": outcome, "detail": detail}


def peek(paths):
    """The digests of files other hosts' runs copy from this one, as their watch items'
    (a hash of content, mode and owner; never the content), in order."""
    return observe([{"kind": "file", "path": path} for path in paths])


OPS = {op.__name__: op for op in (stamp_check, stamp_write, stamp_clear, peek)}
