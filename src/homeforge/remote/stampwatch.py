"""What a converge stamp watches: one digest per kind of item, observed on the host.

A shared part of the host program :mod:`~homeforge.remote.stampops`: sent after the
prelude and before it (see :func:`homeforge.remote.program_text`), standard library
only, Python 3.7 syntax. A digest never holds a file's content: small files are hashed,
large ones (binaries, model blobs) are compared by their inode's identity (size, mtime,
ctime, inode number: any write, ``chmod`` or replacement changes one of them), and
nothing read here is returned.
"""

import hashlib
import json
import os
import platform
import stat
import subprocess

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError

SMALL_FILE = 1 << 20  # hashed up to this size; larger files by their inode's identity
TREE_LIMIT = 20000  # entries of a watched tree


def _sha(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _query(args, timeout=30):
    """``(rc, stdout, stderr)`` of a tool that only reads; a missing tool answers too."""
    try:
        done = subprocess.run(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=timeout,
        )
    except OSError as exc:  # the tool is not installed: that is an observation too
        return 127, "", str(exc)
    return done.returncode, done.stdout, done.stderr


# ------------------------------------------------------------------ one digest per kind


def _file_state(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    except NotADirectoryError:
        return "absent"
    owner = "%o %d %d" % (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        return "link %s %s" % (os.readlink(path), owner)
    if stat.S_ISDIR(st.st_mode):
        return "dir " + owner
    if not stat.S_ISREG(st.st_mode):
        return "special %o %s" % (stat.S_IFMT(st.st_mode), owner)
    if st.st_size <= SMALL_FILE:
        # the file the lstat saw, never a link or FIFO put in its place since (a watched
        # file may sit in a directory another user owns)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return "changed while read"
        with os.fdopen(fd, "rb") as handle:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
                return "changed while read"
            digest = hashlib.sha256(handle.read(SMALL_FILE + 1))
        return "file %s %s" % (digest.hexdigest(), owner)
    return "file %d %d %d %d %s" % (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, owner)


def _tree_state(path):
    """Names, types, owners and sizes under a directory (contents by inode identity)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return _file_state(path)
    lines, count = [], 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            lines.append(
                "%s %o %d %d %d %d %d"
                % (
                    os.path.relpath(full, path),
                    st.st_mode,
                    st.st_uid,
                    st.st_gid,
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ctime_ns,
                )
            )
            count += 1
            if count > TREE_LIMIT:
                raise OpError("%s: more than %d entries to watch" % (path, TREE_LIMIT))
    return _sha("\n".join(lines))


def _packages(names):
    """name -> "version status" from dpkg (one call for all); "absent" when unknown."""
    if not names:
        return {}
    fmt = "${Package}\t${Version}\t${db:Status-Abbrev}\n"
    bases = sorted({_package_base(n) for n in names})
    _rc, out, _err = _query(["dpkg-query", "-W", "-f=" + fmt] + bases)
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            found[parts[0].split(":")[0]] = "%s %s" % (parts[1], parts[2].strip())
    return {name: found.get(_package_base(name), "absent") for name in names}


def _package_base(name):
    """The package a name means: ``nvidia-driver=535.*`` and ``foo:amd64`` are packages
    nvidia-driver and foo (their version is part of what is watched)."""
    return name.split("=")[0].split(":")[0].rstrip("*")


def _unit_props(names):
    """unit -> its LoadState and ActiveState from one ``systemctl show``, and its
    UnitFileState as ``systemctl is-enabled`` reads it (what Ansible's systemd module asks).
    ``show`` answers UnitFileState from systemd's cache, which a ``disable --no-reload`` or
    a removed ``.wants`` link leaves stale until the next daemon-reload."""
    if not names:
        return {}
    ordered = sorted(set(names))
    rc, out, _err = _query(
        ["systemctl", "show", "--property=Id,LoadState,ActiveState", "--"] + ordered
    )
    blocks = out.strip().split("\n\n") if rc == 0 else []
    found = {}
    for name, block in zip(ordered, blocks):
        found[name] = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    enabled = _is_enabled([n for n in ordered if found.get(n, {}).get("LoadState") != "not-found"])
    for name, props in found.items():
        props["UnitFileState"] = enabled.get(name, "")
    return found


def _is_enabled(names):
    """unit -> what ``systemctl is-enabled`` prints (enabled, disabled, static, masked...):
    one call for all, one per unit when a unit gave no line (then the lines do not pair)."""
    if not names:
        return {}
    _rc, out, _err = _query(["systemctl", "is-enabled", "--"] + names)
    lines = out.splitlines()
    if len(lines) == len(names):
        return dict(zip(names, (line.strip() for line in lines)))
    found = {}
    for name in names:
        _rc, out, _err = _query(["systemctl", "is-enabled", "--", name])
        found[name] = out.strip()
    return found


def _units(names):
    """unit -> "load enabled active" from one ``systemctl show``."""
    found = _unit_props(names)
    states = {
        name: "%s %s %s"
        % (
            props.get("LoadState", "?"),
            props.get("UnitFileState", "?"),
            props.get("ActiveState", "?"),
        )
        for name, props in found.items()
    }
    return {name: states.get(name, "unknown") for name in names}


def _sysctl(key):
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        with open(path) as handle:
            return " ".join(handle.read().split())
    except OSError:
        return "absent"


def _chain(family, table, chain, comment=""):
    """A chain's rules; with ``comment``, only the rules carrying it (a chain such as INPUT
    is shared with kube-proxy and others, whose rules come and go on their own)."""
    tool = "ip6tables" if family == "ipv6" else "iptables"
    rc, out, err = _query([tool, "-w", "-t", table, "-S", chain])
    if rc != 0:
        return "absent (%s)" % (err.strip().splitlines() or ["?"])[-1]
    lines = out.splitlines()
    if comment:
        lines = [line for line in lines if comment in line]
    return _sha("\n".join(sorted(lines)))


def _wireguard(iface):
    """The interface's peers as the kernel has them: key, preshared key, allowed IPs and
    keepalive; endpoints, handshakes and counters change on their own and are left out."""
    rc, out, _err = _query(["wg", "show", iface, "dump"])
    if rc != 0:
        return "absent"
    peers = []
    for line in out.splitlines()[1:]:  # the first line is the interface (its private key)
        fields = line.split("\t")
        if len(fields) >= 8:
            peers.append("%s %s %s %s" % (fields[0], _sha(fields[1]), fields[3], fields[7]))
    return _sha("\n".join(sorted(peers)))


def _account(db, name):
    rc, out, _err = _query(["getent", db, name])
    return _sha(out) if rc == 0 else "absent"


def _gpus(sysfs_root, nvidia_smi="", query=""):
    """The PCI devices of vendor 10de (NVIDIA) under sysfs_root (a GPU put in or taken
    out), and whether the driver answers."""
    base = os.path.join(sysfs_root, "bus/pci/devices")
    found = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return "none"
    for name in names:
        try:
            with open(os.path.join(base, name, "vendor")) as handle:
                if handle.read().strip().lower() == "0x10de":
                    found.append(name)
        except OSError:
            continue
    # the driver loaded or not (a role loads it when a converge finds it missing)
    loaded = _smi_answers(nvidia_smi, query)
    return "%s loaded=%s" % (" ".join(found) or "none", "yes" if loaded else "no")


def _smi_answers(program, query):
    """Whether the driver is loaded as the nvidia_gpu_facts module (and so the role)
    decides it: nvidia-smi answers its query and its XML report with exit 0 (a driver and
    library of different versions, or no module, exit non-zero)."""
    import shutil

    if not program:
        program = shutil.which("nvidia-smi") or ""
        if not program and os.path.isfile("/usr/bin/nvidia-smi"):
            program = "/usr/bin/nvidia-smi"
    if not program:
        return False
    for args in (query.split(), ["-q", "-x"]):
        rc, _out, _err = _query([program] + args)
        if rc != 0:
            return False
    return True


def _ollama_model(url, name):
    """The model's digest as the local Ollama lists it ("absent" when it does not). The
    controller gives the name as ``/api/tags`` lists it (fastpath.effects._listed_name)."""
    import urllib.request

    wanted = name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/tags", timeout=5) as reply:
            models = json.loads(reply.read().decode()).get("models") or []
    except (OSError, ValueError):
        return "unreachable"
    for model in models:
        if model.get("name") == wanted or model.get("model") == wanted:
            return "present " + str(model.get("digest"))
    return "absent"


def _default_ipv4():
    """The interface of the IPv4 default route and its addresses: what Ansible's
    ``default_ipv4`` fact reports, which roles read (the first server's address)."""
    try:
        with open("/proc/net/route") as handle:
            rows = [line.split() for line in handle.read().splitlines()[1:]]
    except OSError:
        return "none"
    ifaces = sorted(
        {r[0] for r in rows if len(r) > 7 and r[1] == "00000000" and r[7] == "00000000"}
    )
    if not ifaces:
        return "none"
    _rc, out, _err = _query(["ip", "-4", "-o", "addr", "show", "dev", ifaces[0]])
    addresses = sorted(
        part[i + 1]
        for part in (line.split() for line in out.splitlines())
        for i, word in enumerate(part[:-1])
        if word == "inet"
    )
    return "%s %s" % (ifaces[0], ",".join(addresses))


def _host():
    """What the run's facts decided on: the kernel, the distribution's release and the
    default route's address."""
    try:
        with open("/etc/os-release") as handle:
            release = _sha(handle.read())
    except OSError:
        release = "none"
    return "%s %s %s %s" % (platform.machine(), platform.release(), release, _default_ipv4())


def _hostname():
    try:
        with open("/etc/hostname") as handle:
            written = handle.read().strip()
    except OSError:
        written = ""
    return "%s %s" % (written, platform.node())


def observe(items):
    """Each item's digest now, in order; batched where a tool answers for many at once.
    Items of kind ``local`` are the controller's files: their digest is the one the
    controller sent, checked there."""
    packages = _packages([i["name"] for i in items if i.get("kind") == "package"])
    units = _units([i["name"] for i in items if i.get("kind") == "unit"])
    out = []
    for item in items:
        kind = item.get("kind")
        if kind == "local":
            out.append(item.get("digest", ""))
            continue
        if kind == "file":
            value = _file_state(item["path"])
        elif kind == "tree":
            value = _tree_state(item["path"])
        elif kind == "package":
            value = packages[item["name"]]
        elif kind == "unit":
            value = units[item["name"]]
        elif kind == "sysctl":
            value = _sysctl(item["key"])
        elif kind == "chain":
            value = _chain(
                item.get("family", "ipv4"), item["table"], item["chain"], item.get("comment", "")
            )
        elif kind == "wireguard":
            value = _wireguard(item["iface"])
        elif kind == "account":
            value = _account(item.get("db", "passwd"), item["name"])
        elif kind == "gpus":
            value = _gpus(
                item.get("sysfs_root", "/sys"), item.get("nvidia_smi", ""), item.get("query", "")
            )
        elif kind == "ollama_model":
            value = _ollama_model(item.get("url") or "http://127.0.0.1:11434", item["name"])
        elif kind == "host":
            value = _host()
        elif kind == "hostname":
            value = _hostname()
        else:
            raise OpError("unknown watch item kind %r" % (kind,))
        out.append(_sha(value))
    return out
