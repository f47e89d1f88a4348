"""testinfra suite for the k3s_server role (molecule verify and `homeforge verify`).
In the lab K3s is the STAND-IN (tests/standins/k3s): these check the role's work
(release, files and modes, config, token handling, service, nodes Ready), not K3s."""

from __future__ import annotations

import json

import yaml


def test_the_pinned_release_is_current(host, hf_vars):
    link = host.file("/usr/local/bin/k3s")
    assert link.is_symlink and link.linked_to.startswith(
        f"/usr/local/lib/k3s/{hf_vars['k3s_version']}/"
    )
    assert hf_vars["k3s_version"] in host.check_output("k3s --version")


def test_config_and_token_are_private_and_the_token_is_not_in_the_config(host):
    config = host.file("/etc/rancher/k3s/config.yaml")
    token = host.file("/etc/rancher/k3s/cluster-token")
    assert config.mode == 0o600 and config.user == "root"
    assert token.mode == 0o600 and token.user == "root" and len(token.content_string.strip()) >= 16
    settings = yaml.safe_load(config.content_string)
    assert "token" not in settings and settings["token-file"] == "/etc/rancher/k3s/cluster-token"
    assert token.content_string.strip() not in config.content_string


def test_one_server_initialises_the_others_join(host, hf_vars, hf_host):
    settings = yaml.safe_load(host.file("/etc/rancher/k3s/config.yaml").content_string)
    first = hf_vars["groups"][hf_vars["k3s_server_group"]][0]
    if hf_host == first:
        assert settings.get("cluster-init") is True and "server" not in settings
    else:
        assert "cluster-init" not in settings and settings["server"].endswith(
            f":{hf_vars['k3s_api_port']}"
        )


def test_service_runs_and_every_node_is_ready(host, hf_vars):
    service = host.service("k3s")
    assert service.is_running and service.is_enabled
    nodes = json.loads(host.check_output("k3s kubectl get nodes -o json"))["items"]
    cluster = set(hf_vars["groups"][hf_vars["k3s_server_group"]]) | set(
        hf_vars["groups"].get("agent", [])
    )
    listed = {n["metadata"]["name"]: n for n in nodes}
    assert cluster <= set(listed)
    for name in cluster:
        ready = [c for c in listed[name]["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", name
        assert listed[name]["status"]["nodeInfo"]["kubeletVersion"] == hf_vars["k3s_version"]
