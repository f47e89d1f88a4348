"""``homeforge inventory check`` on host values: every value that reaches a config file, a
unit, an env file or a command line is refused by its shared rule, one line naming the
file, the host and the key, exit 2, never a traceback and never a secret's value."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.inventory_support import INJECTION, check_cli

CASES = {
    # name: (hosts.yml, text every problem line must hold)
    "endpoint with a newline (wg.conf injection)": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_endpoint": INJECTION}, "h2": {}},
        "host h1: wireguard_endpoint:",
    ),
    "host name with shell characters, ansible_host set": (
        {"h1;rm": {"ansible_host": "192.0.2.1"}},
        "host h1;rm: inventory host name:",
    ),
    "host name with a space": (
        {"h 1": {"ansible_host": "192.0.2.1"}},
        "host h 1: inventory host name",
    ),
    "interface that would print the private key": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_interface": "wg0 private-key #"}},
        "host h1: wireguard_interface:",
    ),
    "interface as a mapping": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_interface": {"a": 1}}},
        "host h1: wireguard_interface: must be a single str",
    ),
    "templated CIDR resolving to a command": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_mesh_cidr": "{{ '10.77.0.0/24' }} $(cmd)"}},
        "host h1: wireguard_mesh_cidr: '10.77.0.0/24 $(cmd)' is not a valid CIDR",
    ),
    "port as a list": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_port": [1, 2]}},
        "wireguard_port:",
    ),
    "port as text": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_port": "abc"}},
        "wireguard_port:",
    ),
    "keepalive with a unit": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_persistent_keepalive": "25s"}},
        "wireguard_persistent_keepalive:",
    ),
    "facts as a string": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_facts": "hello"}},
        "wireguard_facts:",
    ),
    "group as a list": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_group": ["a"]}},
        "wireguard_group:",
    ),
    "key file as a list": (
        {"h1": {"ansible_host": "192.0.2.1", "ansible_ssh_private_key_file": ["a", "b"]}},
        "ansible_ssh_private_key_file: must be a single string",
    ),
    "a string where a list belongs": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_extra_allowed_ips": "10.9.0.0/24"}},
        "wireguard_extra_allowed_ips: must be a list",
    ),
}


@pytest.mark.parametrize("hosts, expected", list(CASES.values()), ids=list(CASES))
def test_bad_values_are_one_line_each_and_exit_2(write, hosts, expected):
    path = write("hosts.yml", yaml.safe_dump({"all": {"hosts": hosts}}))
    code, output = check_cli(path)
    assert code == 2, output
    assert expected in output, output
    lines = [
        line for line in output.splitlines() if line.startswith("hosts.yml:") or str(path) in line
    ]
    assert lines and all(": host " in line for line in lines), output


def test_ollama_and_k3s_values_go_through_the_shared_rules(write):
    path = write(
        "hosts.yml",
        yaml.safe_dump(
            {
                "all": {
                    "children": {"server": {"hosts": {"s1": {"ansible_host": "192.0.2.1"}}}},
                    "hosts": {
                        "o1": {
                            "ansible_host": "192.0.2.2",
                            "ollama_host": "0.0.0.0:11434\nExecStartPre=/x",
                            "ollama_models_dir": "/var/lib/../etc",
                            "ollama_user": "Root",
                            "ollama_extra_env": {"BAD NAME": "1", "OK": "a\nb"},
                            "ollama_models": ["llama3.2:1b", "Bad Name"],
                        },
                        "s1": {"k3s_api_endpoint": "10.0.0.1\ntls-san: evil"},
                    },
                }
            }
        ),
    )
    code, output = check_cli(path)
    assert code == 2
    for expected in (
        "host o1: ollama_host:",
        "host o1: ollama_models_dir:",
        "host o1: ollama_user:",
        "host o1: ollama_extra_env: BAD NAME:",
        "host o1: ollama_extra_env: OK: an environment value must be one line",
        "host o1: ollama_models: 'Bad Name' is not a model name",
        "host s1: k3s_api_endpoint:",
    ):
        assert expected in output, (expected, output)


def test_a_secret_of_the_wrong_type_is_reported_without_its_value(write):
    path = write(
        "hosts.yml",
        "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, k3s_token: [hunter2secret]}\n",
    )
    code, output = check_cli(path)
    assert code == 2 and "host h1: k3s_token: must be a str (value not shown" in output
    assert "hunter2secret" not in output
