"""The ai_gateway_config filter and the rules under it (module_utils/gateway.py): the
model list from every Ollama host, where the gateway reaches each, and the consumers."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.filter.ai_gateway_config import ai_gateway_config
from ansible_collections.homeforge.homelab.plugins.module_utils import gateway

# What the role gathers of each Ollama host (tasks/main.yml)
HOSTVARS = {
    "gw": {"ollama_models": ["tiny:1b"], "ollama_host": "", "mesh_address": "10.77.0.1"},
    "gpu1": {
        "ollama_models": ["library/tiny:1b", "embed:v1"],
        "ollama_host": "0.0.0.0:11434",
        "mesh_address": "10.77.0.2",
    },
    "gpu2": {"ollama_models": ["big:7b"], "ollama_host": "10.77.0.3:11500", "mesh_address": ""},
}


def _pick(*hosts, **changed):
    return {h: {**HOSTVARS[h], **changed.get(h, {})} for h in hosts}


CONSUMERS = [{"name": "app", "models": ["tiny:1b", "big:7b"], "rpm": 60, "tpm": 10000}]


def _deployments(config):
    return [
        (d["model_name"], d["litellm_params"]["model"], d["litellm_params"]["api_base"])
        for d in config["model_list"]
    ]


def test_every_model_is_served_by_every_host_that_lists_it_where_the_gateway_reaches_it():
    out = ai_gateway_config(
        _pick("gw", "gpu1", "gpu2"), "gw", CONSUMERS, {"embedding_models": ["embed:v1"]}
    )
    assert _deployments(out["config"]) == [
        ("big:7b", "ollama_chat/big:7b", "http://10.77.0.3:11500"),
        ("embed:v1", "ollama/embed:v1", "http://10.77.0.2:11434"),
        (
            "tiny:1b",
            "ollama_chat/tiny:1b",
            "http://127.0.0.1:11434",
        ),  # the gateway's own, on loopback
        ("tiny:1b", "ollama_chat/tiny:1b", "http://10.77.0.2:11434"),  # 0.0.0.0: the mesh address
    ]
    assert out["config"]["general_settings"] == {
        "custom_auth": "homeforge_gateway.user_api_key_auth"
    }
    assert out["config"]["litellm_settings"]["callbacks"] == "homeforge_gateway.usage_logger"
    assert out["consumers"] == {"app": {"models": ["big:7b", "tiny:1b"], "rpm": 60, "tpm": 10000}}


def test_an_ollama_host_on_loopback_elsewhere_is_refused_naming_it():
    hostvars = _pick("gw", "gpu2", gpu2={"ollama_host": ""})  # the ollama role's default: loopback
    with pytest.raises(
        AnsibleFilterError, match=r"gpu2: Ollama listens on 127.0.0.1:11434 \(loopback only\)"
    ):
        ai_gateway_config(hostvars, "gw", [], {})


def test_no_ollama_host_or_no_model_is_refused():
    with pytest.raises(AnsibleFilterError, match="the Ollama group has no hosts"):
        ai_gateway_config({}, "gw", [], {})
    with pytest.raises(AnsibleFilterError, match="no host of the Ollama group lists a model"):
        ai_gateway_config(_pick("gw", gw={"ollama_models": []}), "gw", [], {})


def test_a_consumer_of_a_model_nobody_serves_is_refused_with_its_place():
    bad = [{"name": "app", "models": ["huge:70b"], "rpm": 1, "tpm": 1}]
    with pytest.raises(
        AnsibleFilterError, match=r"ai_gateway_consumers\[0\]\.models: 'huge:70b' is not served"
    ):
        ai_gateway_config(_pick("gw"), "gw", bad, {})


@pytest.mark.parametrize(
    ("consumer", "where", "problem"),
    [
        ({"name": "App", "models": ["tiny:1b"], "rpm": 1, "tpm": 1}, "[0].name", "lowercase"),
        ({"name": "a b", "models": ["tiny:1b"], "rpm": 1, "tpm": 1}, "[0].name", "lowercase"),
        ({"name": "app", "models": ["tiny:1b"], "rpm": 0, "tpm": 1}, "[0].rpm", "positive whole"),
        ({"name": "app", "models": ["tiny:1b"], "rpm": 1, "tpm": "9"}, "[0].tpm", "positive whole"),
        (
            {"name": "app", "models": ["tiny:1b"], "rpm": True, "tpm": 1},
            "[0].rpm",
            "positive whole",
        ),
        ({"name": "app", "models": [], "rpm": 1, "tpm": 1}, "[0].models", "non-empty"),
        (
            {"name": "app", "models": ["bad name"], "rpm": 1, "tpm": 1},
            "[0].models",
            "not a model name",
        ),
        (
            {"name": "app", "models": ["tiny:1b"], "rpm": 1, "tpm": 1, "budget": 5},
            "[0]",
            "unknown key",
        ),
    ],
)
def test_consumer_rules(consumer, where, problem):
    found = gateway.consumer_problems([consumer], {"tiny:1b"})
    assert any(w == where and problem in p for w, p in found), found


def test_a_consumer_declared_twice_and_a_list_that_is_not_one_are_refused():
    twice = [{"name": "app", "models": ["tiny:1b"], "rpm": 1, "tpm": 1}] * 2
    assert gateway.consumer_problems(twice, {"tiny:1b"}) == [
        ("[1].name", "'app' is declared twice")
    ]
    assert gateway.consumer_problems({"app": 1}, {"tiny:1b"})[0][1].startswith("must be a list")
    assert gateway.consumer_problems(CONSUMERS, {"tiny:1b", "big:7b"}) == []


def test_ipv6_addresses_are_bracketed():
    assert gateway.ollama_base("h", "[fd00::2]:11434", "gw", "") == "http://[fd00::2]:11434"
    assert gateway.ollama_base("h", "0.0.0.0:11434", "gw", "fd77::2") == "http://[fd77::2]:11434"


def _gathered(check_mode: bool) -> dict:
    """The role's own "Ollama hosts' models and listeners" expression (tasks/main.yml),
    templated by Ansible for a gateway and a new Ollama host on every address whose mesh
    has no address yet (no wireguard_facts: a first converge, before the mesh is up)."""
    from pathlib import Path

    import yaml
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    tasks = Path(__file__).resolve().parents[4] / "roles/ai_gateway/tasks/main.yml"
    [task] = [
        t
        for t in yaml.safe_load(tasks.read_text())
        if t.get("name") == "The Ollama hosts' models and listeners"
    ]
    hostvars = {
        "gw": {"ollama_models": ["tiny:1b"], "wireguard_facts": {"address": "10.77.0.1"}},
        "gpu1": {"ollama_models": ["tiny:1b"], "ollama_host": "0.0.0.0:11434"},
    }
    variables = {
        "groups": {"ollama": ["gw", "gpu1"]},
        "hostvars": hostvars,
        "ai_gateway_ollama_group": "ollama",
        "ansible_check_mode": check_mode,
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    expression = task["ansible.builtin.set_fact"]["_ai_gateway_ollama"]
    return templar.template(trust_as_template(expression))


def test_check_mode_before_the_mesh_is_up_predicts_a_placeholder_and_a_run_refuses():
    """`apply --check` on new hosts must predict, not fail; a real run past the mesh has
    the address, and without one the line names the host."""
    predicted = ai_gateway_config(_gathered(True), "gw", [], {})["config"]
    assert sorted(_deployments(predicted)) == [
        ("tiny:1b", "ollama_chat/tiny:1b", "http://127.0.0.1:11434"),
        ("tiny:1b", "ollama_chat/tiny:1b", "http://mesh-address:11434"),
    ]
    with pytest.raises(AnsibleFilterError, match=r"gpu1: Ollama listens on 0\.0\.0\.0:11434 and"):
        ai_gateway_config(_gathered(False), "gw", [], {})


def test_every_deployment_is_in_litellms_model_map_at_no_cost():
    """LiteLLM prices each answer from its model map; a model it does not know costs a set
    of the whole map and a call to Ollama's /api/show per request (bench/RESULTS.md)."""
    out = ai_gateway_config(
        _pick("gw", "gpu1", "gpu2"), "gw", CONSUMERS, {"embedding_models": ["embed:v1"]}
    )
    infos = [
        (d["litellm_params"]["model"].split("/")[0], d["model_info"])
        for d in out["config"]["model_list"]
    ]
    assert {provider for provider, _ in infos} == {"ollama", "ollama_chat"}
    for provider, info in infos:
        assert info["litellm_provider"] == provider
        assert info["input_cost_per_token"] == info["output_cost_per_token"] == 0
