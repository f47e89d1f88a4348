"""homeforge inventory check: one line per problem, naming file, host and key."""

from __future__ import annotations

import pytest

from homeforge import checks, inventory
from homeforge.errors import BadInput

GOOD = """
all:
  vars:
    ansible_user: root
  children:
    k3s_cluster:
      children:
        server:
          hosts:
            s1: {ansible_host: 192.0.2.10}
        agent:
          hosts:
            a1: {ansible_host: 192.0.2.11, common_extra_packages: [htop]}
            a2: {ansible_host: a2.example.net, ansible_port: 2222}
"""


def test_k3s_ansible_layout_is_accepted(write):
    inv = inventory.load(write("hosts.yml", GOOD))
    assert checks.check(inv) == []
    assert inv.groups["server"] == ["s1"]
    assert sorted(inv.groups["k3s_cluster"]) == ["a1", "a2", "s1"]
    assert inv.address("a2") == "a2.example.net"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(BadInput, match=r"nope\.yml: inventory not found"):
        inventory.load(tmp_path / "nope.yml")


def test_malformed_yaml_names_line_and_column(write):
    path = write("hosts.yml", "all:\n  hosts:\n    h1: {ansible_host: 1.2.3.4\n")
    with pytest.raises(BadInput, match=r"hosts\.yml:\d+:\d+: malformed YAML"):
        inventory.load(path)


def test_wrong_shape_is_explained(write, inventory_problems):
    path = write("hosts.yml", "all:\n  hosts: [h1, h2]\n  extra: 1\n")
    found = inventory_problems(path)
    assert any("group all: hosts: must be a mapping" in p for p in found)
    assert any("group all: extra: unknown key" in p for p in found)


def test_bad_address_and_port_name_host_and_key(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 10.0.0.300}
            h2: {ansible_host: 10.0.0.2, ansible_port: 70000}
            h3: {ansible_host: "bad_host!"}
    """,
    )
    found = inventory_problems(path)
    assert f"{path}: host h1: ansible_host: '10.0.0.300' is not an IP address or host name" in found
    assert f"{path}: host h2: ansible_port: '70000' is not a TCP port (1-65535)" in found
    assert any(p.startswith(f"{path}: host h3: ansible_host:") for p in found)


def test_duplicate_addresses_are_rejected(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 10.0.0.5}
            h2: {ansible_host: 10.0.0.5}
            h3: {ansible_host: 10.0.0.5, ansible_port: 2222}
    """,
    )
    found = inventory_problems(path)
    assert found == [f"{path}: host h2: ansible_host: 10.0.0.5:22 is already used by host h1"]


def test_unknown_role_variable_suggests_the_right_one(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 10.0.0.5, common_extra_pakages: [htop]}
    """,
    )
    assert inventory_problems(path) == [
        f"{path}: host h1: common_extra_pakages: unknown variable (did you mean common_extra_packages?)"
    ]


def test_role_variable_types_come_from_the_argument_spec(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            common_sysctls: not-a-dict
          hosts:
            h1: {ansible_host: 10.0.0.5, common_apt_cache_valid_time: soon}
    """,
    )
    found = inventory_problems(path)
    assert any(
        p.startswith(f"{path}: host h1: common_apt_cache_valid_time:") and "int" in p for p in found
    )
    assert any(p.startswith(f"{path}: host h1: common_sysctls:") and "dict" in p for p in found)


def test_templated_values_are_left_to_ansible(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 10.0.0.5, common_apt_cache_valid_time: "{{ 60 * 60 }}"}
    """,
    )
    assert inventory_problems(path) == []


def test_group_vars_file_is_named_as_the_origin(write, inventory_problems):
    path = write(
        "inv/hosts.yml",
        """
        all:
          children:
            gpu:
              hosts:
                g1: {ansible_host: 10.0.0.7}
    """,
    )
    group_vars = write("inv/group_vars/gpu.yml", "common_timesync_enabled: maybe\n")
    found = inventory_problems(path)
    assert len(found) == 1
    assert found[0].startswith(f"{group_vars}: host g1: common_timesync_enabled:")


def test_cidrs_are_validated(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            mesh_cidr: 10.99.0.1/16
            lab_cidrs: [10.1.0.0/24, nonsense]
          hosts:
            h1: {ansible_host: 10.0.0.5}
    """,
    )
    found = inventory_problems(path)
    assert any(
        "host h1: mesh_cidr: '10.99.0.1/16' is not a valid CIDR" in p and "host bits" in p
        for p in found
    )
    assert any("host h1: lab_cidrs: 'nonsense' is not a valid CIDR" in p for p in found)


def test_host_in_server_and_agent_is_rejected(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          children:
            server: {hosts: {n1: {ansible_host: 10.0.0.1}}}
            agent: {hosts: {n1: null}}
    """,
    )
    assert inventory_problems(path) == [
        f"{path}: host n1: groups: in both server and agent (a host is one or the other)"
    ]


def test_missing_key_file_is_reported(write, tmp_path, inventory_problems):
    path = write(
        "hosts.yml",
        f"""
        all:
          hosts:
            h1: {{ansible_host: 10.0.0.5, ansible_ssh_private_key_file: {tmp_path}/missing_key}}
    """,
    )
    assert inventory_problems(path) == [
        f"{path}: host h1: ansible_ssh_private_key_file: {tmp_path}/missing_key: no such file"
    ]


def test_ini_inventories_work_too(write, inventory_problems):
    path = write(
        "hosts.ini",
        """
        [server]
        s1 ansible_host=192.0.2.10

        [agent]
        a1 ansible_host=192.0.2.10
    """,
    )
    assert inventory_problems(path) == [
        f"{path}: host a1: ansible_host: 192.0.2.10:22 is already used by host s1"
    ]


def test_empty_inventory_is_an_error(write, inventory_problems):
    path = write("hosts.yml", "all:\n  hosts: {}\n")
    assert inventory_problems(path) == [f"{path}: inventory defines no hosts"]


def test_limit_that_matches_nothing_is_bad_input(write):
    inv = inventory.load(write("hosts.yml", GOOD))
    assert inv.match("agent") == ["a1", "a2"]
    with pytest.raises(BadInput, match="--limit 'gpu' matches no host"):
        inv.match("gpu")


def test_mesh_problems_name_file_host_and_key(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            wireguard_mesh_cidr: 10.77.0.0/24
          hosts:
            a: {ansible_host: 192.0.2.1, wireguard_address: 10.77.0.9}
            b: {ansible_host: 192.0.2.2, wireguard_address: 10.77.0.9}
            c: {ansible_host: 192.0.2.3, wireguard_reachable: false}
            d: {ansible_host: 10.77.0.200}
    """,
    )
    found = inventory_problems(path)
    assert (
        f"{path}: host d: wireguard_mesh_cidr: mesh 10.77.0.0/24 overlaps the host's own address 10.77.0.200"
        in found
    )
    assert any(
        p.startswith(f"{path}: host c: wireguard_relay: host is not reachable") for p in found
    )
    path2 = write(
        "hosts2.yml",
        """
        all:
          hosts:
            a: {ansible_host: 192.0.2.1, wireguard_address: 10.77.0.9}
            b: {ansible_host: 192.0.2.2, wireguard_address: 10.77.0.9}
    """,
    )
    assert inventory_problems(path2) == [
        f"{path2}: host b: wireguard_address: 10.77.0.9 is already used by host a"
    ]


def test_mesh_cidr_must_be_one_per_mesh_and_routes_must_not_overlap(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            a: {ansible_host: 192.0.2.1, wireguard_mesh_cidr: 10.77.0.0/24, wireguard_extra_allowed_ips: [192.168.1.0/24]}
            b: {ansible_host: 192.0.2.2, wireguard_mesh_cidr: 10.78.0.0/24}
    """,
    )
    assert inventory_problems(path) == [
        f"{path}: host b: wireguard_mesh_cidr: hosts of group all disagree on the mesh network "
        "(10.77.0.0/24, 10.78.0.0/24); one mesh has one CIDR"
    ]
    path2 = write(
        "hosts2.yml",
        """
        all:
          hosts:
            a: {ansible_host: 192.0.2.1, wireguard_extra_allowed_ips: [192.168.1.0/24]}
            b: {ansible_host: 192.0.2.2, wireguard_extra_allowed_ips: [192.168.1.128/25], wireguard_public_key: abc}
    """,
    )
    found = inventory_problems(path2)
    assert (
        f"{path2}: host b: wireguard_extra_allowed_ips: 192.168.1.128/25 overlaps 192.168.1.0/24 routed to host a"
        in found
    )
    assert any(p.startswith(f"{path2}: host b: wireguard_public_key: malformed") for p in found)


def test_the_sample_inventory_is_valid_and_declares_a_service():
    from homeforge import paths
    from homeforge.cutover import declaration as services

    inv = inventory.load(paths.content_root() / "inventories" / "sample" / "hosts.yml")
    assert checks.check(inv) == []
    ollama = services.get(inv, "ollama")
    assert set(ollama.hosts) == {"gpu-box-1", "gpu-box-2"} and ollama.exposure.mode == "firewall"


def test_variables_shared_by_roles_are_checked_once_by_their_declaration(
    write, monkeypatch, inventory_problems
):
    """A variable several roles read (declared once in meta/shared_variables.yml) is typed
    by that declaration, though it matches no role prefix."""
    from homeforge.checks import role_variables

    shared = {"cluster_api_port": {"type": "int", "roles": ["a", "b"]}}
    monkeypatch.setattr(role_variables, "shared_variables", lambda: shared)
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            h1: {ansible_host: 10.0.0.1, cluster_api_port: abc}
            h2: {ansible_host: 10.0.0.2, cluster_api_port: 6443}
    """,
    )
    problems = inventory_problems(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: host h1: cluster_api_port:")


K3S = """
all:
  children:
    server:
      hosts:
        s1: {{ansible_host: 192.0.2.10{s1}}}
        s2: {{ansible_host: 192.0.2.11{s2}}}
    agent:
      hosts:
        a1: {{ansible_host: 192.0.2.12{a1}}}
"""


def _k3s(inventory_problems, s1="", s2="", a1=""):
    return inventory_problems(K3S.format(s1=s1, s2=s2, a1=a1))


def test_k3s_config_keys_must_be_flags_of_their_kind(inventory_problems):
    found = _k3s(
        inventory_problems,
        s1=", k3s_server_config: {cluster-cidr: 10.42.0.0/16, bogus-flag: 1, token: x}",
        s2=", k3s_server_config: {cluster-cidr: 10.42.0.0/16}",
        a1=", k3s_agent_config: {disable: [traefik], node-label: [gpu=true]}",
    )
    assert any(
        "host s1: k3s_server_config: bogus-flag: is not a K3s server flag" in p for p in found
    )
    assert any("host s1: k3s_server_config: token: is set by the role" in p for p in found)
    assert any(
        "host a1: k3s_agent_config: disable: is not a K3s agent flag (a server flag)" in p
        for p in found
    )
    assert not any("node-label" in p for p in found)


def test_k3s_critical_flags_and_tokens_must_agree(inventory_problems):
    found = _k3s(
        inventory_problems,
        s1=", k3s_server_config: {cluster-cidr: 10.42.0.0/16}, k3s_token: aaa",
        s2=", k3s_server_config: {cluster-cidr: 10.99.0.0/16}, k3s_token: bbb",
    )
    assert any("host s2: k3s_server_config: cluster-cidr differ from server s1" in p for p in found)
    token = [p for p in found if ": k3s_token: differs between" in p]
    assert token and "aaa" not in token[0] and "bbb" not in token[0]  # a secret is never shown


def test_k3s_version_and_a_lonely_agent_are_reported(write, inventory_problems):
    assert any(
        "'1.31' is not a K3s version" in p
        for p in _k3s(inventory_problems, a1=", k3s_version: '1.31'")
    )
    path = write(
        "hosts.yml",
        "all:\n  children:\n    agent:\n      hosts:\n        a1: {ansible_host: 192.0.2.12}\n",
    )
    assert any(
        "no host in group server: an agent needs a server to join" in p
        for p in inventory_problems(path)
    )


def test_a_k3s_ansible_inventory_is_told_what_to_write_instead(write, inventory_problems):
    """k3s-io/k3s-ansible's sample inventory shape: hosts named by address, its variables in
    k3s_cluster's vars. Each variable is named once, with homeforge's name and the value
    translated (flags to config keys, YAML text to a mapping); the token is never shown."""
    path = write(
        "hosts.yml",
        """
        k3s_cluster:
          children:
            server:
              hosts:
                192.0.2.10:
                192.0.2.11:
            agent:
              hosts:
                192.0.2.12:
          vars:
            ansible_user: debian
            k3s_version: v1.31.4+k3s1
            token: "sekrit-token-value"
            api_endpoint: "{{ hostvars[groups['server'][0]]['ansible_host'] | default(groups['server'][0]) }}"
            api_port: 6443
            extra_server_args: "--disable traefik --disable servicelb --tls-san=k3s.lan --flannel-backend vxlan"
            extra_agent_args: "--node-label gpu=true"
            server_config_yaml: |
              cluster-cidr: 10.42.0.0/16
            airgap_dir: /srv/k3s-airgap
    """,
    )
    found = inventory_problems(path)
    by_key = {p.split(": host ")[1].split(":")[1].strip(): p for p in found if ": host " in p}
    assert set(by_key) == {
        "token",
        "api_endpoint",
        "api_port",
        "extra_server_args",
        "extra_agent_args",
        "server_config_yaml",
        "airgap_dir",
    }, found
    assert len(found) == 7  # once per file, not once per host; hosts named by address are fine
    assert "sekrit-token-value" not in "\n".join(found)
    assert by_key["token"].endswith(
        "homeforge reads k3s_token: write k3s_token (in a vault, as the token is a secret)"
    )
    assert by_key["extra_server_args"].endswith(
        'write k3s_server_config: {"disable": ["traefik", "servicelb"], "tls-san": "k3s.lan", '
        '"flannel-backend": "vxlan"}'
    )
    assert by_key["extra_agent_args"].endswith('write k3s_agent_config: {"node-label": "gpu=true"}')
    assert by_key["server_config_yaml"].endswith(
        'write k3s_server_config: {"cluster-cidr": "10.42.0.0/16"}'
    )
    assert 'k3s_artifacts_dir: "/srv/k3s-airgap"' in by_key["airgap_dir"]
    assert all(p.startswith(f"{path}: host 192.0.2.10: ") for p in found)


def test_k3s_flags_become_config_keys_as_k3s_maps_them():
    from homeforge.checks.k3s import flags_to_config

    assert flags_to_config(
        "--cluster-init --node-taint a=b:NoSchedule --node-taint c=d:NoExecute"
    ) == {
        "cluster-init": True,
        "node-taint": ["a=b:NoSchedule", "c=d:NoExecute"],
    }
    with pytest.raises(ValueError):
        flags_to_config("disable traefik")


def test_an_apt_source_with_a_second_line_or_no_suite_is_reported(write, inventory_problems):
    path = write(
        "hosts.yml",
        """
        all:
          hosts:
            g1:
              ansible_host: 192.0.2.20
              nvidia_driver_apt_repository: "deb http://deb.debian.org/debian bookworm non-free\\ndeb http://evil.example ./"
              nvidia_container_toolkit_apt_repository: "deb http://mirror.example"
            g2: {ansible_host: 192.0.2.21, nvidia_driver_apt_repository: auto}
    """,
    )
    found = inventory_problems(path)
    assert any(
        "host g1: nvidia_driver_apt_repository:" in p and "control characters" in p for p in found
    )
    assert any(
        "host g1: nvidia_container_toolkit_apt_repository:" in p and "URI SUITE" in p for p in found
    )
    assert not any("host g2" in p for p in found)  # 'auto' is the role's own choice
