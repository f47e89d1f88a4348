# Copyright: homeforge maintainers
# Apache License 2.0
"""NFS exports as the inventory declares them (role nfs_server), checked and put in one
shape for both backends: the kernel server's ``/etc/exports.d`` lines and NFS-Ganesha's
``EXPORT`` blocks.

An export is ``{path, clients, options, owner, group, mode, pseudo}``; only ``path`` is
required. ``clients`` are IP addresses, CIDRs or host names (never ``*``: an export is
for named networks); ``options`` are the kernel server's export options, of which
homeforge knows a set (an unknown one is refused rather than passed through, since it
would reach ``/etc/exports`` or be silently dropped by Ganesha). Ganesha gets the same
meaning through its own keys (``Access_Type``, ``Squash``, ``SecType``,
``Anonymous_Uid``/``Gid``, ``PrivilegedPort``).

Like the other module_utils files this one imports nothing from Ansible: the CLI's
``homeforge inventory check`` loads it as plain Python (src/homeforge/module_utils.py).
"""

from __future__ import annotations

import re

try:  # inside the collection (modules, filters)
    from ansible_collections.homeforge.homelab.plugins.module_utils import validation as rules
except ImportError:  # loaded by the CLI (homeforge.module_utils), after validation
    import homeforge_module_utils_validation as rules  # type: ignore[no-redef]

KEYS = ("path", "clients", "options", "owner", "group", "mode", "pseudo", "id")
BACKENDS = ("kernel", "ganesha")

# The kernel server's export options homeforge accepts (exports(5)); flags and key=value.
FLAGS = {
    "rw", "ro", "sync", "async", "subtree_check", "no_subtree_check", "root_squash",
    "no_root_squash", "all_squash", "no_all_squash", "secure", "insecure", "wdelay",
    "no_wdelay", "hide", "nohide", "crossmnt",
}  # fmt: skip
VALUED = {
    "anonuid": r"[0-9]{1,10}",
    "anongid": r"[0-9]{1,10}",
    "sec": r"(sys|krb5|krb5i|krb5p)(:(sys|krb5|krb5i|krb5p))*",
    "fsid": r"(root|[0-9]{1,10}|[0-9a-fA-F-]{36})",
}
CONTRADICTIONS = (
    ("rw", "ro"),
    ("sync", "async"),
    ("secure", "insecure"),
    ("root_squash", "no_root_squash"),
    ("all_squash", "no_all_squash"),
    ("subtree_check", "no_subtree_check"),
    ("hide", "nohide"),
    ("wdelay", "no_wdelay"),
)
OWNER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}")
MODE_RE = re.compile(r"0?[0-7]{3,4}")


def client_problem(value: object) -> str | None:
    """An NFS client: an IP address, a CIDR or a host name."""
    if not isinstance(value, str) or not value:
        return "a client must be a non-empty string"
    if "/" in value:
        return rules.cidr_problem(value)
    if rules._is_ip(value) or (
        not re.fullmatch(r"[0-9.]+", value) and rules.DNS_NAME_RE.fullmatch(value)
    ):
        return None
    return "not an address, a CIDR or a host name"


def option_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "an export option must be a string"
    name, _sep, setting = value.partition("=")
    if name in FLAGS and not setting and "=" not in value:
        return None
    if name in VALUED and re.fullmatch(VALUED[name], setting):
        return None
    if name in VALUED:
        return f"{name}= needs a value matching {VALUED[name]}"
    return f"not an export option homeforge knows (known: {', '.join(sorted(FLAGS | set(VALUED)))})"


# Directories an export must never be or lie under (the root file system's own), and
# directories it must not be itself (it may lie under them: /srv/nfs, /var/lib/exports).
SYSTEM_TREES = ("/etc", "/boot", "/dev", "/proc", "/sys", "/run", "/root", "/usr", "/bin",
                "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib/dpkg", "/var/lib/apt")  # fmt: skip
SYSTEM_DIRS = ("/", "/var", "/var/lib", "/home", "/srv", "/opt", "/mnt", "/media", "/tmp",
               "/var/tmp", "/usr/local")  # fmt: skip


def system_path(path: str) -> bool:
    """Whether ``path`` (absolute, no '..') is a system directory or lies in a system tree."""
    clean = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    return clean in SYSTEM_DIRS or any(
        clean == tree or clean.startswith(tree + "/") for tree in SYSTEM_TREES
    )


def squashes_root(options) -> bool:
    """Whether root on a client is mapped to the anonymous user (exports(5): the default)."""
    return "no_root_squash" not in options


def export_problems(export: object, default_clients: object = ()) -> list[str]:
    """Every problem of one export, each naming the key (``path: ...``)."""
    if not isinstance(export, dict):
        return ["an export must be a mapping with at least a path"]
    problems = [
        f"{key}: not a key of an export (known: {', '.join(KEYS)})"
        for key in export
        if key not in KEYS
    ]
    problem = rules.absolute_path_problem(export.get("path"))
    if problem:
        problems.append(f"path: {problem}")
    elif system_path(export["path"]):
        problems.append(
            f"path: {export['path']} is a system directory (its owner and mode are the"
            " system's, and every client would reach it): export a directory of its own"
        )
    clients = export.get("clients", default_clients)
    if not isinstance(clients, (list, tuple)) or not clients:
        problems.append("clients: a non-empty list of addresses, CIDRs or host names")
    else:
        problems += [f"clients: {c!r}: {client_problem(c)}" for c in clients if client_problem(c)]
    options = export.get("options", [])
    if not isinstance(options, (list, tuple)):
        problems.append("options: a list of export options")
    else:
        problems += [f"options: {o!r}: {option_problem(o)}" for o in options if option_problem(o)]
        for one, other in CONTRADICTIONS:
            if one in options and other in options:
                problems.append(f"options: {one} and {other} together")
    for key, rule in (("owner", OWNER_RE), ("group", OWNER_RE), ("mode", MODE_RE)):
        if key in export and not (isinstance(export[key], str) and rule.fullmatch(export[key])):
            problems.append(f"{key}: {export[key]!r}: not a valid {key}")
    if "id" in export and not (
        isinstance(export["id"], int)
        and not isinstance(export["id"], bool)
        and 1 <= export["id"] <= 65534
    ):
        problems.append(f"id: {export['id']!r}: Ganesha's Export_Id, a number from 1 to 65534")
    if "pseudo" in export:
        problem = rules.absolute_path_problem(export["pseudo"])
        if problem:
            problems.append(f"pseudo: {problem}")
    return problems


def exports_problems(
    exports: object, default_clients: object = (), backend: object = "kernel"
) -> list[str]:
    """Every problem of an export list, each prefixed with the export's place."""
    if backend not in BACKENDS:
        return [f"backend {backend!r}: one of {', '.join(BACKENDS)}"]
    if not isinstance(exports, list):
        return ["exports: a list of exports"]
    problems = []
    for index, export in enumerate(exports):
        problems += [f"exports[{index}]: {p}" for p in export_problems(export, default_clients)]
    paths = [e.get("path") for e in exports if isinstance(e, dict)]
    pseudos = [e.get("pseudo", e.get("path")) for e in exports if isinstance(e, dict)]
    ids = [export_id(e) for e in exports if isinstance(e, dict) and isinstance(e.get("path"), str)]
    ids = [i for i in ids if isinstance(i, int)]
    for what, seen in (("path", paths), ("pseudo", pseudos), ("id", ids)):
        doubled = sorted({p for p in seen if isinstance(p, (str, int)) and seen.count(p) > 1})
        problems += [f"exports: {what} {p} declared twice" for p in doubled]
    return problems


def export_id(export):
    """Ganesha's Export_Id: the export's ``id``, else one derived from its path, so it stays
    the same when other exports are added, removed or reordered (clients' file handles
    carry it: a renumbered export answers them with ESTALE)."""
    import zlib

    if "id" in export:
        return export["id"]
    return zlib.crc32(export["path"].encode()) % 65534 + 1


def normalise(exports, default_clients, default_options):
    """The exports with every key filled in (after :func:`exports_problems` found none)."""
    done = []
    for export in exports:
        options = list(export.get("options", default_options))
        # With root squashed, a client's root (a provisioner making a volume's directory)
        # is the anonymous user, so a new export directory belongs to it.
        owner, group = ("nobody", "nogroup") if squashes_root(options) else ("root", "root")
        done.append(
            {
                "path": export["path"],
                "clients": list(export.get("clients", default_clients)),
                "options": options,
                "owner": export.get("owner", owner),
                "group": export.get("group", group),
                "mode": export.get("mode", "0755"),
                # owner, group or mode declared: kept so on an existing directory too;
                # otherwise they are only given to a directory the role creates
                "declared": any(key in export for key in ("owner", "group", "mode")),
                "pseudo": export.get("pseudo", export["path"]),
                "id": export_id(export),
            }
        )
    return done


def kernel_lines(exports):
    """``/etc/exports.d`` lines: ``PATH CLIENT(opts) CLIENT(opts)``."""
    lines = []
    for e in exports:
        options = ",".join(e["options"])
        lines.append(e["path"] + " " + " ".join(f"{c}({options})" for c in e["clients"]))
    return lines


def ganesha_settings(export):
    """Ganesha's keys for one export's options (kernel export semantics)."""
    options = export["options"]
    valued = dict(o.split("=", 1) for o in options if "=" in o)
    squash = "root_squash"
    if "no_root_squash" in options:
        squash = "no_root_squash"
    if "all_squash" in options:
        squash = "all_squash"
    settings = {
        "Access_Type": "RW" if "rw" in options else "RO",  # exports(5): ro unless rw
        "Squash": squash,
        "SecType": valued.get("sec", "sys").replace(":", ","),
        "PrivilegedPort": "secure" in options,
    }
    # exports(5): the anonymous user is 65534 (nobody/nogroup) unless anonuid/anongid say
    # otherwise; Ganesha's own default is -2 (config_samples/export.txt), a uid no file has.
    if squash != "no_root_squash" or "anonuid" in valued:
        settings["Anonymous_Uid"] = int(valued.get("anonuid", 65534))
    if squash != "no_root_squash" or "anongid" in valued:
        settings["Anonymous_Gid"] = int(valued.get("anongid", 65534))
    return settings
