"""Kubernetes objects and Helm chart values checked against real schemas, no cluster.

    from tests.tools import kube_schemas
    kube_schemas.validate(obj)                     # AssertionError listing every problem
    kube_schemas.validate_all(rendered_yaml_text)  # each document of a multi-document file
    kube_schemas.value_problems("ollama", values)  # [] when the chart has every key we set

Roles render Kubernetes objects (K3s ``HelmChart`` manifests, RuntimeClasses, Gateway
routes, EKS Hybrid ``NodeConfig``) and Helm values that no test cluster ever sees; a
misspelt field is accepted by YAML, pruned by the API server and lost without a word.
This module rejects it before anything reaches a cluster:

- Core kinds (``v1``, ``apps/v1``, ``node.k8s.io/v1``, ...): the ``kubernetes-validate``
  package in strict mode (unknown fields rejected) for the Kubernetes minor version that
  homeforge pins: ``k3s_version`` in roles/k3s_server/defaults/main.yml, so a bump of the
  pin moves the schemas too. For these kinds it reports the first error only.
- Custom kinds: the upstream CRDs in ``../shared/crds`` (read there, never copied). The
  object's apiVersion names a version of the CRD that must be served; its
  ``openAPIV3Schema`` is closed (``additionalProperties: false`` on every object schema
  that declares ``properties`` and neither ``additionalProperties`` nor
  ``x-kubernetes-preserve-unknown-fields``, as kubeconform's strict mode does), given an
  ObjectMeta schema for ``metadata``, and the object, defaulted as the API server would,
  is checked with ``jsonschema``. Branches of ``allOf``/``anyOf``/``oneOf`` stay open:
  a structural schema restates there only fields its enclosing schema declares, which is
  closed already, so closing a branch would reject the fields it does not repeat. CEL
  rules (``x-kubernetes-validations``) are not checked.
- Any other kind is a problem ("no schema for ..."): nothing passes unchecked.

Chart values (``../shared/charts/<chart>``): validated against the chart's
``values.schema.json`` where it ships one (after merging into the chart's defaults, as
Helm does), and in every case by key path, because those schemas are often open. Every
key path homeforge sets must exist in the chart's ``values.yaml``, except below a key the
chart leaves open:

- an empty mapping (``podAnnotations: {}``): any keys below it;
- a list (``extraEnv: []`` or a list of anything): the items are free;
- a null value (``runtimeClassName: null`` or ``~``): anything at all.

Istio's charts keep their defaults under ``_internal_defaults_do_not_set`` and read
their profile settings (``profile``, ``compatibilityVersion``, ``platform``,
``global.platform``) in a template: the key paths are checked below that key, and
the profile settings are accepted at the top, where Istio's install docs set them.

Only the YAML counts: keys that appear only in comments (``# enableHostNetwork: false``)
are not keys of the chart. Where both sides have a value, its shape must match: a
mapping or a list where the chart has a scalar (or the reverse) is a problem; scalars
are not compared (a number where the chart has ``""`` is fine, as it is for Helm).
A null that homeforge sets deletes the chart's default, as Helm does, and is accepted.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CRDS = SHARED / "crds"
CHARTS = SHARED / "charts"
K3S_DEFAULTS = ROOT / "roles" / "k3s_server" / "defaults" / "main.yml"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_STRING = {"type": "string"}
_OBJECTS = {"type": "array", "items": {"type": "object"}}

# The ObjectMeta fields a manifest may carry; names and label values as the API server
# requires them.
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "generateName": _STRING,
        "namespace": {"type": "string", "maxLength": 63, "pattern": _DNS_LABEL},
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE},
        },
        "annotations": {"type": "object", "additionalProperties": _STRING},
        "finalizers": {"type": "array", "items": _STRING},
        "ownerReferences": _OBJECTS,
        "managedFields": _OBJECTS,
        "uid": _STRING,
        "resourceVersion": _STRING,
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": _STRING,
        "deletionGracePeriodSeconds": {"type": "integer"},
        "selfLink": _STRING,
    },
    "additionalProperties": False,
}


# ---------------------------------------------------------------- Kubernetes version


def pinned_kubernetes_version(defaults: Path = K3S_DEFAULTS) -> str:
    """'1.31' from ``k3s_version: v1.31.4+k3s1``."""
    pin = str((yaml.safe_load(defaults.read_text()) or {}).get("k3s_version", ""))
    match = re.match(r"v?(\d+)\.(\d+)\.", pin)
    if not match:
        raise ValueError(f"{defaults}: k3s_version {pin!r} is not like v1.31.4+k3s1")
    return f"{match[1]}.{match[2]}"


@functools.cache
def supported_versions() -> tuple[str, ...]:
    """The Kubernetes minor versions kubernetes-validate carries schemas for."""
    minors = {kv_utils.major_minor(v) for v in kv_utils.all_versions()}
    return tuple(sorted(minors, key=lambda v: tuple(int(n) for n in v.split("."))))


KUBERNETES_VERSION = pinned_kubernetes_version()


# ---------------------------------------------------------------- objects


def problems(obj: Any, *, kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Everything wrong with one manifest, as ``Kind/namespace/name: path: message``."""
    if kubernetes_version not in supported_versions():
        raise ValueError(
            f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version}"
            f" (it has {', '.join(supported_versions())})"
        )
    if not isinstance(obj, Mapping):
        return [f"not a Kubernetes object (a {type(obj).__name__}): {obj!r:.60}"]
    name = describe(obj)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version:
        return [f"{name}: apiVersion and kind must be strings"]
    group, _, version = api_version.rpartition("/")
    if group in crd_groups():
        return _crd_problems(dict(obj), name, group, kind, version)
    if "." not in group or group.endswith(".k8s.io"):
        return _core_problems(dict(obj), name, kubernetes_version)
    return [f"{name}: no schema for {api_version} {kind}"]


def validate(obj: Any, **kw: Any) -> None:
    """AssertionError listing every problem of obj; None when it is valid."""
    found = problems(obj, **kw)
    if found:
        raise AssertionError("\n".join(found))


def validate_all(docs: str | Iterable[Any], **kw: Any) -> None:
    """validate() each document of a list or a multi-document YAML text (nulls skipped)."""
    if isinstance(docs, str):
        docs = list(yaml.safe_load_all(docs))
    found = [p for doc in docs if doc is not None for p in problems(doc, **kw)]
    if found:
        raise AssertionError("\n".join(found))


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name``; parts the object lacks are left out."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    parts = (obj.get("kind") or "?", meta.get("namespace"), meta.get("name"))
    return "/".join(str(part) for part in parts if part)


def _core_problems(obj: dict[str, Any], name: str, kubernetes_version: str) -> list[str]:
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"{name}: no schema for {obj['apiVersion']} {obj['kind']}"
            f" (Kubernetes {kubernetes_version})"
        ]
    except kubernetes_validate.ValidationError as error:
        return [f"{name}: {message}" for message in _messages(error)]
    return []


def _crd_problems(obj: dict[str, Any], name: str, group: str, kind: str, version: str) -> list[str]:
    try:
        validator = _crd_validator(group, kind, version)
    except LookupError as error:
        return [f"{name}: {error.args[0]}"]
    instance = _defaulted(validator.schema, copy.deepcopy(obj))
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
    return [f"{name}: {message}" for error in errors for message in _messages(error)]


def _messages(error: jsonschema.ValidationError) -> list[str]:
    """``path: message``; an unknown field gets its own path."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        unknown = _unknown_fields(error.instance, error.schema)
        if unknown:
            return [f"{json_path([*path, key])}: unknown field" for key in unknown]
    return [f"{json_path(path)}: {error.message}"]


def _unknown_fields(instance: Any, schema: Mapping[str, Any]) -> list[str]:
    if not isinstance(instance, Mapping):
        return []
    declared = schema.get("properties") or {}
    patterns = schema.get("patternProperties") or {}
    return [
        str(key)
        for key in instance
        if key not in declared and not any(re.search(p, str(key)) for p in patterns)
    ]


def json_path(parts: Iterable[Any]) -> str:
    """``spec.ports[0].port``; ``(root)`` for the object itself."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


# ---------------------------------------------------------------- CRDs


@functools.cache
def crds(directory: Path = CRDS) -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) -> CustomResourceDefinition, from every YAML file in directory."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no CRDs (shared/ must sit beside the repo)")
    index = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                index[(spec["group"], spec["names"]["kind"])] = doc
    return index


def crd_groups() -> set[str]:
    return {group for group, _ in crds()}


def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    """The closed openAPIV3Schema of a served CRD version; LookupError says why not."""
    crd = crds().get((group, kind))
    if crd is None:
        raise LookupError(f"no schema for {group}/{version} {kind}")
    versions = {entry["name"]: entry for entry in crd["spec"].get("versions") or []}
    entry = versions.get(version)
    if entry is None:
        raise LookupError(
            f"{kind} in {group} has no version {version} (the CRD has {', '.join(versions)})"
        )
    if not entry.get("served"):
        raise LookupError(f"{group}/{version} {kind} is not served (the CRD has it unserved)")
    schema = (entry.get("schema") or {}).get("openAPIV3Schema")
    if not isinstance(schema, dict):
        raise LookupError(f"no schema for {group}/{version} {kind} (the CRD version has none)")
    schema = copy.deepcopy(schema)
    schema.setdefault("properties", {}).update(
        apiVersion=_STRING, kind=_STRING, metadata=copy.deepcopy(OBJECT_META)
    )
    return close(schema)


@functools.cache
def _crd_validator(group: str, kind: str, version: str) -> jsonschema.Draft4Validator:
    # OpenAPI 3.0's schema object is an extended subset of JSON Schema draft 4.
    return jsonschema.Draft4Validator(crd_schema(group, kind, version))


def close(schema: dict[str, Any]) -> dict[str, Any]:
    """Close every object schema that declares properties and no policy of its own.

    Also turns OpenAPI's ``nullable: true`` into a JSON Schema null type. Changes
    schema in place and returns it.
    """
    if schema.get("nullable") is True and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    open_ = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in schema and "additionalProperties" not in schema and not open_:
        schema["additionalProperties"] = False
    for child in (schema.get("properties") or {}).values():
        close(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            close(schema[key])
    return schema


def _defaulted(schema: Mapping[str, Any], instance: Any) -> Any:
    """instance with the schema's defaults filled in, as the API server does first."""
    if isinstance(instance, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
        for key, value in instance.items():
            sub = properties.get(key, schema.get("additionalProperties"))
            if isinstance(sub, Mapping):
                _defaulted(sub, value)
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for item in instance:
            _defaulted(schema["items"], item)
    return instance


# ---------------------------------------------------------------- chart values


def value_problems(
    chart: str, values: Mapping[str, Any], *, open_paths: Iterable[str] = ()
) -> list[str]:
    """Everything wrong with the values homeforge passes to chart; [] when none.

    open_paths: dotted key paths the chart's templates treat as free-form although
    values.yaml lists entries there (say ``ports`` in traefik), accepted like ``{}``.
    """
    if not isinstance(values, Mapping):
        return [f"{chart}: values must be a mapping, not a {type(values).__name__}"]
    defaults = chart_values(chart)
    found = list(_schema_problems(chart, coalesce(defaults, values)))
    found += _key_problems(chart, values, defaults, (), frozenset(open_paths))
    return found


def chart_dir(chart: str) -> Path:
    path = CHARTS / chart
    if not (path / "values.yaml").is_file():
        known = sorted(p.name for p in CHARTS.iterdir() if p.is_dir()) if CHARTS.is_dir() else []
        raise ValueError(f"no chart {chart!r} in {CHARTS} (there: {', '.join(known)})")
    return path


def chart_values(chart: str) -> dict[str, Any]:
    """The chart's values.yaml (a fresh copy each call)."""
    return copy.deepcopy(_chart_values(chart))


# Istio's charts keep their defaults under one key that their zzz_profile.yaml template
# lifts to the top before rendering, and that template also reads settings no values.yaml
# lists: the profile, compatibility version and platform, each naming a file of the chart
# (files/profile-<profile>.yaml, ...-compatibility-version-<v>.yaml, ...-platform-<p>.yaml;
# istio/istio manifests/zzz_profile.yaml). Users set all of them at the top.
ISTIO_DEFAULTS_KEY = "_internal_defaults_do_not_set"
ISTIO_PROFILE_SETTINGS = ("profile", "compatibilityVersion", "platform")


@functools.cache
def _chart_values(chart: str) -> dict[str, Any]:
    values = yaml.load((chart_dir(chart) / "values.yaml").read_text(), Loader=_LOADER) or {}
    if list(values) == [ISTIO_DEFAULTS_KEY] and isinstance(values[ISTIO_DEFAULTS_KEY], dict):
        values = values[ISTIO_DEFAULTS_KEY]
        values.update(dict.fromkeys(ISTIO_PROFILE_SETTINGS))  # null: any value
        if isinstance(values.get("global"), dict):
            values["global"].update(dict.fromkeys(("profile", "platform")))
    return values


@functools.cache
def _values_validator(chart: str) -> jsonschema.protocols.Validator | None:
    path = chart_dir(chart) / "values.schema.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _schema_problems(chart: str, merged: Mapping[str, Any]) -> Iterator[str]:
    validator = _values_validator(chart)
    if validator is None:
        return
    for error in sorted(validator.iter_errors(merged), key=lambda e: [str(p) for p in e.path]):
        for message in _messages(error):
            yield f"{chart}: values.schema.json: {message}"


def coalesce(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """values over defaults as Helm merges them: maps merge, null deletes, rest replaces."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _key_problems(
    chart: str,
    values: Mapping[str, Any],
    defaults: Mapping[str, Any],
    path: tuple[str, ...],
    open_paths: frozenset[str],
) -> list[str]:
    found = []
    for key, value in values.items():
        here = (*path, str(key))
        dotted = ".".join(here)
        if key not in defaults:
            found.append(f"{chart}: values key {dotted} is not in the chart's values.yaml")
            continue
        default = defaults[key]
        if default is None or value is None or dotted in open_paths:
            continue
        if _shape(default) != _shape(value):
            found.append(
                f"{chart}: values key {dotted} is a {_type(value)} where the chart's"
                f" values.yaml has a {_type(default)}"
            )
        elif isinstance(default, Mapping) and default:
            found += _key_problems(chart, value, default, here, open_paths)
    return found


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    return "list" if isinstance(value, list) else "scalar"


def _type(value: Any) -> str:
    shape = _shape(value)
    return shape if shape != "scalar" else f"scalar ({type(value).__name__})"


# ---------------------------------------------------------------- chart versions


def chart_version(chart: str) -> str:
    """The chart version shared/charts/README.md lists for chart ("1.77.0", "v4.13.4").

    LookupError when the README has no row for it or no version ("version set at
    release"): a role must then say in its README which version it was checked against.
    """
    rows = [row for row in _readme_rows() if row.get("file", "").startswith(f"{chart}/")]
    if not rows:
        raise LookupError(f"{CHARTS / 'README.md'} has no row for chart {chart!r}")
    match = re.search(r"\bchart (v?\d+\.\d+\.\d+\S*)", rows[0].get("version", ""))
    if not match:
        raise LookupError(f"{chart}: the README lists no version ({rows[0].get('version')!r})")
    return match[1]


def _readme_rows() -> list[dict[str, str]]:
    """The table of shared/charts/README.md, as dicts keyed by the header cells."""
    lines = [line.strip() for line in (CHARTS / "README.md").read_text().splitlines()]
    table = [line for line in lines if line.startswith("|")]
    if not table:
        return []
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    header, body = cells[0], [row for row in cells[1:] if not set("".join(row)) <= set("-: ")]
    return [dict(zip(header, row, strict=False)) for row in body]
