"""The inputs digest: everything on the controller that decides one host's run.

Per host, a SHA-256 over:

- the stamp format, homeforge's version and code, ansible-core's version;
- the playbook file, and the content of the roles its plays give this host (their
  dependencies and the roles they include, found by name), except each role's
  ``tests/`` and README; every plugin (modules, filters, module_utils);
- the host's own variables, the inventory's groups, and of every other host the
  variables roles read across hosts (``hostvars[other].KEY``, ``map('extract',
  hostvars) | ...attr('KEY')`` in roles and playbooks, and the mesh planner's keys): so an edit to one host's ``ollama_models`` leaves the
  others' digests alone, while a new mesh member or a moved NFS server changes theirs;
- extra variables (``-e``), and files on the controller the variables name (a release
  directory, an SSH key): their size and modification time.

Nothing here imports Ansible or reads a host; it costs milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import homeforge
from homeforge import paths
from homeforge.inventory.model import Inventory
from homeforge.remote.stampops import FORMAT

ROLE_PREFIX = "homeforge.homelab."
ROLE_REF = re.compile(r"homeforge\.homelab\.([a-z0-9_]+)")
# hostvars[NAME].key, hostvars[NAME]['key'], hostvars[NAME]["key"]
CROSS_REF = re.compile(r"hostvars\[[^\]]+\](?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\])")
# map('extract', hostvars) | ...attr('key') / map(attribute='key')
EXTRACT_REF = re.compile(r"'extract',\s*hostvars\)[^\n]*?(?:attr\('|attribute=')([A-Za-z_]\w*)")
SKIPPED_PARTS = {"tests", "__pycache__"}
CONTROLLER_FILES = 2000  # entries of a directory a variable names


def _sha(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def tree_digest(root: Path, skip_docs: bool = True) -> str:
    """Names and contents of the files under root (README/tests of roles left out)."""
    digest = hashlib.sha256()
    if not root.is_dir():
        return _sha("missing", str(root))
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if SKIPPED_PARTS & set(rel.parts) or not path.is_file():
            continue
        if skip_docs and path.suffix == ".md":
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def role_names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "roles").iterdir() if (p / "tasks").is_dir())


@lru_cache(maxsize=64)
def _role_refs(role_dir: Path) -> frozenset[str]:
    """Roles this role names anywhere in its files (include_role, dependencies)."""
    found: set[str] = set()
    for path in role_dir.rglob("*.yml"):
        if SKIPPED_PARTS & set(path.relative_to(role_dir).parts):
            continue
        found.update(ROLE_REF.findall(path.read_text(errors="replace")))
    return frozenset(found)


def role_closure(root: Path, roles: Iterable[str]) -> set[str]:
    known = set(role_names(root))
    todo, seen = [r for r in roles if r in known], set()
    while todo:
        role = todo.pop()
        if role in seen:
            continue
        seen.add(role)
        todo += [r for r in _role_refs(root / "roles" / role) if r in known and r not in seen]
    return seen


def plays(playbook: Path) -> list[tuple[str, set[str]]]:
    """(host pattern, roles named) for each play; a play that imports another playbook
    or names no pattern gives ("all", every role) so nothing is missed."""
    try:
        data = yaml.safe_load(playbook.read_text()) or []
    except (OSError, yaml.YAMLError):
        return []
    result = []
    for play in data if isinstance(data, list) else []:
        if not isinstance(play, dict):
            continue
        pattern = play.get("hosts")
        text = _canonical(play)
        if not isinstance(pattern, str) or "{{" in pattern or "import_playbook" in play:
            result.append(("all", {"*"}))
            continue
        result.append((pattern, set(ROLE_REF.findall(text))))
    return result


STOPPERS = re.compile(r"^\s*-?\s*(any_errors_fatal|max_fail_percentage)\s*:", re.MULTILINE)


def stops_other_hosts(playbook: Path) -> bool:
    """Whether the playbook or any role may stop healthy hosts when another fails."""
    root = paths.content_root()
    files = [playbook, *(root / "roles").rglob("*.yml")]
    return any(STOPPERS.search(f.read_text(errors="replace")) for f in files if f.is_file())


def cross_host_keys(root: Path) -> set[str]:
    """Variable names the roles and playbooks read from other hosts' hostvars."""
    keys: set[str] = set()
    for base in ("roles", "playbooks", "plugins"):
        for path in (root / base).rglob("*"):
            if path.suffix not in (".yml", ".yaml", ".j2", ".py") or "tests" in path.parts:
                continue
            text = path.read_text(errors="replace")
            for attr, item in CROSS_REF.findall(text):
                keys.add(attr or item)
            keys.update(EXTRACT_REF.findall(text))
    keys.discard("get")
    from homeforge.wireguard.live import load_mesh_utils

    keys.update(load_mesh_utils().MESH_KEYS)
    return keys


def _controller_files(value: Any, out: dict[str, str]) -> None:
    """(size, mtime) of controller files and directories that variables name."""
    if isinstance(value, dict):
        for item in value.values():
            _controller_files(item, out)
    elif isinstance(value, list):
        for item in value:
            _controller_files(item, out)
    elif isinstance(value, str) and value.startswith(("/", "~/")) and "\n" not in value:
        path = Path(value).expanduser()
        try:
            st = path.stat()
        except (OSError, ValueError):
            return
        if path.is_dir():
            entries = []
            for count, (base, _dirs, files) in enumerate(os.walk(path)):
                for name in sorted(files):
                    full = Path(base) / name
                    try:
                        fst = full.stat()
                    except OSError:
                        continue
                    entries.append(f"{full.relative_to(path)} {fst.st_size} {fst.st_mtime_ns}")
                if count > CONTROLLER_FILES:
                    break
            out[str(path)] = _sha(*sorted(entries))
        else:
            out[str(path)] = f"{st.st_size} {st.st_mtime_ns}"


def _extra_vars_text(extra_vars: list[str]) -> list[str]:
    texts = []
    for item in extra_vars:
        text = item.strip()
        if text.startswith("@"):
            with contextlib.suppress(OSError):
                text += "\0" + Path(text[1:]).expanduser().read_text()
        texts.append(text)
    return texts


def digests(
    inv: Inventory, playbook: Path, hosts: list[str], extra_vars: list[str] | None = None
) -> dict[str, dict[str, str]]:
    """Each host's inputs, as one digest per part ("role ollama", "host variables"...),
    so a probe can say which part changed."""
    root = paths.content_root()
    try:
        ansible_version = metadata.version("ansible-core")
    except metadata.PackageNotFoundError:
        ansible_version = "?"
    common = {
        "homeforge": _sha(
            f"format {FORMAT}",
            homeforge.__version__,
            tree_digest(Path(homeforge.__file__).parent, skip_docs=False),
            ansible_version,
        ),
        "playbook": _sha(str(playbook.resolve()), playbook.read_bytes()),
        "plugins": tree_digest(root / "plugins", skip_docs=False),
        "extra variables": _sha(*_extra_vars_text(extra_vars or [])),
    }
    role_digests: dict[str, str] = {}
    host_roles: dict[str, set[str]] = {h: set() for h in hosts}
    every_role = set(role_names(root))
    for pattern, roles in plays(playbook):
        members = _pattern_hosts(inv, pattern)
        for host in hosts:
            if host in members:
                host_roles[host] |= every_role if "*" in roles else roles
    keys = cross_host_keys(root)
    cross = {
        other: {k: v for k, v in sorted(inv.hostvars[other].items()) if k in keys}
        for other in inv.hosts
    }
    common["groups"] = _sha(_canonical(inv.groups))
    common["other hosts' variables"] = _sha(_canonical(cross))
    result = {}
    for host in hosts:
        parts = dict(common)
        for role in sorted(role_closure(root, host_roles[host])):
            if role not in role_digests:
                role_digests[role] = tree_digest(root / "roles" / role)
            parts[f"role {role}"] = role_digests[role]
        files: dict[str, str] = {}
        _controller_files(inv.hostvars[host], files)
        parts["host variables"] = _sha(host, _canonical(inv.hostvars[host]))
        parts["controller files"] = _sha(_canonical(files))
        result[host] = parts
    return result


def _pattern_hosts(inv: Inventory, pattern: str) -> set[str]:
    """Hosts of a play's pattern: names, groups and ``all`` joined by ``:`` or ``,``; any
    other pattern (``!``, ``&``, wildcards) as Ansible resolves it."""
    parts = [p.strip() for p in re.split(r"[:,]", pattern) if p.strip()]
    if any(set(p) & set("!&*?~[") for p in parts):
        manager = getattr(inv, "_manager", None)
        return {h.name for h in manager.get_hosts(pattern)} if manager else set(inv.hosts)
    selected: set[str] = set()
    for part in parts:
        selected |= set(inv.group_members(part)) | ({part} & set(inv.hosts))
    return selected
