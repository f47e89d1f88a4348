"""testinfra suite for the ingress_traefik role (molecule verify and `homeforge verify`).
In the lab K3s is a STAND-IN (tests/standins/k3s) that applies no manifests: these check
the role's work (the objects handed to K3s, the homelab CA, what reached the controller),
not Traefik, cert-manager or the certificates they would issue."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

MANIFESTS = "/var/lib/rancher/k3s/server/manifests"
KINDS = {
    "homeforge-traefik-config.yaml": ["HelmChartConfig"],
    "homeforge-cert-manager.yaml": ["Namespace", "HelmChart"],
    "homeforge-ingress-issuer.yaml": ["ClusterIssuer"],
}
ROUTE_KINDS = ["Certificate", "Middleware", "IngressRoute", "IngressRoute"]
RESTRICTED_ROUTE_KINDS = ["Certificate", "Middleware", *ROUTE_KINDS[1:]]  # + the allow-list


@pytest.fixture(scope="module")
def enabled(hf_vars):
    if hf_vars.get("homeforge_ingress") != "traefik":
        pytest.skip("homeforge_ingress is not traefik: the role does not run here")
    return hf_vars


def _first_server(hf_vars) -> str:
    return hf_vars["groups"][hf_vars["k3s_server_group"]][0]


def _selfsigned(hf_vars) -> bool:
    return hf_vars["ingress_traefik_issuer"] == "selfsigned"


def _objects(host, name: str) -> list[dict]:
    manifest = host.file(f"{MANIFESTS}/{name}")
    assert manifest.exists, name
    assert (manifest.mode, manifest.user, manifest.group) == (0o600, "root", "root"), name
    return [o for o in yaml.safe_load_all(manifest.content_string) if o]


def _route_kinds(hf_vars) -> list[tuple[str, list[str]]]:
    """(host name, the kinds of its objects) per route, in the role's order: the AI
    gateway's (its Namespace, Service and EndpointSlice first), Ollama's (with its
    allow-list unless public), then ingress_traefik_routes."""
    out = []
    if hf_vars["ingress_traefik_gateway_host"]:
        restricted = bool(hf_vars["ingress_traefik_gateway_allowed_cidrs"])
        out.append(
            (
                hf_vars["ingress_traefik_gateway_host"],
                ["Namespace", "Service", "EndpointSlice"]
                + (RESTRICTED_ROUTE_KINDS if restricted else ROUTE_KINDS),
            )
        )
    if hf_vars["ingress_traefik_ollama_host"]:
        restricted = not hf_vars["ingress_traefik_ollama_public"]
        out.append(
            (
                hf_vars["ingress_traefik_ollama_host"],
                RESTRICTED_ROUTE_KINDS if restricted else ROUTE_KINDS,
            )
        )
    return out + [(route["host"], ROUTE_KINDS) for route in hf_vars["ingress_traefik_routes"]]


def test_the_manifests_are_private_and_on_the_first_server_only(host, enabled, hf_host):
    names = [*KINDS, "homeforge-ingress-routes.yaml", "homeforge-ingress-ca.yaml"]
    if hf_host != _first_server(enabled):
        assert not any(host.file(f"{MANIFESTS}/{name}").exists for name in names)
        return
    for name, kinds in KINDS.items():
        assert [o["kind"] for o in _objects(host, name)] == kinds, name
    config = _objects(host, "homeforge-traefik-config.yaml")[0]
    assert (config["metadata"]["name"], config["metadata"]["namespace"]) == (
        "traefik",
        "kube-system",
    )
    chart = _objects(host, "homeforge-cert-manager.yaml")[1]
    assert chart["spec"]["chart"] == "cert-manager"
    assert chart["spec"]["version"] == enabled["ingress_traefik_cert_manager_chart_version"]
    assert yaml.safe_load(chart["spec"]["valuesContent"])["crds"]["enabled"] is True


def test_each_route_has_a_certificate_an_https_route_and_a_redirect(host, enabled, hf_host):
    if hf_host != _first_server(enabled):
        return
    objects = _objects(host, "homeforge-ingress-routes.yaml")
    routes = _route_kinds(enabled)
    hosts = [name for name, _kinds in routes]
    assert [o["kind"] for o in objects] == [kind for _name, kinds in routes for kind in kinds]
    certificates = [o for o in objects if o["kind"] == "Certificate"]
    assert [c["spec"]["dnsNames"] for c in certificates] == [[h] for h in hosts]
    issuer = _objects(host, "homeforge-ingress-issuer.yaml")[0]["metadata"]["name"]
    assert {c["spec"]["issuerRef"]["name"] for c in certificates} <= {issuer}
    routes = [o for o in objects if o["kind"] == "IngressRoute"]
    entrypoints = sorted(r["spec"]["entryPoints"][0] for r in routes)
    assert entrypoints == sorted(["websecure", "web"] * len(hosts))
    for route in routes:
        if route["spec"]["entryPoints"] == ["websecure"]:
            assert route["spec"]["tls"]["secretName"].endswith("-tls")
        else:
            assert route["spec"]["routes"][0]["middlewares"][-1]["name"].endswith("-redirect-https")


def test_the_gateway_route_goes_to_where_the_gateway_listens(host, enabled, hf_host, hf_peer):
    if hf_host != _first_server(enabled) or not enabled["ingress_traefik_gateway_host"]:
        return
    objects = _objects(host, "homeforge-ingress-routes.yaml")
    [service] = [o for o in objects if o["kind"] == "Service"]
    [endpoints] = [o for o in objects if o["kind"] == "EndpointSlice"]
    assert "selector" not in service["spec"]
    assert (
        endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == service["metadata"]["name"]
    )
    address = endpoints["endpoints"][0]["addresses"][0]
    port = endpoints["ports"][0]["port"]
    gateway = hf_peer(enabled["groups"]["ai_gateway"][0])
    start = gateway.check_output(
        "systemctl show --property=ExecStart --value homeforge-gateway.service"
    )
    assert f"--host {address} " in start and f"--port {port} " in start


def test_ollama_serves_only_the_allowed_networks_unless_public(host, enabled, hf_host):
    if hf_host != _first_server(enabled) or not enabled["ingress_traefik_ollama_host"]:
        return
    objects = _objects(host, "homeforge-ingress-routes.yaml")
    allow = [o for o in objects if o["metadata"]["name"] == "ollama-allowed-sources"]
    routes = [
        o
        for o in objects
        if o["kind"] == "IngressRoute" and o["metadata"]["name"] in ("ollama", "ollama-http")
    ]
    first = [r["spec"]["routes"][0].get("middlewares", [{}])[0].get("name") for r in routes]
    values = yaml.safe_load(
        _objects(host, "homeforge-traefik-config.yaml")[0]["spec"]["valuesContent"]
    )
    if enabled["ingress_traefik_ollama_public"]:
        assert allow == [] and "ollama-allowed-sources" not in first
        return
    (middleware,) = allow
    assert middleware["spec"] == {
        "ipAllowList": {"sourceRange": enabled["ingress_traefik_ollama_allowed_cidrs"]}
    }
    assert first == ["ollama-allowed-sources"] * 2
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"


def test_the_issuer_is_the_one_asked_for(host, enabled, hf_host):
    if hf_host != _first_server(enabled):
        return
    issuer = _objects(host, "homeforge-ingress-issuer.yaml")[0]
    secret = host.file(f"{MANIFESTS}/homeforge-ingress-ca.yaml")
    if _selfsigned(enabled):
        assert issuer["spec"] == {"ca": {"secretName": "homeforge-ca"}}
        assert [o["type"] for o in _objects(host, "homeforge-ingress-ca.yaml")] == [
            "kubernetes.io/tls"
        ]
    else:
        assert issuer["spec"]["acme"]["email"] == enabled["ingress_traefik_acme_email"]
        assert issuer["spec"]["acme"]["server"] == enabled["ingress_traefik_acme_server"]
        assert not secret.exists
        # K3s keeps a deleted manifest's objects: the role deletes the Secret itself
        namespace = enabled["ingress_traefik_cert_manager_namespace"]
        left = host.run(f"k3s kubectl get secret homeforge-ca --namespace {namespace} -o json")
        assert left.rc != 0 and "NotFound" in left.stderr


def test_the_homelab_ca_key_is_private_and_its_certificate_is_a_ca(host, enabled, hf_host):
    if hf_host != _first_server(enabled) or not _selfsigned(enabled):
        return
    ca_dir = enabled["ingress_traefik_ca_dir"]
    directory, key = host.file(ca_dir), host.file(f"{ca_dir}/ca.key")
    assert (directory.mode, directory.user) == (0o700, "root")
    assert (key.mode, key.user, key.group) == (0o600, "root", "root")
    text = host.check_output(f"openssl x509 -in {ca_dir}/ca.crt -noout -text")
    assert "CA:TRUE" in text and "Certificate Sign" in text
    # it may sign only for the permitted domains (the routes' parent domains by default)
    constraints = host.check_output(f"openssl x509 -in {ca_dir}/ca.crt -noout -ext nameConstraints")
    assert "X509v3 Name Constraints: critical" in constraints
    domains = (
        enabled["ingress_traefik_ca_permitted_domains"]
        or [name.partition(".")[2] or name for name, _kinds in _route_kinds(enabled)]
        or ["invalid"]
    )
    permitted = constraints.split("Excluded:")[0]
    assert sorted(line.strip()[4:] for line in permitted.splitlines() if "DNS:" in line) == sorted(
        set(domains)
    )
    assert "IP:0.0.0.0/0.0.0.0" in constraints.split("Excluded:")[1]
    made_with = host.file(f"{ca_dir}/ca.cnf")
    assert (made_with.mode, made_with.user) == (0o644, "root")
    assert "nameConstraints = critical, " in made_with.content_string
    # the certificate's public key is the key's (compared as public keys: nothing secret printed)
    from_key = host.check_output(f"openssl pkey -in {ca_dir}/ca.key -pubout")
    from_cert = host.check_output(f"openssl x509 -in {ca_dir}/ca.crt -noout -pubkey")
    assert from_key == from_cert
    secret = _objects(host, "homeforge-ingress-ca.yaml")[0]
    crt = host.file(f"{ca_dir}/ca.crt").content_string
    assert base64.b64decode(secret["data"]["tls.crt"]).decode() == crt


def test_the_controller_has_the_ca_certificate_and_nothing_secret(host, enabled, hf_host):
    if hf_host != _first_server(enabled) or not _selfsigned(enabled):
        return
    exported = Path(enabled["ingress_traefik_ca_export_path"])  # on the controller
    text = exported.read_text()
    assert text.count("-----BEGIN CERTIFICATE-----") == 1
    assert "PRIVATE KEY" not in text
    ca_dir = enabled["ingress_traefik_ca_dir"]
    assert text == host.file(f"{ca_dir}/ca.crt").content_string
