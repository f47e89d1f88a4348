"""tests/schemas: the generated schema facts load, and equal what ../shared makes of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import kube_schemas as ks
from tests.tools import schemas

SHARED = schemas.shared_dir()
NEEDS_SHARED = pytest.mark.skipif(
    not schemas.available(SHARED),
    reason=f"{SHARED}: no upstream crds/ and charts/ (set {schemas.SHARED_ENV}); "
    "the generated files are checked on their own",
)

# Every custom kind and chart the role tests validate against.
KINDS = {
    ("helm.cattle.io", "HelmChart"),
    ("helm.cattle.io", "HelmChartConfig"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("traefik.io", "IngressRoute"),
    ("traefik.io", "Middleware"),
    ("cert-manager.io", "ClusterIssuer"),
    ("cert-manager.io", "Certificate"),
    ("security.istio.io", "AuthorizationPolicy"),
    ("node.eks.aws", "NodeConfig"),
}
CHARTS = {
    "ollama",
    "traefik",
    "cert-manager",
    "nvidia-device-plugin",
    "aws-ebs-csi-driver",
    "nfs-subdir-external-provisioner",
    "csi-driver-nfs",
    "istio-base",
    "istio-cni",
    "istio-istiod",
    "istio-ztunnel",
}


# ---------------------------------------------------------------- without ../shared


def test_the_schema_checks_read_only_the_repository() -> None:
    for path in (ks.SCHEMAS, ks.CRD_FACTS, ks.CHART_FACTS):
        assert path.is_relative_to(ks.ROOT) and path.is_dir(), path
    assert not hasattr(ks, "SHARED")


def test_generated_files_exist_load_and_say_where_they_come_from() -> None:
    files = schemas.on_disk()
    assert {f"charts/{chart}.json" for chart in CHARTS} <= files.keys()
    assert any(name.startswith("crds/") for name in files)
    for name, text in files.items():
        first = text.splitlines()[0]
        assert first.startswith('{"_generated":') and schemas.SCRIPT in first, name
        data = json.loads(text)
        generated = data["_generated"]
        assert generated["by"] == schemas.SCRIPT
        assert generated["from"] and all(
            s.startswith(name.split("/")[0]) for s in generated["from"]
        )
        assert {"repository", "path", "commit"} <= generated["upstream"].keys(), name
        # Deterministic and as the script writes it: sorted keys, its own layout.
        assert schemas.dumps(data) == text, f"{name}: not as {schemas.SCRIPT} writes it"
    assert sum(len(text.encode()) for text in files.values()) < 512 * 1024


def test_every_kind_the_roles_render_has_a_served_schema() -> None:
    index = ks.crds()
    assert index.keys() >= KINDS
    for (group, kind), crd in index.items():
        served = [v for v in crd["spec"]["versions"] if v["served"]]
        assert served, (group, kind)
        for version in served:
            schema = ks.crd_schema(group, kind, version["name"])
            assert schema["additionalProperties"] is False, (group, kind, version["name"])


def test_a_version_that_repeats_a_schema_gets_it_from_the_one_it_names() -> None:
    versions = {
        v["name"]: v
        for v in ks.crds()[("security.istio.io", "AuthorizationPolicy")]["spec"]["versions"]
    }
    assert {"v1", "v1beta1"} <= versions.keys()
    assert versions["v1beta1"]["schema"] == versions["v1"]["schema"]
    raw = json.loads((ks.CRD_FACTS / "istio-crd-all.gen.json").read_text())["crds"]
    policy = next(c for c in raw if c["kind"] == "AuthorizationPolicy")
    assert {"name": "v1beta1", "served": True, "schemaOf": "v1"} in policy["versions"]


def test_every_chart_has_values_and_the_schemas_it_ships() -> None:
    for chart in CHARTS:
        facts = ks.chart_facts(chart)
        assert isinstance(facts["values"], dict) and facts["values"], chart
    for chart in ("traefik", "cert-manager", "aws-ebs-csi-driver"):
        assert "valuesSchema" in ks.chart_facts(chart), chart
    assert "valuesSchema" not in ks.chart_facts("ollama")


def test_compact_drops_prose_keywords_but_not_properties_so_named() -> None:
    schema = {
        "type": "object",
        "description": "prose",
        "title": "T",
        "x-kubernetes-validations": [{"rule": "self.a != ''", "message": "m"}],
        "properties": {
            "description": {"type": "string", "description": "the field is kept"},
            "list": {"type": "array", "items": {"type": "string", "example": "x"}},
            "either": {"oneOf": [{"type": "string", "description": "d"}]},
            "map": {"additionalProperties": {"type": "integer", "examples": [1]}},
        },
        "$defs": {"x": {"$comment": "c", "enum": [{"description": "data, kept"}]}},
        "dependencies": {"a": ["b"], "c": {"description": "d", "required": ["e"]}},
        "default": {"description": "data, kept"},
    }
    assert schemas.compact(schema) == {
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "list": {"type": "array", "items": {"type": "string"}},
            "either": {"oneOf": [{"type": "string"}]},
            "map": {"additionalProperties": {"type": "integer"}},
        },
        "$defs": {"x": {"enum": [{"description": "data, kept"}]}},
        "dependencies": {"a": ["b"], "c": {"required": ["e"]}},
        "default": {"description": "data, kept"},
    }


def test_differences_name_missing_stale_and_changed_files() -> None:
    wanted = {"crds/a.json": "1", "crds/b.json": "2", "charts/c.json": "3"}
    have = {"crds/a.json": "1", "crds/b.json": "two", "charts/old.json": "4"}
    assert schemas.differences(wanted, have) == [
        "charts/c.json: missing",
        "charts/old.json: not made from any source",
        "crds/b.json: differs",
    ]
    assert schemas.differences(wanted, dict(wanted)) == []


def test_the_shared_directory_is_configurable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(schemas.SHARED_ENV, str(tmp_path / "elsewhere"))
    assert schemas.shared_dir() == tmp_path / "elsewhere"
    assert not schemas.available()
    with pytest.raises(SystemExit, match=schemas.SHARED_ENV):
        schemas.generate(tmp_path / "elsewhere")
    monkeypatch.delenv(schemas.SHARED_ENV)
    assert schemas.shared_dir() == schemas.ROOT.parent / "shared"


def test_a_source_without_a_readme_row_is_refused(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / "charts" / "x").mkdir(parents=True)
    (tmp_path / "charts" / "x" / "values.yaml").write_text("a: 1\n")
    with pytest.raises(SystemExit, match=r"no row for x/values\.yaml"):
        schemas.generate(tmp_path)


def test_write_removes_stale_files_and_writes_the_wanted_ones(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "gone.json").write_text("{}\n")
    schemas.write({"charts/x.json": '{"values":{}}\n'}, tmp_path)
    assert schemas.on_disk(tmp_path) == {"charts/x.json": '{"values":{}}\n'}


# ---------------------------------------------------------------- with ../shared


@NEEDS_SHARED
def test_generated_files_equal_what_shared_makes_of_them() -> None:
    wanted = schemas.generate(SHARED)
    assert schemas.differences(wanted, schemas.on_disk()) == [], (
        f"tests/schemas is stale: run .venv/bin/python {schemas.SCRIPT}"
    )


@NEEDS_SHARED
def test_the_script_checks_from_the_command_line() -> None:
    run = subprocess.run(
        [sys.executable, str(schemas.ROOT / schemas.SCRIPT), "--check", "--shared", str(SHARED)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


@NEEDS_SHARED
def test_a_key_only_in_a_comment_is_not_generated() -> None:
    text = (SHARED / "charts" / "nvidia-device-plugin" / "values.yaml").read_text()
    assert "# enableHostNetwork: false" in text
    facts = ks.chart_facts("nvidia-device-plugin")
    assert "enableHostNetwork" not in facts["values"]["devicePlugin"]
