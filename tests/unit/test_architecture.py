"""The shape of src/homeforge: no import circles, modules and functions of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "homeforge"
# The bar is "about 400 lines"; past 425 a module is split.
MAX_MODULE_LINES = 425
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of homeforge imported by a module, with each package an import runs."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b too
                candidate = ".".join(parts[:i])
                if candidate in known and candidate != name:
                    found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _is_parent(parent: str, child: str) -> bool:
    return child.startswith(parent + ".")


def test_no_import_cycles():
    graph = import_graph()
    # a package importing its own submodules (to re-export them) is not a circle
    graph = {n: {d for d in deps if not _is_parent(n, d)} for n, deps in graph.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# Layers, lowest first: a module imports from its own layer and the layers below, never
# from one above. The inventory model is what every feature reads; the checks read the
# features' own declarations (cutover services, mesh settings) to validate an
# inventory, and the CLI runs them before any command.
LAYERS = (
    ("homeforge.inventory",),
    ("homeforge.cluster", "homeforge.cutover", "homeforge.wireguard"),
    ("homeforge.checks",),
    ("homeforge.cli",),
)


def _layer(name: str, layers) -> int | None:
    for index, packages in enumerate(layers):
        if any(name == p or _is_parent(p, name) for p in packages):
            return index
    return None


def layer_violations(graph: dict[str, set[str]], layers) -> list[str]:
    """``module -> dependency`` for every import that runs up the layers."""
    found = []
    for name, deps in sorted(graph.items()):
        mine = _layer(name, layers)
        if mine is None:
            continue
        for dep in sorted(deps):
            theirs = _layer(dep, layers)
            if theirs is not None and theirs > mine:
                found.append(f"{name} -> {dep}")
    return found


def _reachable(graph: dict[str, set[str]], roots) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_import_runs_up_the_layers():
    assert layer_violations(import_graph(), LAYERS) == []


def test_the_layer_check_finds_an_import_that_runs_up():
    graph = {"a.low.model": {"a.high.x"}, "a.high.x": {"a.low"}, "a.other": {"a.high"}}
    assert layer_violations(graph, (("a.low",), ("a.high",))) == ["a.low.model -> a.high.x"]


def test_the_inventory_imports_no_feature_package():
    """Loading and the model run without any feature: nothing under homeforge.inventory
    imports, even through another module, a package of homeforge other than itself."""
    graph = import_graph()
    inventory = [
        n for n in graph if n == "homeforge.inventory" or _is_parent("homeforge.inventory", n)
    ]
    packages = {
        _module_name(p) for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "inventory"
    }
    reached = _reachable(graph, inventory)
    assert sorted(d for d in reached if any(d == p or _is_parent(p, d) for p in packages)) == []
    assert "homeforge.cluster" in packages and "homeforge.checks" in packages


def test_only_the_cli_runs_the_checks():
    """The checks import the features; a feature importing them would be a circle."""
    graph = import_graph()
    users = {
        name
        for name, deps in graph.items()
        if any(d == "homeforge.checks" or _is_parent("homeforge.checks", d) for d in deps)
    }
    outside = {n for n in users if not n.startswith(("homeforge.checks", "homeforge.cli"))}
    assert outside == set() and users


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_and_function_sizes(name):
    path = _modules()[name]
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path}: {len(lines)} lines"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name}: {length} lines"
