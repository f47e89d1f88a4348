"""What each module's result manages on its host, as watch items: one handler per module.

:class:`homeforge.fastpath.watch.WatchList` reads a run's events and decides, per task,
whether its result counts for a host at all (delegation, ``no_log``, ``run_once``, what
the role's source declares); the result then goes to its module's handler here, which adds
the watch items it manages (see :mod:`homeforge.remote.stampwatch` for what each kind
observes) or returns the problem line that makes the host **not eligible** for the fast
path. A module with no handler is such a problem: homeforge does not know what it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

# Modules whose run changes nothing on the host and reads nothing worth watching.
NO_EFFECT = {
    "assert",
    "debug",
    "fail",
    "set_fact",
    "set_stats",
    "include_role",
    "import_role",
    "include_tasks",
    "import_tasks",
    "include_vars",
    "validate_argument_spec",
    "meta",
    "pause",
    "group_by",
    "add_host",
    "setup",
    "gather_facts",
    "package_facts",
    "service_facts",
    "wait_for",  # a port; a path is watched
}
# Reads of what the kernel makes up as it goes: never watched.
VOLATILE = ("/proc/", "/sys/", "/dev/", "/run/")
COMMANDS = {"command", "shell", "raw", "script"}
READ_METHODS = {"GET", "HEAD"}
WRITES_FILE = ("template", "copy", "file", "lineinfile", "blockinfile", "replace")

Args = dict[str, Any]


class Watch(Protocol):
    """One host's watch items, as the handlers fill them (watch.HostWatch)."""

    unit_wants: dict[str, dict[str, bool]]
    file_wants: dict[str, dict[str, Any]]

    def add(self, kind: str, **fields: Any) -> None: ...


# A handler adds what one result of its module manages and returns None, or returns a
# problem line when that cannot be watched.
Handler = Callable[[Watch, Args, Args, Args], "str | None"]


def short(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def action_of(data: Args) -> str:
    """The module a result is from, by its short name (``template``, ``kernel_params``)."""
    return short(str(data.get("resolved_action") or data.get("task_action") or ""))


def result_items(watch: Watch, action: str, res: Args, data: Args) -> str | None:
    """Add what one result manages; a problem line when it cannot be watched."""
    if res.get("_ansible_no_log") and "invocation" not in res:
        args: Args = {}
    else:
        args = (res.get("invocation") or {}).get("module_args") or {}
    handler = HANDLERS.get(action)
    if handler is None:
        return f"module {action} (homeforge does not know what it changes)"
    return handler(watch, args, res, data)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return []


def _unit(name: str) -> str:
    return name if "." in name else name + ".service"


def _no_effect(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """Changes nothing on the host and reads nothing worth watching (``NO_EFFECT``)."""


def _written_file(
    watch: Watch, args: Args, res: Args, data: Args, missing: str = "path"
) -> str | None:
    """A file the module writes (``template``, ``copy``, ``file``, the in-file edits,
    ``get_url``): the run decided its content, owner and mode."""
    path = res.get("path") or res.get("dest") or args.get("path") or args.get("dest")
    if not path:
        return f"{action_of(data)}: no {missing} in its result"
    watch.add("file", path=str(path))
    _reported(watch.file_wants.setdefault(str(path), {}), action_of(data), res)
    return None


# What a file module reports of the file it left, as the stamp compares it (want_*): the
# SHA-1 of its content (template, copy, get_url), its mode and owner (all of them).
REPORTED = {"checksum": "want_sha1", "mode": "want_mode", "uid": "want_uid", "gid": "want_gid"}
EDITS_CONTENT = {"lineinfile", "blockinfile", "replace"}  # report no checksum


def _reported(wants: dict[str, Any], action: str, res: Args) -> None:
    """The file as the run's last task on it left it: a later edit with no checksum makes
    the content unknown; a file removed is expected gone."""
    if res.get("state") == "absent":
        wants.clear()
        wants["want_absent"] = True
        return
    wants.pop("want_absent", None)
    if action in EDITS_CONTENT:
        wants.pop("want_sha1", None)
    for key, want in REPORTED.items():
        value = res.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            wants[want] = value


def _dest(watch: Watch, args: Args, res: Args, data: Args, kind: str) -> str | None:
    """What the module writes at ``dest``: a file (a signing key), or a tree (an unpacked
    archive or release) whose every file the run put there."""
    if not args.get("dest"):
        return f"{action_of(data)}: no dest in its result"
    watch.add(kind, path=str(args["dest"]))
    return None


def _read_file(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """A file the run read (``stat``, ``slurp``, ``wait_for`` on a path): what the run did
    next followed from it. What the kernel makes up as it goes is never watched."""
    src = args.get("path") or args.get("src") or res.get("source")
    if src and not str(src).startswith(VOLATILE):
        watch.add("file", path=str(src))


def _fetch(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """The host's file, and the copy on the controller."""
    if args.get("src"):
        watch.add("file", path=str(args["src"]))
    if res.get("dest"):
        watch.add("local", path=str(res["dest"]))


def _uri(watch: Watch, args: Args, res: Args, data: Args) -> str | None:
    """A read changes nothing; any other method changes something behind an API, which no
    watch item on the host can see."""
    if str(args.get("method", "GET")).upper() not in READ_METHODS:
        return f"uri {args.get('method')} (an API call's effect cannot be watched)"
    return None


def _packages(watch: Watch, args: Args, res: Args, data: Args) -> str | None:
    """Packages by name. A ``.deb``, an upgrade or ``state=latest`` follow a repository
    that can move on while the host stays as it was: those cannot be watched."""
    action = action_of(data)
    names = _names(args.get("names") or args.get("name") or args.get("package"))
    if args.get("deb") or args.get("upgrade") not in (None, "no", False):
        return f"{action} with deb/upgrade (not a list of packages)"
    if str(args.get("state", "present")) == "latest":
        return f"{action} state=latest (the repository may move on)"
    for name in names:
        watch.add("package", name=name)
    return None


def _unit_items(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """A unit, and what the task asked of it (the last task on a unit decides)."""
    name = args.get("name") or res.get("name")
    if not name:
        return
    unit = _unit(str(name))
    watch.add("unit", name=unit)
    want = watch.unit_wants.setdefault(unit, {})
    state = str(args.get("state") or "")
    if state in ("started", "restarted", "reloaded"):
        want["active"] = True
    elif state == "stopped":
        want["active"] = False
    if isinstance(args.get("enabled"), bool):
        want["enabled"] = args["enabled"]


def _iptables(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """A firewall rule, watched in its chain (where its comment finds it)."""
    watch.add(
        "chain",
        family=str(args.get("ip_version") or "ipv4"),
        table=str(args.get("table") or "filter"),
        chain=str(args.get("chain") or res.get("chain") or "INPUT"),
        comment=str(args.get("comment") or ""),
    )


def _account(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """A user's (``passwd``) or group's (``group``) entry, as the run made it."""
    db = "passwd" if action_of(data) == "user" else "group"
    watch.add("account", db=db, name=args.get("name"))


def _hostname(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """The host's name, which the run set."""
    watch.add("hostname")


def _command(watch: Watch, args: Args, res: Args, data: Args) -> str | None:
    """A command may change anything: watchable only when it names what it creates or
    removes (those paths are watched). One its role marks ``changed_when: false`` only
    reads and never comes here (WatchList reads that from the role)."""
    marks = [args.get("creates"), args.get("removes")]
    if not any(marks):
        return f"{action_of(data)} that may change something (mark it changed_when: false, or give creates:)"
    for value in marks:
        if value:
            watch.add("file", path=str(value))
    return None


# ----------------------------------------- what homeforge's own modules (plugins/modules) manage
def _kernel_params(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """The sysctl drop-in it writes, and each key's live value in the kernel."""
    if args.get("file"):
        watch.add("file", path=str(args["file"]))
    for key in args.get("params") or {}:
        watch.add("sysctl", key=str(key))


def _wireguard_host(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """The private key file, and the interface's live configuration (its peers)."""
    iface = args.get("interface", "wg0")
    watch.add("file", path=str(res.get("key_file") or f"/etc/wireguard/{iface}.key"))
    watch.add("wireguard", iface=str(iface))


def _wireguard_psk(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """The interface's preshared keys: one directory, one file per peer."""
    directory = args.get("directory") or "/etc/wireguard"
    watch.add("tree", path=f"{directory}/{args.get('interface', 'wg0')}.psk.d")


def _ollama_model(watch: Watch, args: Args, res: Args, data: Args) -> str | None:
    """A model as Ollama lists it (its digest); ``update`` follows a registry that may move
    on while the host stays as it was, and cannot be watched."""
    if str(args.get("state", "present")) == "present" and args.get("update"):
        return "ollama_model update=true (the registry may move on)"
    watch.add("ollama_model", name=_listed_name(args.get("name")), url=args.get("url"))
    return None


def _listed_name(name: Any) -> Any:
    """The name Ollama's ``/api/tags`` lists a model under, by the function the
    ``ollama_model`` module normalises with (``library/x:1b`` and
    ``registry.ollama.ai/library/x:1b`` are ``x:1b``; ``host:5000/ns/m`` is ``...:latest``),
    so the probe looks up what the module made present."""
    from homeforge.module_utils import load

    names = load("ollama")
    try:
        return names.short_name(name)
    except names.ModelNameError:
        return name  # the module refused it: the run failed, nothing is stamped


def _nvidia_gpu_facts(watch: Watch, args: Args, res: Args, data: Args) -> None:
    """A read: the devices it found and whether the driver answers, which the run's
    decisions followed from. "Loaded" means what the module means: nvidia-smi (the same
    program, with the module's query) exits 0."""
    from homeforge.module_utils import load

    nvidia = load("nvidia")
    watch.add(
        "gpus",
        sysfs_root=str(args.get("sysfs_root") or "/sys"),
        nvidia_smi=str(args.get("nvidia_smi") or ""),
        query=" ".join(nvidia.QUERY_ARGS),
    )


HOMEFORGE_HANDLERS: dict[str, Handler] = {
    "apt_signing_key": partial(_dest, kind="file"),
    "kernel_params": _kernel_params,
    "release_artifact": partial(_dest, kind="tree"),
    "wireguard_host": _wireguard_host,
    "wireguard_psk": _wireguard_psk,
    "ollama_model": _ollama_model,
    "nvidia_gpu_facts": _nvidia_gpu_facts,
}

# Module (short name) -> its handler.
HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(NO_EFFECT, _no_effect),
    **dict.fromkeys(WRITES_FILE, _written_file),
    "get_url": partial(_written_file, missing="dest"),
    **dict.fromkeys(("stat", "slurp", "wait_for"), _read_file),  # wait_for: its path
    "unarchive": partial(_dest, kind="tree"),
    "fetch": _fetch,
    "uri": _uri,
    **dict.fromkeys(("apt", "package", "deb_packages", "dpkg_selections"), _packages),
    **dict.fromkeys(("systemd_service", "systemd", "service"), _unit_items),
    "iptables": _iptables,
    **dict.fromkeys(("user", "group"), _account),
    "hostname": _hostname,
    **HOMEFORGE_HANDLERS,
    **dict.fromkeys(COMMANDS, _command),
}
