"""Operations homeforge runs on a host over SSH, one per call (see :class:`homeforge.remote.Remote`).

The request travels on stdin, then this file; the host runs it with ``python3 -c
BOOTSTRAP``, so neither appears in ``ps`` or in sudo's log.

This file is sent whole over SSH and runs with the host's own python3, so it
uses the standard library only and keeps to Python 3.7 syntax. Each operation
takes keyword arguments from the JSON request and returns a JSON-able dict;
the process prints ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
"..."}`` and nothing else.

Every write is idempotent (writing the value a file already has changes nothing
and says so) and atomic (a temporary file in the same directory, then rename),
so a consumer reading its environment file never sees half of it, and replaying
a journal after an interruption is safe. No read or write follows a link that
another user could have placed (an environment file in an application's own
directory): see :func:`_walk`. Nothing here reads or returns a
WireGuard private key: ``wg show IFACE dump``'s first line (the interface, which
holds it) is skipped on the host.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import ipaddress
import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]*$")
SYSTEMD_DIR = "/etc/systemd/system"


class OpError(Exception):
    pass


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


# --------------------------------------------------------------------------- environment files


def _unquote(raw):
    """A value as ``sh`` reads it from ``NAME=raw`` (the quoting :func:`_quote` writes)."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        return re.sub(r'\\([\\"$`])', r"\1", inner) if raw[0] == '"' else inner
    return raw


def _quote(value):
    """``value`` for ``NAME=...`` in a file that ``sh`` sources: nothing in it is run or
    expanded (inside double quotes, only \\ " $ and ` are special)."""
    _one_line(value)
    if SAFE_VALUE.match(value):
        return value
    return '"%s"' % re.sub(r'([\\"$`])', r"\\\1", value)


def _one_line(value):
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise OpError("refusing a value with a control character (newline, tab, ...): %r" % value)


def env_read(path, names):
    """The values of ``names`` in an environment file (None when unset) and whether it exists."""
    text = _read(path)
    values = dict((name, None) for name in names)
    for line in (text or "").splitlines():
        match = ENV_LINE.match(line)
        if match and match.group(2) in values:
            values[match.group(2)] = _unquote(match.group(3))
    return {"exists": text is not None, "values": values}


def env_write(path, values):
    """Set (or, for None, remove) variables in an existing environment file; other lines are kept."""
    text = _read(path)
    if text is None:
        raise OpError("%s: no such file" % path)
    lines = text.splitlines()
    out, seen = [], set()
    for line in lines:
        match = ENV_LINE.match(line)
        if match and match.group(2) in values:
            name = match.group(2)
            if name in seen or values[name] is None:
                continue  # a duplicate, or a variable to remove
            seen.add(name)
            out.append("%s%s=%s" % (match.group(1), name, _quote(values[name])))
        else:
            out.append(line)
    for name in sorted(values):
        if name not in seen and values[name] is not None:
            out.append("%s=%s" % (name, _quote(values[name])))
    new = "\n".join(out) + "\n" if out else ""
    if new == text:
        return {"changed": False}
    _atomic_write(path, new, mode=0o644, keep=True)
    return {"changed": True}


# --------------------------------------------------------------------------- systemd


def _dropin_path(unit, name):
    _unit(unit)
    if not re.match(r"[A-Za-z0-9_.-]+\Z", name) or name.startswith("."):
        raise OpError("not a drop-in name: %r" % (name,))
    return os.path.join(SYSTEMD_DIR, unit + ".d", name + ".conf")


def _dropin_text(values):
    lines = [
        "# Managed by homeforge (mesh cutover); 'homeforge mesh rollback' removes it.",
        "[Service]",
    ]
    for name in sorted(values):
        _one_line(values[name])
        # systemd: \\ and \" are C-style escapes in a quoted word, and % starts a specifier
        value = values[name].replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
        lines.append('Environment="%s=%s"' % (name, value))
    return "\n".join(lines) + "\n"


def _dropin_values(text):
    values = {}
    for match in re.finditer(r'^Environment="([A-Za-z_][A-Za-z0-9_]*)=(.*)"$', text or "", re.M):
        values[match.group(1)] = re.sub(
            r'\\([\\"])|%(%)', lambda m: m.group(1) or m.group(2), match.group(2)
        )
    return values


UNIT_NAME = re.compile(
    r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*"
    r"\.(service|socket|target|timer|mount|path|slice|scope|device|swap|automount)\Z"
)


def _unit(unit):
    """A unit name systemctl can never read as an option (the inventory rule, again here)."""
    if not isinstance(unit, str) or not UNIT_NAME.match(unit):
        raise OpError("not a systemd unit name: %r" % (unit,))
    return unit


def unit_exists(unit):
    _unit(unit)
    done = _run(["systemctl", "show", "-p", "LoadState", "--value", unit], check=False)
    return {"exists": done.stdout.strip() == "loaded"}


def dropin_read(unit, name, names):
    """The variables a homeforge drop-in sets for ``unit`` (None when unset)."""
    current = _dropin_values(_read(_dropin_path(unit, name)))
    return {
        "exists": unit_exists(unit)["exists"],
        "values": dict((n, current.get(n)) for n in names),
    }


def dropin_write(unit, name, values, action="restart", settle=False):
    """Write (or, when every value is None, remove) the drop-in, then reload systemd and the
    unit; ``settle``: restart the unit even when the drop-in already had the values."""
    path = _dropin_path(unit, name)
    old = _read(path)
    keep = dict((k, v) for k, v in _dropin_values(old).items() if k not in values)
    keep.update((k, v) for k, v in values.items() if v is not None)
    changed = False
    if keep:
        new = _dropin_text(keep)
        if new != old:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), 0o755)
            _atomic_write(path, new, mode=0o644)
            changed = True
    elif old is not None:
        os.unlink(path)
        changed = True
    if changed or settle:
        _run(["systemctl", "daemon-reload"])
        if action != "none":
            unit_action(unit, action)
    return {"changed": changed}


def unit_action(unit, action="restart"):
    _unit(unit)
    if action not in ("restart", "reload", "reload-or-restart", "try-restart"):
        raise OpError(
            "unit action %r: use restart, reload, reload-or-restart or try-restart" % action
        )
    done = _run(["systemctl", action, unit], timeout=120, check=False)
    if done.returncode != 0:
        # the unit's own last words say more than systemctl's "see journalctl"
        said = _run(
            ["journalctl", "_SYSTEMD_UNIT=" + unit, "-n", "1", "-o", "cat", "--no-pager"],
            check=False,
        )
        detail = said.stdout.strip() or done.stderr.strip()
        raise OpError("systemctl %s %s failed: %s" % (action, unit, detail))
    return {"changed": True}


def run_command(command):
    done = _run(["/bin/sh", "-c", command], timeout=300, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise OpError(
            "%s: exit %d%s" % (command, done.returncode, ": " + detail[-1] if detail else "")
        )
    return {"changed": True}


# --------------------------------------------------------------------------- kubernetes (kubectl on the host)


def _kubectl(kubectl, *args):
    return _run(shlex.split(kubectl) + list(args), timeout=300)


def deployment_read(kubectl, namespace, name, names, container=""):
    done = _kubectl(kubectl, "-n", namespace, "get", "deployment", name, "-o", "json")
    spec = json.loads(done.stdout)["spec"]["template"]["spec"]
    containers = [c for c in spec.get("containers", []) if not container or c["name"] == container]
    if not containers:
        raise OpError("deployment %s/%s has no container %r" % (namespace, name, container))
    env = {}
    for item in containers[0].get("env", []):
        if item["name"] not in names:
            continue
        if item["name"] in env or "valueFrom" in item:
            how = "twice" if item["name"] in env else "through valueFrom"
            raise OpError(
                "deployment %s/%s sets %s %s; homeforge switches only a plain value set once"
                % (namespace, name, item["name"], how)
            )
        env[item["name"]] = item.get("value")
    return {"exists": True, "values": dict((n, env.get(n)) for n in names)}


def deployment_write(kubectl, namespace, name, values, container="", timeout=180, settle=False):
    current = deployment_read(kubectl, namespace, name, list(values), container)["values"]
    if current == values and not settle:
        return {"changed": False}
    args = ["-n", namespace, "set", "env", "deployment/" + name]
    if container:
        args += ["-c", container]
    for key in sorted(values):
        args.append(key + "-" if values[key] is None else "%s=%s" % (key, values[key]))
    if current != values:
        _kubectl(kubectl, *args)
    _kubectl(
        kubectl,
        "-n",
        namespace,
        "rollout",
        "status",
        "deployment/" + name,
        "--timeout=%ds" % timeout,
    )
    return {"changed": current != values}


# --------------------------------------------------------------------------- the mesh


def _wg_peers(iface):
    done = _run(["wg", "show", iface, "dump"])
    peers = []
    for line in done.stdout.splitlines()[1:]:  # line 1 is the interface and its private key
        fields = line.split("\t")
        if len(fields) >= 5:
            nets = [] if fields[3] == "(none)" else fields[3].split(",")
            peers.append({"allowed_ips": nets, "handshake": int(fields[4])})
    return peers


def mesh_address(iface):
    done = _run(["ip", "-o", "-4", "addr", "show", "dev", iface])
    for line in done.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return {"address": parts[parts.index("inet") + 1].split("/")[0]}
    raise OpError("%s has no IPv4 address" % iface)


def _peer_for(peers, address):
    """The peer whose most specific allowed network holds address."""
    target, best, best_len = ipaddress.ip_address(address), None, -1
    for peer in peers:
        for net in peer["allowed_ips"]:
            network = ipaddress.ip_network(net, strict=False)
            if target in network and network.prefixlen > best_len:
                best, best_len = peer, network.prefixlen
    return best


def handshakes(iface, addresses, max_age=180, wait=6):
    """Age of the latest handshake with the peer carrying each address.

    A stale one gets a ping to start a handshake, then up to ``wait`` seconds.
    """
    ages = {}
    stale = []
    now = time.time()
    peers = _wg_peers(iface)
    for address in addresses:
        peer = _peer_for(peers, address)
        if peer is None:
            ages[address] = {"error": "no peer on %s routes %s" % (iface, address)}
        elif peer["handshake"] and now - peer["handshake"] <= max_age:
            ages[address] = {"age": int(now - peer["handshake"])}
        else:
            stale.append(address)
    if stale:
        for address in stale:
            subprocess.Popen(
                ["ping", "-c", "2", "-i", "0.5", "-W", "1", address],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.time() + wait
        while stale and time.time() < deadline:
            time.sleep(0.3)
            peers = _wg_peers(iface)
            for address in list(stale):
                peer = _peer_for(peers, address)
                if peer and peer["handshake"] and time.time() - peer["handshake"] <= max_age:
                    ages[address] = {"age": int(time.time() - peer["handshake"])}
                    stale.remove(address)
        for address in stale:
            ages[address] = {
                "error": "no handshake with the peer for %s within %ds" % (address, max_age)
            }
    return {"peers": ages}


# --------------------------------------------------------------------------- probes


def _probe_once(url, method, expect, timeout):
    started = time.time()
    request = urllib.request.Request(
        url, method=method, headers={"User-Agent": "homeforge-cutover"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, "%s" % (reason or type(exc).__name__), time.time() - started
    ok = status in expect if expect else 200 <= status < 400
    return ok, "" if ok else "HTTP %d" % status, time.time() - started


def probe(urls, method="GET", expect=(), count=5, interval=0.2, timeout=3.0, attempts=0):
    """Probe each URL until ``count`` consecutive successes, or ``attempts`` tries fail.

    The URLs are probed side by side, one round at a time.
    """
    attempts = attempts or count * 2
    state = dict(
        (u, {"consecutive": 0, "tries": 0, "errors": 0, "error": "", "ms": []}) for u in urls
    )
    for _round in range(attempts):
        pending = [u for u in urls if state[u]["consecutive"] < count]
        if not pending:
            break
        for url in pending:
            ok, error, took = _probe_once(url, method, list(expect), timeout)
            entry = state[url]
            entry["tries"] += 1
            entry["ms"].append(round(took * 1000, 1))
            if ok:
                entry["consecutive"] += 1
            else:
                entry["consecutive"], entry["errors"], entry["error"] = (
                    0,
                    entry["errors"] + 1,
                    error,
                )
        time.sleep(interval)
    for entry in state.values():
        entry["ok"] = entry["consecutive"] >= count
        times = sorted(entry.pop("ms"))
        entry["median_ms"] = times[len(times) // 2] if times else None
    return {"urls": state}


def tcp_open(address, port, timeout=2.0):
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return {"open": True}
    except OSError as exc:
        return {"open": False, "error": str(exc)}


def wait_listen(address, port, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        if tcp_open(address, port, 1.0)["open"]:
            return {"listening": True}
        if time.time() > deadline:
            raise OpError("nothing listens on %s:%d after %ds" % (address, port, timeout))
        time.sleep(0.2)


# --------------------------------------------------------------------------- firewall

MESH_ONLY_SCRIPT = "/usr/local/sbin/homeforge-mesh-only"
MESH_ONLY_UNIT = os.path.join(SYSTEMD_DIR, "homeforge-mesh-only@.service")
MESH_ONLY_CONF_DIR = "/etc/homeforge/mesh-only"


def _mesh_only_instance(service):
    return "service-" + service


def _mesh_only_chain(instance):
    # the digest the script computes (homeforge-mesh-only), so rules can be read back here
    return "HF-MO-" + hashlib.sha256(instance.encode()).hexdigest()[:16].upper()


def firewall_read(service):
    """Whether the service's port is closed outside the mesh (unit enabled, chain present)."""
    instance = _mesh_only_instance(service)
    if not any(
        os.access(os.path.join(d, "iptables"), os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin")
    ):
        raise OpError(
            "iptables is not installed (needed to close the service port outside the mesh)"
        )
    unit = "homeforge-mesh-only@%s.service" % instance
    enabled = _run(["systemctl", "is-enabled", unit], check=False).stdout.strip() == "enabled"
    chain = _mesh_only_chain(instance)
    active = _run(["iptables", "-n", "-L", chain], check=False).returncode == 0
    return {"closed": bool(enabled and active), "enabled": enabled, "active": active}


def ipv6_exposure(service):
    """The host's global IPv6 addresses and whether the service's IPv6 closing chain is
    in place (a service on [::] answers over IPv6 unless ip6tables closes it too)."""
    done = _run(["ip", "-6", "-o", "addr", "show", "scope", "global"], check=False)
    addresses = []
    for line in done.stdout.splitlines():
        fields = line.split()
        if "inet6" in fields:
            addresses.append(fields[fields.index("inet6") + 1].split("/")[0])
    chain = _mesh_only_chain(_mesh_only_instance(service))
    usable = _run(["ip6tables", "-S", "INPUT"], check=False).returncode == 0 if addresses else False
    active = usable and _run(["ip6tables", "-n", "-L", chain], check=False).returncode == 0
    return {"addresses": addresses, "ip6tables": usable, "active": active}


def firewall_set(service, port, iface, cidr, closed, script="", unit_text=""):
    """Close the port to everything but the mesh and loopback, persistently, or reopen it.

    ``script`` and ``unit_text`` are the wireguard role's homeforge-mesh-only script and
    unit template (the same files a converge installs): one implementation for both.
    """
    instance = _mesh_only_instance(service)
    unit = "homeforge-mesh-only@%s.service" % instance
    conf_path = os.path.join(MESH_ONLY_CONF_DIR, instance + ".conf")
    before = firewall_read(service)
    if closed:
        conf = (
            "# Managed by homeforge (mesh cutover of %s); 'homeforge mesh rollback' removes it.\n"
            % service
        )
        conf += "ports=%d\ninterface=%s\ncidr=%s\n" % (int(port), iface, cidr)
        changed = False
        for path, text, mode in (
            (MESH_ONLY_SCRIPT, script, 0o755),
            (MESH_ONLY_UNIT, unit_text, 0o644),
        ):
            if _read(path) != text:
                _atomic_write(path, text, mode=mode)
                changed = True
        if changed:
            _run(["systemctl", "daemon-reload"])
        if not os.path.isdir(MESH_ONLY_CONF_DIR):
            os.makedirs(MESH_ONLY_CONF_DIR, 0o755)
        if _read(conf_path) != conf:
            _atomic_write(conf_path, conf, mode=0o644)
            changed = True
        if changed or not before["closed"]:
            _run(["systemctl", "enable", unit])
            _run(["systemctl", "restart", unit])
            changed = True
        return {"changed": changed}
    if not os.path.exists(conf_path) and not before["active"] and not before["enabled"]:
        return {"changed": False}
    _run(["systemctl", "disable", "--now", unit], check=False)
    if before["active"] and os.path.exists(MESH_ONLY_SCRIPT):
        _run([MESH_ONLY_SCRIPT, instance, "stop"])
    if os.path.exists(conf_path):
        os.unlink(conf_path)
    return {"changed": True}


# --------------------------------------------------------------------------- WireGuard


def wireguard_status(iface):
    """The interface's public key, IPv4 address and peers; never its private key."""
    public = _run(["wg", "show", iface, "public-key"]).stdout.strip()
    try:
        address = mesh_address(iface)["address"]
    except OpError:
        address = ""
    dump = _run(["wg", "show", iface, "dump"]).stdout.splitlines()[1:]  # line 1: private key
    peers = []
    for line in dump:
        fields = line.split("\t")
        if len(fields) >= 7:
            peers.append(
                {
                    "public_key": fields[0],
                    "endpoint": "" if fields[2] == "(none)" else fields[2],
                    "allowed_ips": [] if fields[3] == "(none)" else fields[3].split(","),
                    "latest_handshake": int(fields[4]),
                    "rx": int(fields[5]),
                    "tx": int(fields[6]),
                }
            )
    return {"public_key": public, "address": address, "peers": peers}


# --------------------------------------------------------------------------- cutover leases

LEASE_DIR = "/var/lib/homeforge/leases"


def _lease_path(service):
    if not re.match(r"[a-z0-9][a-z0-9_-]{0,30}\Z", service or ""):
        raise OpError("not a service name: %r" % (service,))
    return os.path.join(LEASE_DIR, service + ".json")


def _lease_locked(service):
    """An flock on the lease directory for one read-modify-write (released at exit)."""
    import fcntl

    if not os.path.isdir(LEASE_DIR):
        os.makedirs(LEASE_DIR, 0o700)
    fd = os.open(os.path.join(LEASE_DIR, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def lease_read(service):
    """The service's cutover lease on this host, with ``expired`` by this host's clock."""
    text = _read(_lease_path(service))
    if not text:
        return {"lease": None}
    try:
        lease = json.loads(text)
        lease["expired"] = float(lease["expires_at"]) < time.time()
    except (ValueError, KeyError, TypeError):
        return {"lease": {"owner": "unreadable lease file", "expired": True, "token": ""}}
    return {"lease": lease}


def lease_take(service, token, owner, inventory, action, ttl=900, journal=None, force=False):
    """Take (or renew, with the same token) the lease; refuse while another live lease
    is held, or a stale one is there and ``force`` was not given."""
    fd = _lease_locked(service)
    try:
        held = lease_read(service)["lease"]
        if held and held.get("token") != token and not force:
            return {"taken": False, "held": held}
        now = time.time()
        lease = {
            "token": token,
            "owner": owner,
            "inventory": inventory,
            "action": action,
            "started_at": held["started_at"] if held and held.get("token") == token else now,
            "expires_at": now + int(ttl),
            "journal": journal,
        }
        _atomic_write(_lease_path(service), json.dumps(lease), mode=0o600)
        return {"taken": True, "broke": held if held and held.get("token") != token else None}
    finally:
        os.close(fd)


def lease_release(service, token, journal=None):
    """Drop the lease when this token holds it; the last journal stays beside it."""
    fd = _lease_locked(service)
    try:
        held = lease_read(service)["lease"]
        if not held or held.get("token") != token:
            return {"released": False}
        os.unlink(_lease_path(service))
        if journal is not None:
            _atomic_write(
                os.path.join(LEASE_DIR, service + ".last-journal.json"),
                json.dumps(journal),
                mode=0o600,
            )
        return {"released": True}
    finally:
        os.close(fd)


OPS = {
    fn.__name__: fn
    for fn in (
        env_read,
        env_write,
        unit_exists,
        dropin_read,
        dropin_write,
        unit_action,
        run_command,
        deployment_read,
        deployment_write,
        mesh_address,
        handshakes,
        probe,
        tcp_open,
        wait_listen,
        firewall_read,
        firewall_set,
        wireguard_status,
        ipv6_exposure,
        lease_read,
        lease_take,
        lease_release,
    )
}


def serve(request):
    """Run one request ``{"op": NAME, "args": {...}}``; print one JSON line; the exit code."""
    try:
        result = OPS[request["op"]](**request.get("args", {}))
        print(json.dumps({"ok": True, "result": result}))
        return 0
    except (OpError, OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as exc:
        print(json.dumps({"ok": False, "error": str(exc) or type(exc).__name__}))
        return 1


def main(argv):
    """Standalone: the request as the first argument, or as the first line on stdin."""
    request = argv[1] if len(argv) > 1 else sys.stdin.readline()
    return serve(json.loads(request))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
