"""Role documentation from one source: each role's ``meta/argument_specs.yml``.

    python tests/tools/role_docs.py --check   # report drift, exit 1 if there is any
    python tests/tools/role_docs.py --write   # regenerate the README variable tables

The argument spec carries every variable's type, default and description.
``defaults/main.yml`` holds the values Ansible uses (ansible-core takes role
defaults only from there; a spec's ``default:`` is documentation) and must equal
the spec's defaults. Each role's README has its variable table between
``<!-- BEGIN VARIABLES -->`` and ``<!-- END VARIABLES -->``, generated from the spec.

Variables that several roles read (``k3s_token`` for servers and agents) match no
single role prefix; they are declared once in ``meta/shared_variables.yml`` at the
collection root::

    variables:
      k3s_token:              # the variable's name
        type: str             # then exactly the role spec's option: type, elements,
        no_log: true          # choices, no_log, required, description, default
        description: ...
        default: ""
        roles: [k3s_server, k3s_agent]   # the roles whose specs declare it

and every role listed declares it in its spec with those same fields (the entry
without ``roles``). tests/unit/test_roles.py runs these checks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHARED_VARIABLES = Path("meta") / "shared_variables.yml"
BEGIN = "<!-- BEGIN VARIABLES -->"
END = "<!-- END VARIABLES -->"
NOTE = (
    "<!-- Generated from meta/argument_specs.yml by tests/tools/role_docs.py --write:"
    " edit the spec, not this table. -->"
)
_PLAIN = re.compile(r"[A-Za-z0-9_./+-][A-Za-z0-9_./:+-]*")


# ---------------------------------------------------------------- reading


def roles(root: Path = ROOT) -> list[str]:
    return sorted(
        p.name for p in (root / "roles").iterdir() if (p / "tasks" / "main.yml").is_file()
    )


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def spec_options(root: Path, role: str) -> dict[str, dict[str, Any]]:
    """The options of the role's `main` entry point, in file order."""
    spec = _yaml(root / "roles" / role / "meta" / "argument_specs.yml") or {}
    return ((spec.get("argument_specs") or {}).get("main") or {}).get("options") or {}


def defaults(root: Path, role: str) -> dict[str, Any]:
    return _yaml(root / "roles" / role / "defaults" / "main.yml") or {}


def shared_variables(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """meta/shared_variables.yml: name -> option plus `roles`; {} when there is none."""
    return dict((_yaml(root / SHARED_VARIABLES) or {}).get("variables") or {})


def shared_with(root: Path, role: str) -> set[str]:
    """The shared variables this role is listed for."""
    return {
        name for name, entry in shared_variables(root).items() if role in entry.get("roles", [])
    }


def spec_defaults(options: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What defaults/main.yml must hold: every option's default except required ones."""
    return {name: opt.get("default") for name, opt in options.items() if not opt.get("required")}


def description(option: dict[str, Any]) -> str:
    text = option.get("description") or ""
    return " ".join(text) if isinstance(text, list) else str(text)


# ---------------------------------------------------------------- rendering


def render_value(value: Any) -> str:
    """A default as YAML flow text: what you would write in an inventory."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and yaml.safe_load(value) == value
        return value if plain else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(render_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{render_value(k)}: {render_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot render {value!r}")


def render_type(option: dict[str, Any]) -> str:
    kind = str(option.get("type", "str"))
    if option.get("elements"):
        kind = f"{kind} of {option['elements']}"
    if option.get("choices"):
        kind = f"{kind} ({', '.join(str(c) for c in option['choices'])})"
    return kind


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(
    role: str, options: dict[str, dict[str, Any]], shared: dict[str, dict[str, Any]] | None = None
) -> str:
    """The README block between the markers (markers excluded), ending in a newline."""
    shared = shared or {}
    lines = [
        NOTE,
        "",
        "| variable | type | default | what it does |",
        "|---|---|---|---|",
    ]
    for name, option in options.items():
        default = (
            "required" if option.get("required") else f"`{render_value(option.get('default'))}`"
        )
        text = description(option)
        others = [r for r in shared.get(name, {}).get("roles", []) if r != role]
        if others:
            text += " Shared with " + ", ".join(f"`{r}`" for r in others) + "."
        lines.append(
            f"| `{name}` | {_cell(render_type(option))} | {_cell(default)} | {_cell(text)} |"
        )
    return "\n".join(lines) + "\n"


def splice(readme: str, block: str) -> str:
    """The README with the text between the markers replaced by block."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} block")
    head = readme[: start + len(BEGIN)]
    return f"{head}\n{block}{readme[end:]}"


def readme_block(readme: str) -> str | None:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        return None
    return readme[start + len(BEGIN) : end].removeprefix("\n")


# ---------------------------------------------------------------- checks


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (YAML's 1 is not its true)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def spec_problems(root: Path, role: str) -> list[str]:
    """Every option typed and described, defaulted unless required, named for its role."""
    where = f"roles/{role}/meta/argument_specs.yml"
    shared = shared_with(root, role)
    problems = []
    options = spec_options(root, role)
    if not options:
        problems.append(f"{where}: no options under argument_specs.main")
    for name, option in options.items():
        if not option.get("type"):
            problems.append(f"{where}: {name}: no type")
        if not description(option).strip():
            problems.append(f"{where}: {name}: no description")
        if not option.get("required") and "default" not in option:
            problems.append(f"{where}: {name}: no default (and not required)")
        if not name.startswith(f"{role}_") and name not in shared:
            problems.append(
                f"{where}: {name}: neither prefixed {role}_ nor shared with this role in {SHARED_VARIABLES}"
            )
    return problems


def defaults_problems(root: Path, role: str) -> list[str]:
    """defaults/main.yml holds exactly the spec's defaults."""
    where = f"roles/{role}/defaults/main.yml"
    expected, actual = spec_defaults(spec_options(root, role)), defaults(root, role)
    problems = [
        f"{where}: {name}: not in meta/argument_specs.yml"
        for name in actual
        if name not in expected
    ]
    for name, value in expected.items():
        if name not in actual:
            problems.append(f"{where}: {name}: missing (spec default {render_value(value)})")
        elif not same(actual[name], value):
            problems.append(
                f"{where}: {name}: {render_value(actual[name])} here,"
                f" {render_value(value)} in meta/argument_specs.yml"
            )
    return problems


def readme_problems(root: Path, role: str) -> list[str]:
    """The README's variable table is what the spec generates."""
    where = f"roles/{role}/README.md"
    path = root / "roles" / role / "README.md"
    if not path.is_file():
        return [f"{where}: missing"]
    block = readme_block(path.read_text())
    if block is None:
        return [f"{where}: no {BEGIN} ... {END} block"]
    if block != render_table(role, spec_options(root, role), shared_variables(root)):
        return [
            f"{where}: variable table differs from meta/argument_specs.yml (run {_command('--write')})"
        ]
    return []


def shared_problems(root: Path = ROOT) -> list[str]:
    """Each shared variable is declared, field for field, by every role it lists."""
    where = str(SHARED_VARIABLES)
    known = set(roles(root))
    problems = []
    for name, entry in shared_variables(root).items():
        users = entry.get("roles") or []
        option = {k: v for k, v in entry.items() if k != "roles"}
        if not isinstance(users, list) or len(users) < 2:
            problems.append(f"{where}: {name}: roles must list the two or more roles that share it")
            continue
        if not option.get("type") or not description(option).strip():
            problems.append(f"{where}: {name}: needs a type and a description")
        for role in users:
            if role not in known:
                problems.append(f"{where}: {name}: no role {role}")
                continue
            declared = spec_options(root, role).get(name)
            if declared is None:
                problems.append(
                    f"roles/{role}/meta/argument_specs.yml: {name}: shared but not declared"
                )
            elif not same(declared, option):
                fields = sorted(
                    k
                    for k in declared.keys() | option.keys()
                    if not same(declared.get(k), option.get(k))
                )
                problems.append(
                    f"roles/{role}/meta/argument_specs.yml: {name}: differs from {where}"
                    f" in {', '.join(fields)}"
                )
    return problems


def problems(root: Path = ROOT) -> list[str]:
    found = []
    for role in roles(root):
        found += (
            spec_problems(root, role) + defaults_problems(root, role) + readme_problems(root, role)
        )
    return found + shared_problems(root)


def write(root: Path = ROOT) -> list[Path]:
    """Regenerate every README table; returns the files that changed."""
    changed = []
    shared = shared_variables(root)
    for role in roles(root):
        path = root / "roles" / role / "README.md"
        text = path.read_text()
        new = splice(text, render_table(role, spec_options(root, role), shared))
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def _command(flag: str) -> str:
    return f"python tests/tools/role_docs.py {flag}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report drift, exit 1 if any")
    mode.add_argument("--write", action="store_true", help="regenerate the README tables")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="collection root (default: this checkout)"
    )
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.root):
            print(f"wrote {path.relative_to(args.root)}")
    found = problems(args.root)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
