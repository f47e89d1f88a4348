"""The inputs digest: everything on the controller that decides one host's run.

Per host, a SHA-256 over:

- the stamp format, homeforge's version and code, ansible-core's version; the Ansible
  settings homeforge does not make (``ANSIBLE_*`` variables, ``~/.ansible.cfg`` and
  ``/etc/ansible/ansible.cfg``, the collections' release);
- the playbook file, and the content of the roles its plays give this host (their
  dependencies and the roles they include, found by name), except each role's
  ``tests/`` and README; every plugin (modules, filters, module_utils);
- the host's own variables, one part each (``variable KEY``), the inventory's groups,
  and of every other host the variables roles read across hosts, one part per
  variable (``other hosts' variable KEY``: ``hostvars[other].KEY``, ``map('extract',
  hostvars) | ...attr('KEY')`` in roles and playbooks, and the mesh planner's keys):
  so an edit to a variable no role reads across hosts leaves the others' digests
  alone, while a new mesh member or a moved NFS server changes theirs, and a changed
  part names the variable (:mod:`homeforge.fastpath.readers` finds its roles);
- what earlier runs left in the controller's fact cache for those cross-host variables
  (each host's WireGuard public key and preshared-key fingerprints): a host that comes
  back with a new key changes its peers' digests;
- a vaulted value as its ciphertext, and a value from a file encrypted whole as that
  file's ciphertext (no digest needs, or holds, a decrypted secret);
- extra variables (``-e``), and files on the controller that path-like variables name
  (``*_file``, ``*_dir``, ``*_src``...: an SSH key, a release directory): their size and
  modification time.

The playbook counts with its whole directory (imported playbooks, ``group_vars``);
groups with their hosts in inventory order (the first server is ``groups.server[0]``).

Nothing here reads a host; it costs milliseconds.
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
from homeforge.fastpath.controller_files import controller_files
from homeforge.fastpath.references import with_references
from homeforge.inventory.model import Inventory
from homeforge.remote.stampops import FORMAT

ROLE_PREFIX = "homeforge.homelab."
ROLE_REF = re.compile(r"homeforge\.homelab\.([a-z0-9_]+)")
# hostvars[NAME].key, hostvars[NAME]['key'], hostvars[NAME]["key"]
CROSS_REF = re.compile(r"hostvars\[[^\]]+\](?:\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\])")
# map('extract', hostvars) | ...attr('key') / map(attribute='key')
EXTRACT_REF = re.compile(r"'extract',\s*hostvars\)[^\n]*?(?:attr\('|attribute=')([A-Za-z_]\w*)")
# hostvars[NAME]['ansible_facts']['key'] / .ansible_facts.key: the fact cache's ansible_key
HOST_FACTS = re.compile(r"hostvars\[[^\]]+\]\s*(?:\.|\[['\"])ansible_facts")
FACT_REF = re.compile(
    r"\[?['\"]?ansible_facts['\"]?\]?(?:\.([a-z_][a-z0-9_]*)|\[['\"]([a-z_][a-z0-9_]*)['\"]\])"
)
SKIPPED_PARTS = {"tests", "__pycache__"}


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


@lru_cache(maxsize=64)
def _reads_inventory_dir(root: Path, role: str) -> bool:
    """Whether a role's defaults, vars, tasks or templates use ``inventory_dir``."""
    for part in ("defaults", "vars", "tasks", "templates", "handlers"):
        for path in (root / "roles" / role / part).rglob("*"):
            if path.is_file() and "inventory_dir" in path.read_text(errors="replace"):
                return True
    return False


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


def plays(playbook: Path, _seen: frozenset[Path] = frozenset()) -> list[tuple[str, set[str]]]:
    """(host pattern, roles named) for each play, those of an imported playbook (a plain
    file name beside it, such as check.yml) included; any other play that names no
    plain pattern gives ("all", every role) so nothing is missed."""
    try:
        data = yaml.safe_load(playbook.read_text()) or []
    except (OSError, yaml.YAMLError):  # !vault, !unsafe...: assume every role
        return [("all", {"*"})]
    result = []
    for play in data if isinstance(data, list) else []:
        if not isinstance(play, dict):
            continue
        imported = play.get("import_playbook", play.get("ansible.builtin.import_playbook"))
        target = (playbook.parent / str(imported)).resolve() if imported else None
        if target is not None and "{{" not in str(imported) and target not in _seen:
            result += plays(target, _seen | {playbook.resolve()})
            continue
        pattern = play.get("hosts")
        text = _canonical(play)
        if not isinstance(pattern, str) or "{{" in pattern or imported:
            result.append(("all", {"*"}))
            continue
        result.append((pattern, set(ROLE_REF.findall(text))))
    return result


# any_errors_fatal and max_fail_percentage stop healthy hosts when one fails; so does
# serial, since a batch that fails whole ends the play for the batches after it.
STOPPERS = re.compile(r"^\s*-?\s*(any_errors_fatal|max_fail_percentage|serial)\s*:", re.MULTILINE)


def stops_other_hosts(playbook: Path) -> bool:
    """Whether the playbook, a playbook it imports, or any role may stop healthy hosts when
    another fails."""
    root = paths.content_root()
    files = [*playbook_files(playbook), *(root / "roles").rglob("*.yml")]
    return any(STOPPERS.search(f.read_text(errors="replace")) for f in files if f.is_file())


def playbook_files(playbook: Path, seen: frozenset = frozenset()) -> list[Path]:
    """The playbook and the playbooks it imports (import_playbook, relative to its own
    directory), recursively; an import that cannot be read is left out."""
    if playbook in seen or not playbook.is_file():
        return []
    found = [playbook]
    try:
        plays = yaml.safe_load(playbook.read_text(errors="replace")) or []
    except yaml.YAMLError:
        return found
    for play in plays if isinstance(plays, list) else []:
        target = isinstance(play, dict) and (
            play.get("import_playbook") or play.get("ansible.builtin.import_playbook")
        )
        if isinstance(target, str) and "{{" not in target:
            found += playbook_files(playbook.parent / target, seen | {playbook})
    return found


def last_play(playbook: Path) -> str:
    """The name Ansible reports for the playbook's last play (its ``name``, else its
    host pattern); empty when the playbook cannot be read that simply."""
    try:
        data = yaml.safe_load(playbook.read_text()) or []
    except (OSError, yaml.YAMLError):
        return ""
    if not isinstance(data, list) or not data or not isinstance(data[-1], dict):
        return ""
    last = data[-1]
    if "import_playbook" in last or "ansible.builtin.import_playbook" in last:
        return ""
    return str(last.get("name") or last.get("hosts") or "")


def _content_texts(root: Path) -> Iterable[str]:
    """The text of every task, template and plugin file (their tests left out)."""
    for base in ("roles", "playbooks", "plugins"):
        for path in (root / base).rglob("*"):
            if path.suffix in (".yml", ".yaml", ".j2", ".py") and "tests" not in path.parts:
                yield path.read_text(errors="replace")


def cross_host_keys(root: Path) -> set[str]:
    """Variable names the roles and playbooks read from other hosts' hostvars."""
    keys: set[str] = set()
    for text in _content_texts(root):
        for attr, item in CROSS_REF.findall(text):
            keys.add(attr or item)
        keys.update(EXTRACT_REF.findall(text))
    keys.discard("get")
    from homeforge.wireguard.live import load_mesh_utils

    keys.update(load_mesh_utils().MESH_KEYS)
    return keys


@lru_cache(maxsize=8)
def cross_host_facts(root: Path) -> frozenset[str]:
    """The facts roles read from other hosts (``hostvars[h]['ansible_facts']['default_ipv4']``),
    named as the fact cache names them (``ansible_default_ipv4``)."""
    found: set[str] = set()
    for text in _content_texts(root):
        for line in text.splitlines():
            if HOST_FACTS.search(line):
                found.update("ansible_" + (a or b) for a, b in FACT_REF.findall(line))
    return frozenset(found)


def ordered_groups(inv: Inventory) -> dict[str, list[str]]:
    """Groups with their hosts in inventory order: ``groups.server | first`` decides the
    first server, so promoting another one must change the digest."""
    manager = getattr(inv, "_manager", None)
    if manager is None:
        return inv.groups
    return {
        name: [h.name for h in group.get_hosts()]
        for name, group in sorted(manager.groups.items())
        if name not in ("all", "ungrouped")
    }


DYNAMIC = re.compile(r"\b(lookup|query|q|now)\s*\(")


def unresolvable(hostvars: dict[str, Any]) -> str | None:
    """The first variable whose value is only known when Ansible runs (a lookup of a file
    or an environment variable, the time): its digest would not see it change."""
    for key, value in sorted(hostvars.items()):
        if DYNAMIC.search(json.dumps(value, default=str)):
            return key
    return None


def cached_facts(hosts: list[str], keys: set[str]) -> dict[str, dict[str, Any]]:
    """What the last runs left in the controller's fact cache for the variables roles
    read across hosts (a host's WireGuard public key, its preshared keys' fingerprints).
    An expired or missing entry counts as absent, so every host that depends on it runs."""
    from ansible.plugins.loader import cache_loader

    # Facts only where roles read them across hosts (the whole of ansible_facts changes
    # at every gathering: its clock, uptime and counters)
    facts = cross_host_facts(paths.content_root())
    wanted = {k for k in keys if not k.startswith("ansible_")} | set(facts)
    cache = cache_loader.get(
        "jsonfile",
        _uri=str(paths.state_dir() / "facts"),
        _timeout=int(os.environ.get("ANSIBLE_CACHE_PLUGIN_TIMEOUT", "86400")),
    )
    view: dict[str, dict[str, Any]] = {}
    for host in hosts:
        try:
            facts = cache.get(host)
        except (KeyError, ValueError, OSError):
            continue
        view[host] = {k: facts[k] for k in sorted(wanted) if k in facts}
    return view


def _extra_vars_text(extra_vars: list[str]) -> list[str]:
    texts = []
    for item in extra_vars:
        text = item.strip()
        if text.startswith("@"):
            with contextlib.suppress(OSError):
                text += "\0" + Path(text[1:]).expanduser().read_text()
        texts.append(text)
    return texts


def ansible_settings() -> str:
    """What a run takes from Ansible's surroundings rather than from homeforge: the
    ``ANSIBLE_*`` environment variables (they win over homeforge's own settings), the
    configuration files Ansible reads outside the playbook's directory (``$ANSIBLE_CONFIG``,
    ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``; the first one found is the one used)
    and the collections' release (the ``ansible`` package: kubernetes.core, ansible.posix...)."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("ANSIBLE_"))
    config = ""
    for candidate in (
        os.environ.get("ANSIBLE_CONFIG"),
        "~/.ansible.cfg",
        "/etc/ansible/ansible.cfg",
    ):
        if not candidate:
            continue
        with contextlib.suppress(OSError):
            config = candidate + "\0" + Path(candidate).expanduser().read_text(errors="replace")
            break
    try:
        collections = metadata.version("ansible")
    except metadata.PackageNotFoundError:
        collections = "?"
    return _sha(_canonical(env), config, collections)


# The parts of the inputs a run itself may change (what it leaves in the fact cache).
RUN_CHANGES = ("other hosts' facts",)
# One part per inventory variable: the host's own, and those roles read from other hosts.
VARIABLE_PART = "variable "
OTHERS_PART = "other hosts' variable "


def digests(
    inv: Inventory,
    playbook: Path,
    hosts: list[str],
    extra_vars: list[str] | None = None,
    roles: dict[str, set[str]] | None = None,
) -> dict[str, dict[str, str]]:
    """Each host's inputs, as one digest per part ("role ollama", "variable ollama_models"...),
    so a probe can say which part changed. ``roles``: :func:`closures`, when the caller
    has them."""
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
        "Ansible settings": ansible_settings(),
        # the playbook and its directory (imported playbooks, group_vars beside it)
        "playbook": _sha(str(playbook.resolve()), tree_digest(playbook.parent, skip_docs=False)),
        "plugins": tree_digest(root / "plugins", skip_docs=False),
        # meta/runtime.yml routes plugins and sets the Ansible version the collection needs
        "collection meta": tree_digest(root / "meta", skip_docs=False),
        "extra variables": _sha(*_extra_vars_text(extra_vars or [])),
    }
    role_digests: dict[str, str] = {}
    keys = cross_host_keys(root)
    # Variables as sealed_vars gives them: a vaulted value counts as its ciphertext.
    sealed = {other: inv.sealed_vars(other) for other in inv.hosts}
    common["groups"] = _sha(_canonical(ordered_groups(inv)))
    for key in sorted(keys):  # one part per variable, so a change names what it needs
        # as each host resolves it: a templated value with the variables it names
        values = {o: with_references(sealed, o, key) for o, v in sealed.items() if key in v}
        if values:
            common[OTHERS_PART + key] = _sha(_canonical(values))
    common["other hosts' facts"] = _sha(_canonical(cached_facts(inv.hosts, keys)))
    result = {}
    for host, closure_set in (roles or closures(inv, playbook, hosts)).items():
        parts = dict(common)
        closure = sorted(closure_set)
        for role in closure:
            if role not in role_digests:
                role_digests[role] = tree_digest(root / "roles" / role)
            parts[f"role {role}"] = role_digests[role]
        if any(_reads_inventory_dir(root, role) for role in closure):
            # the role builds a controller path from it (the ingress CA's export)
            parts["inventory location"] = _sha(str(Path(inv.path).resolve().parent))
        parts["host"] = _sha(host)
        for key in sorted(sealed.setdefault(host, inv.sealed_vars(host))):  # with what it names
            parts[VARIABLE_PART + key] = _sha(_canonical(with_references(sealed, host, key)))
        parts["controller files"] = _sha(_canonical(controller_files(inv.hostvars[host])))
        result[host] = parts
    return result


def closures(inv: Inventory, playbook: Path, hosts: list[str]) -> dict[str, set[str]]:
    """Each host's roles in this playbook, with the roles they include."""
    root = paths.content_root()
    host_roles: dict[str, set[str]] = {h: set() for h in hosts}
    every_role = set(role_names(root))
    for pattern, roles in plays(playbook):
        members = _pattern_hosts(inv, pattern)
        for host in hosts:
            if host in members:
                host_roles[host] |= every_role if "*" in roles else roles
    return {host: role_closure(root, roles) for host, roles in host_roles.items()}


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
