"""homeforge inventory check, ingress layer: one line per problem, naming file, host and
key, for what the ingress_traefik role would otherwise refuse (or write) on a server; one
warning line, and exit status 0, for Ollama published to every client."""

from __future__ import annotations

import datetime
import json

from click.testing import CliRunner

from homeforge import checks, inventory
from homeforge.checks import support
from homeforge.cli import main

CLUSTER = """
all:
  vars:
    homeforge_ingress: traefik
{vars}
  children:
    k3s_cluster:
      children:
        server:
          hosts:
            s1: {{ansible_host: 192.0.2.10}}
        agent:
          hosts:
            a1: {{ansible_host: 192.0.2.11}}
"""


def problems_of(write, inventory_problems, extra: str) -> tuple[str, list[str]]:
    path = write("hosts.yml", CLUSTER.format(vars=extra))
    return str(path), inventory_problems(path)


def test_a_homelab_with_ollama_over_https_is_accepted(write, inventory_problems):
    _path, found = problems_of(
        write,
        inventory_problems,
        """
    ingress_traefik_ollama_host: ollama.lab.example
    ingress_traefik_routes:
      - {name: webui, namespace: chat, host: chat.lab.example, service: open-webui, port: 8080}
    ingress_traefik_values: {tolerations: []}
""",
    )
    assert found == []


def test_an_inventory_without_the_ingress_layer_is_unaffected(write):
    path = write("hosts.yml", CLUSTER.format(vars="").replace("homeforge_ingress: traefik", ""))
    assert checks.check(inventory.load(path)) == []


def test_an_acme_issuer_without_an_email_is_one_line_on_the_server(write, inventory_problems):
    path, found = problems_of(write, inventory_problems, "    ingress_traefik_issuer: acme\n")
    assert found == [
        f"{path}: host s1: ingress_traefik_acme_email: required when ingress_traefik_issuer"
        " is acme (the ACME account's contact address)"
    ]


def test_a_host_name_that_is_not_a_dns_name_is_named(write, inventory_problems):
    path, found = problems_of(
        write, inventory_problems, "    ingress_traefik_ollama_host: Ollama_Box.lan\n"
    )
    assert f"{path}: host s1: ingress_traefik_ollama_host: 'Ollama_Box.lan': not a DNS name" in (
        "\n".join(found)
    )
    assert len([p for p in found if "ingress_traefik_ollama_host" in p]) == 2  # s1 and a1


def test_each_route_key_is_checked_by_its_rule(write, inventory_problems):
    path, found = problems_of(
        write,
        inventory_problems,
        """
    ingress_traefik_ollama_host: ollama.lab.example
    ingress_traefik_routes:
      - {name: ollama, namespace: ml, host: "*.lab.example", service: Open_WebUI, port: 70000}
      - {name: webui, namespace: ml, host: chat.lab.example}
""",
    )
    mine = [p for p in found if p.startswith(f"{path}: host s1: ingress_traefik_routes")]
    text = "\n".join(mine)
    assert "[0] host '*.lab.example': not a DNS name" in text
    assert "[0] service 'Open_WebUI': not a Kubernetes name" in text
    assert "[0] port 70000: a port must be a whole number 1-65535" in text
    assert "[1]: missing service, port" in text
    assert "name 'ollama' is used twice" in text  # the role's own route for Ollama


def test_a_misspelt_route_key_is_caught_by_the_roles_spec(write, inventory_problems):
    path, found = problems_of(
        write,
        inventory_problems,
        """
    ingress_traefik_routes:
      - {name: webui, namespace: ml, hostname: chat.lab.example, service: webui, port: 80}
""",
    )
    assert any(
        p.startswith(f"{path}: host s1: ingress_traefik_routes:") and "hostname" in p for p in found
    ), found


def test_acme_settings_and_names_are_checked(write, inventory_problems):
    path, found = problems_of(
        write,
        inventory_problems,
        """
    ingress_traefik_issuer: acme
    ingress_traefik_acme_email: ops-at-example.org
    ingress_traefik_acme_server: http://acme.example/directory
    ingress_traefik_cert_manager_namespace: Cert-Manager
    ingress_traefik_ca_dir: etc/ca
    ingress_traefik_ca_days: 0
""",
    )
    text = "\n".join(found)
    assert (
        f"{path}: host s1: ingress_traefik_acme_email: 'ops-at-example.org': not an email" in text
    )
    assert (
        "ingress_traefik_acme_server: 'http://acme.example/directory': must be an https URL" in text
    )
    assert "ingress_traefik_cert_manager_namespace: 'Cert-Manager': not a Kubernetes name" in text
    assert "ingress_traefik_ca_dir: 'etc/ca': must be an absolute path" in text
    assert f"{path}: host s1: ingress_traefik_ca_days: 0: must be 1 or more days" in text


def test_an_unknown_issuer_or_ingress_is_refused(write, inventory_problems):
    path, found = problems_of(
        write, inventory_problems, "    ingress_traefik_issuer: letsencrypt\n"
    )
    assert any(
        p.startswith(f"{path}: host s1: ingress_traefik_issuer:") and "selfsigned" in p
        for p in found
    ), found
    path = write("hosts.yml", CLUSTER.format(vars="").replace("traefik", "nginx"))
    found = checks.check(inventory.load(path))
    assert (
        f"{path}: host s1: homeforge_ingress: 'nginx': must be istio or traefik (or empty: no ingress layer)"
        in found
    )


def test_traefik_disabled_in_k3s_is_a_contradiction(write, inventory_problems):
    path, found = problems_of(
        write, inventory_problems, "    k3s_server_config: {disable: [traefik, servicelb]}\n"
    )
    assert found == [
        f"{path}: host s1: k3s_server_config: disable: traefik, but homeforge_ingress is"
        " traefik (the role configures K3s's bundled Traefik)"
    ]


def test_an_ingress_that_is_not_a_name_is_one_line(write):
    path = write("hosts.yml", CLUSTER.format(vars="").replace("traefik", "[traefik]"))
    found = checks.check(inventory.load(path))
    assert any(
        p.startswith(f"{path}: host s1: homeforge_ingress: ['traefik']: must be") for p in found
    )


def test_traefik_disabled_in_a_comma_separated_string_is_seen_too(write, inventory_problems):
    path, found = problems_of(
        write, inventory_problems, "    k3s_server_config: {disable: 'servicelb,traefik'}\n"
    )
    assert any(p.startswith(f"{path}: host s1: k3s_server_config: disable: traefik") for p in found)


def test_a_bad_network_in_ollamas_allow_list_is_one_line(write):
    path = write(
        "hosts.yml",
        CLUSTER.format(vars="    ingress_traefik_ollama_host: ollama.lab.example\n").replace(
            "s1: {ansible_host: 192.0.2.10}",
            "s1: {ansible_host: 192.0.2.10, ingress_traefik_ollama_allowed_cidrs: [10.77.0.0/24,"
            " lan]}",
        ),
    )
    assert checks.check(inventory.load(path)) == [
        f"{path}: host s1: ingress_traefik_ollama_allowed_cidrs: 'lan' is not a valid CIDR"
        " ('lan' does not appear to be an IPv4 or IPv6 network)"
    ]


def test_an_empty_allow_list_needs_ollama_to_be_public(write, inventory_problems):
    host = "    ingress_traefik_ollama_host: ollama.lab.example\n"
    path, found = problems_of(
        write, inventory_problems, host + "    ingress_traefik_ollama_allowed_cidrs: []\n"
    )
    assert found == [
        f"{path}: host s1: ingress_traefik_ollama_allowed_cidrs: empty: list the networks whose"
        " clients may use Ollama, or set ingress_traefik_ollama_public: true"
    ]
    _path, found = problems_of(
        write,
        inventory_problems,
        host
        + "    ingress_traefik_ollama_allowed_cidrs: []\n    ingress_traefik_ollama_public: true\n",
    )
    assert found == []


def test_a_public_ollama_is_accepted_with_one_warning(write, monkeypatch):
    # A day no release here is past its support (those warnings: test_checks_support.py).
    monkeypatch.setattr(support, "today", lambda: datetime.date(2025, 1, 1))
    host = "    ingress_traefik_ollama_host: ollama.example.org\n"
    path = write("hosts.yml", CLUSTER.format(vars=host))
    route = (
        f"{path}: host s1: ingress_traefik_ollama_host: ollama.example.org: publishes Ollama's own"
        " API, which has no keys: publish the AI gateway instead (ingress_traefik_gateway_host,"
        " a key per consumer)"
    )
    assert checks.warnings(inventory.load(path)) == [route]
    path = write(
        "hosts.yml", CLUSTER.format(vars=host + "    ingress_traefik_ollama_public: yes\n")
    )
    inv = inventory.load(path)
    assert checks.check(inv) == []
    warning = (
        f"{path}: host s1: ingress_traefik_ollama_public: true: Ollama at ollama.example.org is"
        " open to every client that reaches the ingress (its API has no authentication: anyone"
        " can pull and delete models and use the GPUs)"
    )
    assert checks.warnings(inv) == [warning, route]  # the first server's, where the role writes
    out = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert out.exit_code == 0
    lines = [" ".join(line.split()) for line in out.output.splitlines()]
    assert lines[-1] == f"warning: {route}" and lines[-2] == f"warning: {warning}"
    shown = out.output.split("warning:")[0]  # the console may wrap a long path
    assert "ok (2 hosts" in shown.replace("\n", "") or "ok (2 hosts" in " ".join(shown.split())
    out = CliRunner().invoke(main, ["inventory", "check", "-i", str(path), "--json"])
    assert out.exit_code == 0
    reported = json.loads(out.output.splitlines()[0])
    assert (reported["ok"], reported["warnings"]) == (True, [warning, route])


def test_the_cas_permitted_domains_are_dns_names(write, inventory_problems):
    path, found = problems_of(
        write,
        inventory_problems,
        "    ingress_traefik_ca_permitted_domains: [lab.example, '*.example.org']\n",
    )
    assert (
        f"{path}: host s1: ingress_traefik_ca_permitted_domains: '*.example.org': not a DNS name"
        in "\n".join(found)
    )
    assert not [p for p in found if "'lab.example'" in p]


def test_the_gateway_route_needs_a_gateway_and_draws_no_warning(write, inventory_problems):
    path, found = problems_of(
        write, inventory_problems, "    ingress_traefik_gateway_host: ai.lab.example\n"
    )
    assert found == [
        f"{path}: host s1: ingress_traefik_gateway_host: set, but group ai_gateway has no host:"
        " there is no gateway to publish"
    ]
    path, found = problems_of(
        write, inventory_problems, "    ingress_traefik_gateway_host: 'not a name'\n"
    )
    assert any("ingress_traefik_gateway_host: 'not a name'" in line for line in found)
