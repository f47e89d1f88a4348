"""Which roles read an inventory variable: what a change of its value must run again.

A changed value of the inventory (a host's own variable, or one roles read from other
hosts) names its roles by where its name is written: a role reads ``ollama_keep_alive``
when one of its files (tasks, templates, defaults, argument specs...) names it. The
answer is widened, never narrowed, until nothing is added:

- through values that name it: a role default, a role's ``set_fact`` or an inventory
  value written as ``"{{ ollama_port }}"`` makes every reader of that variable a reader
  of this one (a vaulted inventory value may name any variable);
- through the collection's plugins: a filter or module whose code (or a module_utils
  file it imports, and so on) names the variable makes every role that calls it a
  reader (a filter given ``hostvars`` reads its keys);
- a role that reads variables by computed names (``lookup('vars', item.key)``,
  ``vars[...]``, ``hostvars[h][key]``, ``vars | dict2items``) reads every one.

No role list is given (only the whole playbook is then safe) for a connection or magic
variable (``ansible_*``, ``mitogen_*``, ``groups``...) or a name that is not an
identifier, one the playbook being run (or a playbook it imports) names, or when the
playbook's directory has ``group_vars`` or ``host_vars`` of its own. A role that calls an
action plugin (it sees every variable of the task) reads every one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from homeforge.errors import HomeforgeError
from homeforge.fastpath.inputs import playbook_files, role_names
from homeforge.inventory.model import Inventory, Vaulted

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# how a role reads a variable without writing its name
COMPUTED = re.compile(
    r"lookup\(\s*['\"](?:ansible\.builtin\.)?vars['\"]"
    r"|(?:query|q)\(\s*['\"](?:ansible\.builtin\.)?(?:vars|varnames)['\"]|varnames"
    r"|(?<![A-Za-z0-9_])vars\s*(?:\[|\||\.get\b|\.items\b|\.keys\b)"
    r"|hostvars\s*\[[^\]]+\]\s*(?:\[\s*(?!['\"])|\||\.get\b|\.items\b|\.keys\b)"
)
CONNECTION = ("ansible_", "mitogen_")
MAGIC = {"inventory_hostname", "inventory_hostname_short", "group_names", "groups", "hostvars"}
SKIPPED = {"tests", "molecule"}
DOCS = re.compile(r'^(?:DOCUMENTATION|EXAMPLES|RETURN)\s*=\s*r?""".*?"""', re.S | re.M)
SET_FACT = ("set_fact", "ansible.builtin.set_fact")
ANY = frozenset({"*"})  # names every variable


def _words(text: str) -> frozenset[str]:
    """The identifiers a text names (a variable is named by one)."""
    return frozenset(WORD.findall(text))


def _scalars(data: Any) -> Iterator[str]:
    """Every key and scalar of loaded YAML, one by one (so no escape glues two words)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _scalars(value)
    elif isinstance(data, list):
        for value in data:
            yield from _scalars(value)
    elif data is not None:
        yield str(data)


def _value_words(value: Any) -> frozenset[str]:
    """The names a variable's value uses; a value that is still encrypted (``!vault``
    without its password) may use any."""
    if any(isinstance(leaf, Vaulted) for leaf in _leaves(value)):
        return ANY
    return frozenset().union(*(_words(s) for s in _scalars(value)))


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _file_words(path: Path) -> tuple[frozenset[str], bool]:
    """The names a file uses, and whether it reads variables by computed names. YAML by
    its keys and scalars (comments dropped); a plugin without its documentation blocks
    (their examples name variables it never reads); a file that cannot be read names
    every variable."""
    raw = path.read_text(errors="replace")
    computed = COMPUTED.search(raw) is not None
    if path.suffix in (".yml", ".yaml"):
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError:
            return ANY, computed
        return frozenset().union(*(_words(s) for s in _scalars(data))), computed
    return _words(DOCS.sub("", raw) if path.suffix == ".py" else raw), computed


def _role_files(root: Path, role: str) -> list[Path]:
    base = root / "roles" / role
    return [
        p
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.suffix != ".md" and not SKIPPED & set(p.relative_to(base).parts)
    ]


@lru_cache(maxsize=4)
def role_words(root: Path) -> dict[str, frozenset[str]]:
    """Each role's names (its files, tests and documentation left out); a role that
    reads variables by computed names names every one."""
    out = {}
    for role in role_names(root):
        found = [_file_words(p) for p in _role_files(root, role)]
        words = frozenset().union(*(w for w, _ in found))
        out[role] = ANY if any(c for _, c in found) or "*" in words else words
    return out


def _set_facts(data: Any) -> Iterator[tuple[str, frozenset[str]]]:
    """``set_fact`` keys anywhere in loaded task YAML, with the names their values use."""
    if isinstance(data, list):
        for item in data:
            yield from _set_facts(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key in SET_FACT and isinstance(value, dict):
                yield from ((str(k), _value_words(v)) for k, v in value.items())
            else:
                yield from _set_facts(value)


@lru_cache(maxsize=4)
def _role_definitions(root: Path) -> tuple[tuple[str, frozenset[str]], ...]:
    """Every variable the roles define (defaults, vars, ``set_fact``) with the names its
    value uses."""
    found: list[tuple[str, frozenset[str]]] = []
    for role in role_names(root):
        for path in _role_files(root, role):
            kind = path.relative_to(root / "roles" / role).parts[0]
            if path.suffix not in (".yml", ".yaml") or kind not in ("defaults", "vars", "tasks"):
                continue
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                found.append(("*", ANY))
                continue
            if kind == "tasks":
                found += _set_facts(data)
            elif isinstance(data, dict):
                found += [(str(k), _value_words(v)) for k, v in data.items()]
    return tuple(found)


IMPORT = re.compile(r"module_utils(?:\.|\s+import\s+\(?)\s*([\w\s,]+)")


@lru_cache(maxsize=4)
def _plugins(root: Path) -> tuple[tuple[frozenset[str], tuple[str, ...]], ...]:
    """Each filter and module file: the names its code uses (with the module_utils files
    it imports, and those they import), and the names a role calls it by
    (``homeforge.homelab.NAME``)."""
    utils = {
        p.stem: p.read_text(errors="replace")
        for p in (root / "plugins" / "module_utils").glob("*.py")
    }

    def imported(code: str) -> set[str]:
        return {n for m in IMPORT.findall(code) for n in re.split(r"[\s,]+", m) if n in utils}

    out = []
    for kind in ("filter", "modules"):
        for path in sorted((root / "plugins" / kind).glob("*.py")):
            code = path.read_text(errors="replace")
            seen, todo = set(), imported(code)
            while todo:
                stem = todo.pop()
                seen.add(stem)
                todo |= imported(utils[stem]) - seen
            words = _words("\n".join(DOCS.sub("", t) for t in [code, *(utils[s] for s in seen)]))
            if kind == "filter":
                names = tuple(re.findall(r"['\"](\w+)['\"]\s*:", code.split("def filters", 1)[-1]))
            else:
                names = (path.stem,)
            out.append((words, names))
    # an action plugin sees every variable of the task: whoever calls it reads them all
    out += [(ANY, (p.stem,)) for p in sorted((root / "plugins" / "action").glob("*.py"))]
    return tuple(out)


@lru_cache(maxsize=4)
def _role_calls(root: Path) -> dict[str, frozenset[str]]:
    """Each role's ``homeforge.homelab.NAME`` references (the plugins it calls)."""
    return {
        role: frozenset(
            name
            for p in _role_files(root, role)
            for name in re.findall(r"homeforge\.homelab\.(\w+)", p.read_text(errors="replace"))
        )
        for role in role_names(root)
    }


def _grown(name: str, defined: Iterable[tuple[str, frozenset[str]]]) -> set[str]:
    """``name`` and every variable whose value names one of them, until none is added."""
    defined = list(defined)
    names, more = set(), {name}
    while more:
        names |= more
        more = {k for k, used in defined if k not in names and ("*" in used or used & names)}
    return names


def readers(root: Path, playbook: Path, name: str, values: dict[str, Any]) -> set[str] | None:
    """The roles that read variable ``name`` (see the module's docstring), ``values``
    being the host's inventory variables; None when only the whole playbook is safe."""
    if not IDENTIFIER.match(name):
        return None
    if any((playbook.parent / d).exists() for d in ("group_vars", "host_vars")):
        return None
    own = [(str(k), _value_words(v)) for k, v in values.items()]
    names = _grown(name, [*_role_definitions(root), *own])
    if any(n.startswith(CONNECTION) or n in MAGIC or n == "*" for n in names):
        return None
    plays = frozenset().union(*(_file_words(p)[0] for p in playbook_files(playbook)))
    if "*" in plays or names & plays:
        return None
    found = {role for role, words in role_words(root).items() if "*" in words or words & names}
    for words, called in _plugins(root):
        if "*" in words or words & names:
            found |= {role for role, calls in _role_calls(root).items() if calls & set(called)}
    return found


def host_values(inv: Inventory, host: str) -> dict[str, Any]:
    """The host's inventory variables, to read the names they use: a ``!vault`` value
    decrypted (a converge has the password; the plaintext is neither kept nor shown),
    or left encrypted (it may then use any name) when it cannot be."""
    out = {}
    for key, value in inv.hostvars[host].items():
        if isinstance(value, Vaulted):
            with contextlib.suppress(HomeforgeError):
                value = inv.setting(host, key)
        out[key] = value
    return out
