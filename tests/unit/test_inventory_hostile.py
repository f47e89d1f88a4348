"""Hostile values in every variable of every role: ``inventory check`` refuses each with one
line naming the file, the host and the key, and never repeats a secret.

The variables come from the roles' argument specs, so a variable added to a role is covered
the day it is added."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homeforge.roles import role_specs, shared_variables


def _options() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for spec in role_specs():
        out.update(spec.options)
    out.update(shared_variables())
    return out


OPTIONS = _options()
ONE_LINE_KEYS = sorted(
    key
    for key, option in OPTIONS.items()
    if option.get("type", "str") in ("str", "path") and not option.get("choices")
)
LIST_KEYS = sorted(
    key
    for key, option in OPTIONS.items()
    if option.get("type") == "list" and option.get("elements") in ("str", "path")
)
INJECTION = "x\nExecStartPre=+/bin/sh -c 'id > /tmp/pwned'"


def _lines(inventory_problems, host_vars: dict) -> list[str]:
    return inventory_problems(
        {"all": {"hosts": {"h1": {"ansible_host": "192.0.2.10", **host_vars}}}}
    )


def test_every_role_has_string_variables_to_cover():
    assert len(ONE_LINE_KEYS) > 80 and "ollama_keep_alive" in ONE_LINE_KEYS


@pytest.mark.parametrize("key", ONE_LINE_KEYS)
def test_a_newline_in_any_string_variable_is_refused(tmp_path, key, inventory_problems):
    lines = _lines(inventory_problems, {key: INJECTION})
    mine = [line for line in lines if f"host h1: {key}:" in line]
    assert mine, lines
    assert all(
        line.startswith(str(tmp_path / "hosts.yml")) or line.startswith("hosts.yml")
        for line in mine
    )
    if OPTIONS[key].get("no_log"):
        assert not any("ExecStartPre" in line for line in lines)


@pytest.mark.parametrize("key", LIST_KEYS)
def test_a_newline_in_any_list_item_is_refused(key, inventory_problems):
    item = 51820 if OPTIONS[key].get("elements") == "int" else INJECTION
    lines = _lines(inventory_problems, {key: [item]})
    assert [line for line in lines if f"host h1: {key}:" in line], lines


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        (
            "nvidia_driver_apt_repository",
            "deb [trusted=yes] https://mirror.example/debian bookworm main",
            "trusted=yes",
        ),
        (
            "nvidia_container_toolkit_apt_repository",
            "deb [allow-insecure=yes] https://m.example/ /",
            "allow-insecure",
        ),
        ("nvidia_driver_apt_repository", "deb [allow-weak=yes] https://m.example/ /", "allow-weak"),
        (
            "nvidia_driver_apt_repository",
            "deb http://deb.debian.org/debian bookworm non-free",
            "https",
        ),
        ("nvidia_driver_debian_mirror", "http://deb.debian.org/debian", "https"),
        (
            "nvidia_container_toolkit_apt_key_url",
            "http://nvidia.github.io/libnvidia-container/gpgkey",
            "https",
        ),
        ("nvidia_container_toolkit_apt_key_fingerprints", ["C95B321B"], "fingerprint"),
    ],
)
def test_apt_sources_and_keys_that_skip_signature_checks_are_refused(
    key, value, why, inventory_problems
):
    lines = [
        line for line in _lines(inventory_problems, {key: value}) if f"host h1: {key}:" in line
    ]
    assert len(lines) == 1 and why in lines[0], lines


def test_a_local_stand_in_repository_may_be_trusted(inventory_problems):
    """A file: source is a directory on the host itself, not the network."""
    value = "deb [trusted=yes] file:/srv/standin-apt ./"
    assert _lines(inventory_problems, {"nvidia_driver_apt_repository": value}) == []


def test_the_k3s_ansible_hint_never_shows_a_secret_and_never_suggests_a_token_in_the_config(
    inventory_problems,
):
    args = (
        "--token TOKENVALUE1 --agent-token AGENTSECRET2 --etcd-s3-secret-key S3SECRET3"
        " --disable traefik"
    )
    lines = _lines(inventory_problems, {"extra_server_args": args, "token": "TOPSECRET4"})
    text = "\n".join(lines)
    for secret in ("TOKENVALUE1", "AGENTSECRET2", "S3SECRET3", "TOPSECRET4"):
        assert secret not in text
    (hint,) = [line for line in lines if "extra_server_args" in line]
    assert '"disable": "traefik"' in hint and '"agent-token": "<secret: vault it>"' in hint
    assert '"token"' not in hint and "goes to k3s_token" in hint


def test_the_kubeconfig_mode_is_the_roles(inventory_problems):
    lines = inventory_problems(
        {
            "server": {
                "hosts": {
                    "s1": {
                        "ansible_host": "192.0.2.10",
                        "k3s_server_config": {"write-kubeconfig-mode": "0644"},
                    }
                }
            }
        }
    )
    assert any("write-kubeconfig-mode" in line and "0600" in line for line in lines), lines


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "inventories").glob("*/hosts.yml"))


def test_the_examples_cover_the_three_worlds():
    names = {path.parent.name for path in EXAMPLES}
    assert {"homelab", "eks-hybrid", "k3s-ec2"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_each_example_inventory_passes_and_a_hostile_value_in_it_does_not(path, inventory_problems):
    assert inventory_problems(path) == []
    data = yaml.safe_load(path.read_text())
    data["all"]["vars"]["ollama_keep_alive"] = "5m\nExecStartPre=+/bin/id"
    lines = inventory_problems(data)
    assert lines and all("ollama_keep_alive" in line for line in lines), lines
