"""``homeforge inventory check`` on the services declaration (``homeforge_services``):
suffixes, bind values, units, env files, commands and legacy URLs pass the shared rules."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.unit.inventory_support import problems

BASE = {
    "port": 11434,
    "hosts": {"gpu-a": {"legacy": "http://192.168.0.110:11435"}},
    "consumers": [
        {"host": "api-1", "env_file": "/etc/api/ollama.env", "variables": {"U": "gpu-a"}}
    ],
}


def _declared(tmp_path, change) -> list[str]:
    body = json.loads(json.dumps(BASE))
    change(body)
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True)
    hosts = {"gpu-a": "10.0.0.21", "api-1": "10.0.0.31"}
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"hosts": {h: {"ansible_host": a} for h, a in hosts.items()}}})
    )
    (root / "group_vars" / "all.yml").write_text(
        yaml.safe_dump({"homeforge_services": {"ollama": body}})
    )
    return problems(root)


def _consumer(**kw):
    def change(body):
        body["consumers"][0].update(kw)

    return change


def _exposure(value):
    def change(body):
        body["exposure"] = {
            "mode": "bind",
            "unit": "ollama.service",
            "variable": "OLLAMA_HOST",
            "value": value,
        }

    return change


DECLARATIONS = {
    "suffix with a newline": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/v1\nExecStartPre=/bin/x"}}),
        "variables.U.suffix",
    ),
    "suffix with a backtick": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/`id`"}}),
        "suffix",
    ),
    "suffix with a percent": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/a%2F"}}),
        "suffix",
    ),
    "suffix with a dollar": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/$HOME"}}),
        "suffix",
    ),
    "bind value with a newline": (_exposure("{address}:{port}\nExecStartPre=/x"), "exposure.value"),
    "bind value with an unknown placeholder": (
        _exposure("{address}:{port}:{x}"),
        "unknown placeholder {x}",
    ),
    "unit starting with a dash": (_consumer(restart="-Hroot@h.service"), "consumers[0].restart"),
    "env file with ..": (_consumer(env_file="/etc/../root/.profile"), "must not contain '..'"),
    "run with a newline": (_consumer(run="systemctl restart api\nrm -rf /"), "must be one line"),
    "legacy URL with a quote": (
        lambda b: b["hosts"].update({"gpu-a": {"legacy": 'http://a:1/"x'}}),
        "hosts.gpu-a.legacy",
    ),
}


@pytest.mark.parametrize("change, expected", list(DECLARATIONS.values()), ids=list(DECLARATIONS))
def test_declaration_values_are_checked_by_the_shared_rules(tmp_path, change, expected):
    found = _declared(tmp_path, change)
    assert any(expected in line and "homeforge_services.ollama" in line for line in found), found


def test_a_good_bind_value_and_suffix_pass(tmp_path):
    def change(body):
        _exposure("[{address}]:{port}")(body)
        body["consumers"][0]["variables"] = {"U": {"host": "gpu-a", "suffix": "/v1/chat?x=1&y=2"}}

    assert _declared(tmp_path, change) == []
