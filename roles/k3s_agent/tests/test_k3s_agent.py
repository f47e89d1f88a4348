"""testinfra suite for the k3s_agent role (molecule verify and `homeforge verify`).
In the lab K3s is the STAND-IN (tests/standins/k3s): these check the role's work.
On a server of the same cluster they check that the agent role left it alone."""

from __future__ import annotations

import yaml


def _is_agent(hf_vars) -> bool:
    return "agent" in hf_vars["group_names"]


def test_the_pinned_release_is_current(host, hf_vars):
    assert hf_vars["k3s_version"] in host.check_output("k3s --version")


def test_agent_joins_through_the_api_endpoint_with_a_private_token(host, hf_vars):
    config = host.file("/etc/rancher/k3s/config.yaml")
    assert config.mode == 0o600
    settings = yaml.safe_load(config.content_string)
    assert settings["token-file"] == "/etc/rancher/k3s/cluster-token" and "token" not in settings
    assert host.file("/etc/rancher/k3s/cluster-token").mode == 0o600
    if _is_agent(hf_vars):
        assert settings["server"].startswith("https://") and "cluster-init" not in settings
        for label in hf_vars["k3s_agent_config"].get("node-label", []):
            assert label in settings["node-label"]
    else:
        assert "node-label" not in settings  # the agents' settings did not reach a server


def test_an_agent_runs_the_agent_service_and_no_server(host, hf_vars):
    agent, server = host.service("k3s-agent"), host.service("k3s")
    if _is_agent(hf_vars):
        assert agent.is_running and agent.is_enabled and not server.is_running
    else:
        assert server.is_running and not host.file("/etc/systemd/system/k3s-agent.service").exists
