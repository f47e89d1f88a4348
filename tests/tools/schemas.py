"""Generate tests/schemas/ from the upstream CRDs and chart values in ../shared.

    .venv/bin/python tests/tools/schemas.py            # (re)write tests/schemas/
    .venv/bin/python tests/tools/schemas.py --check    # exit 1 when they differ
    .venv/bin/python tests/tools/schemas.py --shared DIR

The schema checks (tests/tools/kube_schemas.py) read only the generated files, so a
clone without ``../shared`` runs them too; tests/unit/test_schemas_generated.py keeps
the files equal to what this script makes from ``../shared`` when it is present. The
upstream directory is ``$HOMEFORGE_SHARED_DIR``, else ``shared`` beside the repository.

What is kept, and nothing else (facts only, no prose):

- ``crds/<source>.json``, one per CRD file: for each CustomResourceDefinition its group,
  kind and versions, each version with its name, whether it is served and its
  ``openAPIV3Schema``. A version whose schema equals an earlier version's of the same
  kind names that one (``schemaOf``) instead of repeating it.
- ``charts/<chart>.json``, one per chart: its ``values.yaml`` as data (comments are not
  keys) and its ``values.schema.json`` where it ships one.

Schemas lose only what the checks never read: ``description``, ``title``,
``$comment``, ``example``/``examples`` and CEL rules (``x-kubernetes-validations``), and
only where they are schema keywords: a property that happens to be called
``description`` stays. Each file's first line is its ``_generated`` key: this script,
the source file, and the upstream repository, path, commit and version from the
README.md table beside the sources. Output is deterministic: sorted keys, compact JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "schemas"
SCRIPT = "tests/tools/schemas.py"
SHARED_ENV = "HOMEFORGE_SHARED_DIR"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Schema keywords whose value is a map of name -> schema, one schema, or a list of them.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}
)
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)
_SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
# Keywords no check reads: prose, and CEL rules, which jsonschema does not run.
DROPPED = frozenset(
    {"description", "title", "$comment", "example", "examples", "x-kubernetes-validations"}
)


def shared_dir() -> Path:
    """Where the upstream sources are: $HOMEFORGE_SHARED_DIR, else ../shared."""
    configured = os.environ.get(SHARED_ENV)
    return Path(configured) if configured else ROOT.parent / "shared"


def available(shared: Path | None = None) -> bool:
    """Whether shared holds both source directories."""
    shared = shared_dir() if shared is None else shared
    return (shared / "crds").is_dir() and (shared / "charts").is_dir()


# ---------------------------------------------------------------- schemas


def compact(schema: Any) -> Any:
    """schema without the DROPPED keywords, at every level that is a schema."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            value = {name: compact(sub) for name, sub in value.items()}
        elif key in _SCHEMA_ONE:
            value = [compact(sub) for sub in value] if isinstance(value, list) else compact(value)
        elif key in _SCHEMA_LIST and isinstance(value, list):
            value = [compact(sub) for sub in value]
        elif key == "dependencies" and isinstance(value, Mapping):
            # a property -> a schema, or -> the names of the properties it requires
            value = {name: compact(sub) for name, sub in value.items()}
        out[key] = value
    return out


# ---------------------------------------------------------------- README tables


def readme_rows(directory: Path) -> list[dict[str, str]]:
    """The table of directory/README.md, as dicts keyed by the header cells."""
    path = directory / "README.md"
    lines = [line.strip() for line in path.read_text().splitlines()] if path.is_file() else []
    table = [line for line in lines if line.startswith("|")]
    if not table:
        return []
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    header, body = cells[0], [row for row in cells[1:] if not set("".join(row)) <= set("-: ")]
    return [dict(zip(header, row, strict=False)) for row in body]


# README header cell -> key in `_generated.upstream`.
_UPSTREAM_KEYS = {
    "upstream repository": "repository",
    "path": "path",
    "commit": "commit",
    "commit (date)": "commit",
    "version": "version",
}
# Metadata that names the upstream release a CRD file belongs to.
_VERSION_KEYS = ("gateway.networking.k8s.io/bundle-version", "app.kubernetes.io/version")


def _upstream(rows: Iterable[Mapping[str, str]], files: Iterable[str], where: Path) -> dict:
    """Repository, path, commit and version from the README row of the first of files."""
    files = list(files)
    for row in rows:
        if row.get("file") == files[0]:
            return {_UPSTREAM_KEYS[k]: v for k, v in row.items() if k in _UPSTREAM_KEYS}
    raise SystemExit(f"{where / 'README.md'}: no row for {files[0]}")


def _crd_version(doc: Mapping[str, Any]) -> str | None:
    meta = doc.get("metadata") or {}
    for where in ("annotations", "labels"):
        for key in _VERSION_KEYS:
            if (meta.get(where) or {}).get(key):
                return f"{meta[where][key]} ({key})"
    return None


def _generated(sources: list[str], upstream: Mapping[str, str]) -> dict[str, Any]:
    return {
        "by": SCRIPT,
        "from": sources,
        "note": f"generated, do not edit: .venv/bin/python {SCRIPT}",
        "upstream": dict(upstream),
    }


# ---------------------------------------------------------------- CRDs


def crd_file(path: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    """The facts of one upstream CRD file."""
    found, releases = [], set()
    for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        releases.add(_crd_version(doc))
        versions, seen = [], {}
        for entry in spec.get("versions") or []:
            version: dict[str, Any] = {"name": entry["name"], "served": bool(entry.get("served"))}
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                schema = compact(schema)
                key = json.dumps(schema, sort_keys=True)
                if key in seen:
                    version["schemaOf"] = seen[key]
                else:
                    seen[key] = entry["name"]
                    version["openAPIV3Schema"] = schema
            versions.append(version)
        found.append({"group": spec["group"], "kind": spec["names"]["kind"], "versions": versions})
    found.sort(key=lambda crd: (crd["group"], crd["kind"]))
    upstream = _upstream(rows, [path.name], path.parent)
    releases.discard(None)
    if releases:
        upstream["version"] = ", ".join(sorted(releases))
    return {"_generated": _generated([f"crds/{path.name}"], upstream), "crds": found}


# ---------------------------------------------------------------- charts


def chart_file(directory: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    """The facts of one upstream chart directory."""
    names = [f"{directory.name}/values.yaml"]
    data: dict[str, Any] = {
        "values": yaml.load((directory / "values.yaml").read_text(), Loader=_LOADER) or {}
    }
    schema = directory / "values.schema.json"
    if schema.is_file():
        names.append(f"{directory.name}/values.schema.json")
        data["valuesSchema"] = compact(json.loads(schema.read_text()))
    upstream = _upstream(rows, names, directory.parent)
    return {"_generated": _generated([f"charts/{n}" for n in names], upstream), **data}


# ---------------------------------------------------------------- output


def dumps(data: Mapping[str, Any]) -> str:
    """Compact JSON, keys sorted, one top-level key (and list item) per line."""
    lines = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, list):
            items = ",\n".join(_json(item) for item in value)
            text = f"[\n{items}\n]" if value else "[]"
        else:
            text = _json(value)
        lines.append(f"{json.dumps(key)}:{text}")
    return "{" + ",\n".join(lines) + "}\n"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def generate(shared: Path) -> dict[str, str]:
    """Relative path under tests/schemas -> file text, made from shared."""
    if not available(shared):
        raise SystemExit(f"{shared}: no crds/ and charts/ here (set {SHARED_ENV})")
    out = {}
    crds, charts = shared / "crds", shared / "charts"
    rows = readme_rows(crds)
    for path in sorted(crds.glob("*.yaml")):
        out[f"crds/{path.stem}.json"] = dumps(crd_file(path, rows))
    rows = readme_rows(charts)
    for directory in sorted(p for p in charts.iterdir() if (p / "values.yaml").is_file()):
        out[f"charts/{directory.name}.json"] = dumps(chart_file(directory, rows))
    return out


def on_disk(target: Path = SCHEMAS) -> dict[str, str]:
    """Relative path -> text of the generated files now in target."""
    return {
        path.relative_to(target).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(target.glob("*/*.json"))
    }


def differences(wanted: Mapping[str, str], have: Mapping[str, str]) -> list[str]:
    """One line per file that is missing, stale or not as generated."""
    found = [f"{name}: missing" for name in sorted(wanted.keys() - have.keys())]
    found += [f"{name}: not made from any source" for name in sorted(have.keys() - wanted.keys())]
    found += [
        f"{name}: differs" for name in sorted(wanted) if name in have and wanted[name] != have[name]
    ]
    return found


def write(wanted: Mapping[str, str], target: Path = SCHEMAS) -> None:
    for name in on_disk(target).keys() - wanted.keys():
        (target / name).unlink()
    for name, text in wanted.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--shared", type=Path, default=None, help="default: ../shared")
    args = parser.parse_args(argv)
    wanted = generate(args.shared or shared_dir())
    if args.check:
        found = differences(wanted, on_disk())
        for line in found:
            print(f"tests/schemas/{line}", file=sys.stderr)
        if found:
            print(f"run: .venv/bin/python {SCRIPT}", file=sys.stderr)
        return 1 if found else 0
    write(wanted)
    size = sum(len(text.encode()) for text in wanted.values())
    print(f"tests/schemas: {len(wanted)} files, {size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
