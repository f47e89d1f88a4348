"""Which roles read an inventory variable: what a change of its value must run again.

A changed value of the inventory (a host's own variable, or one roles read from other
hosts) names its roles by where its name is written: a role reads ``ollama_keep_alive``
when one of its files (tasks, templates, defaults, argument specs...) names it. The
answer is widened, never narrowed, until nothing is added:

- through values that name it: a role default or an inventory value written as
  ``"{{ ollama_port }}"`` makes every reader of that variable a reader of this one;
- through the collection's plugins: a filter or module whose code (or a module_utils
  file it imports) names the variable makes every role that calls it a reader (a
  filter given ``hostvars`` reads its keys);
- a role that reads variables by computed names (``lookup('vars', item.key)``,
  ``vars[...]``) reads every one.

No role list is given (only the whole playbook is then safe) for a connection or magic
variable (``ansible_*``, ``groups``...), one the playbook being run names (a play's
condition or pattern), or when the playbook's directory has ``group_vars`` or
``host_vars`` of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml

from homeforge.fastpath.inputs import role_names

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# how a role reads a variable without writing its name
COMPUTED = re.compile(
    r"lookup\(\s*['\"](?:ansible\.builtin\.)?vars['\"]|(?:query|q)\(\s*['\"](?:ansible\.builtin\.)?"
    r"(?:vars|varnames)['\"]|(?<![A-Za-z0-9_])vars\s*\[|varnames"
)
MAGIC = {"inventory_hostname", "inventory_hostname_short", "group_names", "groups", "hostvars"}
SKIPPED = {"tests", "molecule"}
DOCS = re.compile(r'^(?:DOCUMENTATION|EXAMPLES|RETURN)\s*=\s*r?""".*?"""', re.S | re.M)


def _words(text: str) -> frozenset[str]:
    """The identifiers a text names (a variable is named by one)."""
    return frozenset(WORD.findall(text))


def _text(path: Path) -> str:
    """A file's text; a YAML file's data (its comments dropped) as JSON; a plugin's code
    without its documentation blocks (their examples name variables it never reads)."""
    raw = path.read_text(errors="replace")
    if path.suffix in (".yml", ".yaml"):
        try:
            return json.dumps(yaml.safe_load(raw), default=str)
        except yaml.YAMLError:
            return raw
    return DOCS.sub("", raw) if path.suffix == ".py" else raw


@lru_cache(maxsize=4)
def role_words(root: Path) -> dict[str, frozenset[str]]:
    """Each role's names (its files, tests and documentation left out); a role that
    reads variables by computed names gets ``*``."""
    out = {}
    for role in role_names(root):
        base = root / "roles" / role
        texts = [
            _text(p)
            for p in sorted(base.rglob("*"))
            if p.is_file() and p.suffix != ".md" and not SKIPPED & set(p.relative_to(base).parts)
        ]
        computed = any(COMPUTED.search(t) for t in texts)
        out[role] = _words("\n".join(texts)) | ({"*"} if computed else set())
    return out


@lru_cache(maxsize=4)
def _role_definitions(root: Path) -> tuple[tuple[str, frozenset[str]], ...]:
    """Every variable the roles define (defaults, vars) with the names its value uses."""
    found = []
    for role in role_names(root):
        for kind in ("defaults", "vars"):
            for path in sorted((root / "roles" / role / kind).glob("*.y*ml")):
                data = yaml.safe_load(path.read_text()) or {}
                if isinstance(data, dict):
                    found += [(str(k), _words(json.dumps(v, default=str))) for k, v in data.items()]
    return tuple(found)


@lru_cache(maxsize=4)
def _plugins(root: Path) -> tuple[tuple[frozenset[str], tuple[str, ...]], ...]:
    """Each filter and module file: the names its code uses (with the module_utils files
    it imports), and the names a role calls it by (``homeforge.homelab.NAME``)."""
    utils = {p.stem: _text(p) for p in (root / "plugins" / "module_utils").glob("*.py")}
    out = []
    for kind in ("filter", "modules"):
        for path in sorted((root / "plugins" / kind).glob("*.py")):
            code = _text(path)
            used = [
                t
                for stem, t in utils.items()
                if re.search(rf"module_utils\W+(?:import\s+)?{stem}\b", code)
            ]
            if kind == "filter":
                names = tuple(re.findall(r"['\"](\w+)['\"]\s*:", code.split("def filters", 1)[-1]))
            else:
                names = (path.stem,)
            out.append((_words("\n".join([code, *used])), names))
    return tuple(out)


def _grown(name: str, defined: Iterable[tuple[str, frozenset[str]]]) -> set[str]:
    """``name`` and every variable whose value names one of them, until none is added."""
    defined = list(defined)
    names, more = set(), {name}
    while more:
        names |= more
        more = {k for k, used in defined if k not in names and used & names}
    return names


def readers(root: Path, playbook: Path, name: str, values: dict[str, object]) -> set[str] | None:
    """The roles that read variable ``name`` (see the module's docstring), ``values``
    being the host's inventory variables; None when only the whole playbook is safe."""
    if name.startswith("ansible_") or name in MAGIC:
        return None
    if any((playbook.parent / d).exists() for d in ("group_vars", "host_vars")):
        return None
    own = ((str(k), _words(json.dumps(v, default=str))) for k, v in values.items())
    names = _grown(name, [*_role_definitions(root), *own])
    if names & _words(_text(playbook)):  # a targeted run leaves imported playbooks out
        return None
    roles = role_words(root)
    found = {role for role, words in roles.items() if "*" in words or words & names}
    for words, called in _plugins(root):
        if words & names:
            calls = {f"homeforge.homelab.{c}" for c in called}
            found |= {role for role, text in _role_calls(root).items() if text & calls}
    return found


@lru_cache(maxsize=4)
def _role_calls(root: Path) -> dict[str, frozenset[str]]:
    """Each role's ``homeforge.homelab.NAME`` references (the plugins it calls)."""
    out = {}
    for role in role_names(root):
        base = root / "roles" / role
        text = "\n".join(
            p.read_text(errors="replace")
            for p in base.rglob("*")
            if p.is_file() and p.suffix != ".md" and not SKIPPED & set(p.relative_to(base).parts)
        )
        out[role] = frozenset(re.findall(r"homeforge\.homelab\.\w+", text))
    return out
