"""What the ingress_traefik role writes, checked against the upstream schemas: the
HelmChartConfig and HelmChart against helm-controller's CRDs, the ClusterIssuers and
Certificates against cert-manager's, the IngressRoutes and Middlewares against Traefik's,
the Namespace and the CA Secret against Kubernetes at the pinned version, and the chart
values against ../shared/charts/traefik (chart 41.3.0) and ../shared/charts/cert-manager."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render

ROLE = "ingress_traefik"
ROOT = Path(__file__).resolve().parents[2]
FILES = ["traefik-config", "cert-manager", "ingress-issuer", "ingress-routes"]


def _variables(**variables) -> dict:
    """The role's defaults as Ansible sees them, templated (the Ollama namespace follows
    ollama_k8s_namespace, 'ml' when it is not set), with variables over them."""
    raw = defaults(ROLE)
    context = {**raw, "inventory_dir": "/inv", **variables}
    templar = Templar(loader=DataLoader(), variables=context)
    resolved = {
        key: templar.template(trust_as_template(value)) if isinstance(value, str) else value
        for key, value in raw.items()
        if key not in variables
    }
    return {**resolved, **variables}


def _routes(**variables) -> list[dict]:
    return json.loads(render(ROLE, "routes.yml.j2", **_variables(**variables)))


def _objects(**variables) -> dict[str, list[dict]]:
    merged = _variables(**variables)
    merged.setdefault("_ingress_traefik_routes", _routes(**variables))
    return yaml.safe_load(render(ROLE, "objects.yml.j2", **merged))


def _all(objects: dict[str, list[dict]]) -> list[dict]:
    return [o for key in FILES for o in objects[key]]


def _values(objects: dict[str, list[dict]], kind: str) -> dict:
    chart = next(o for o in _all(objects) if o["kind"] == kind)
    return yaml.safe_load(chart["spec"]["valuesContent"])


def _ca_secret(**variables) -> dict:
    text = render(
        ROLE,
        "ca-secret.yaml.j2",
        **{
            **_variables(),
            "ansible_managed": "x",
            "_ingress_traefik_ca_cert_read": {"content": base64.b64encode(b"CERT").decode()},
            "_ingress_traefik_ca_key_read": {"content": base64.b64encode(b"KEY").decode()},
            **variables,
        },
    )
    return next(d for d in yaml.safe_load_all(text) if d)


# ---------------------------------------------------------------- every object validates


def test_the_defaults_write_traefiks_settings_cert_manager_and_a_ca_issuer():
    objects = _objects()
    assert list(objects) == FILES
    assert [o["kind"] for o in _all(objects)] == [
        "HelmChartConfig",
        "Namespace",
        "HelmChart",
        "ClusterIssuer",
    ]
    assert objects["ingress-routes"] == []  # no host for Ollama: no route
    kube_schemas.validate_all(_all(objects))
    config = objects["traefik-config"][0]
    assert config["metadata"] == {
        "name": "traefik",  # K3s merges a HelmChartConfig of this name into its chart
        "namespace": "kube-system",
        "labels": config["metadata"]["labels"],
    }
    issuer = objects["ingress-issuer"][0]
    assert issuer["metadata"]["name"] == "homeforge-ca"
    assert issuer["spec"] == {"ca": {"secretName": "homeforge-ca"}}


def test_ollama_gets_a_certificate_an_https_route_and_a_redirect():
    objects = _objects(ingress_traefik_ollama_host="ollama.lab.example")
    routes = objects["ingress-routes"]
    kube_schemas.validate_all(routes)
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in routes}
    assert all(o["metadata"]["namespace"] == "ml" for o in routes)  # the ollama role's default
    certificate = by_name["Certificate", "ollama"]["spec"]
    assert certificate == {
        "secretName": "ollama-tls",
        "dnsNames": ["ollama.lab.example"],
        "issuerRef": {"name": "homeforge-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    https = by_name["IngressRoute", "ollama"]["spec"]
    assert https["entryPoints"] == ["websecure"]
    assert https["tls"] == {"secretName": "ollama-tls"}
    assert https["routes"][0]["match"] == "Host(`ollama.lab.example`)"
    assert https["routes"][0]["services"] == [{"name": "ollama", "port": 11434}]
    redirect = by_name["Middleware", "ollama-redirect-https"]["spec"]
    assert redirect == {"redirectScheme": {"scheme": "https", "permanent": True}}
    http = by_name["IngressRoute", "ollama-http"]["spec"]
    assert http["entryPoints"] == ["web"]
    assert http["routes"][0]["middlewares"] == [{"name": "ollama-redirect-https"}]


def test_more_routes_follow_ollamas_and_its_namespace_follows_the_ollama_role():
    extra = {"name": "webui", "namespace": "chat", "host": "chat.lab.example"}
    routes = _routes(
        ingress_traefik_ollama_host="ollama.lab.example",
        ollama_k8s_namespace="llm",
        ingress_traefik_routes=[{**extra, "service": "open-webui", "port": 8080}],
    )
    assert [(r["name"], r["namespace"]) for r in routes] == [("ollama", "llm"), ("webui", "chat")]
    objects = _objects(_ingress_traefik_routes=routes)
    kube_schemas.validate_all(objects["ingress-routes"])
    assert len(objects["ingress-routes"]) == 8


def test_an_acme_issuer_solves_http01_through_traefik():
    objects = _objects(
        ingress_traefik_issuer="acme",
        ingress_traefik_acme_email="ops@example.org",
        ingress_traefik_ollama_host="ollama.example.org",
    )
    kube_schemas.validate_all(_all(objects))
    issuer = objects["ingress-issuer"][0]
    assert issuer["metadata"]["name"] == "homeforge-acme"
    assert issuer["spec"]["acme"] == {
        "email": "ops@example.org",
        "server": "https://acme-v02.api.letsencrypt.org/directory",
        "privateKeySecretRef": {"name": "homeforge-acme-account"},
        "solvers": [{"http01": {"ingress": {"ingressClassName": "traefik"}}}],
    }
    certificate = next(o for o in objects["ingress-routes"] if o["kind"] == "Certificate")
    assert certificate["spec"]["issuerRef"]["name"] == "homeforge-acme"
    staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    objects = _objects(
        ingress_traefik_issuer="acme",
        ingress_traefik_acme_email="ops@example.org",
        ingress_traefik_acme_server=staging,
    )
    assert objects["ingress-issuer"][0]["spec"]["acme"]["server"] == staging


def test_the_ca_secret_is_a_tls_secret_in_cert_managers_namespace():
    secret = _ca_secret()
    kube_schemas.validate(secret)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["namespace"] == "cert-manager"
    assert secret["metadata"]["name"] == _objects()["ingress-issuer"][0]["spec"]["ca"]["secretName"]
    assert base64.b64decode(secret["data"]["tls.key"]) == b"KEY"  # slurp's base64, as it is
    assert base64.b64decode(secret["data"]["tls.crt"]) == b"CERT"


def test_a_misspelt_field_or_a_wrong_value_is_caught():
    objects = _objects(ingress_traefik_ollama_host="ollama.lab.example")
    route = next(o for o in objects["ingress-routes"] if o["kind"] == "IngressRoute")
    route["spec"]["tls"]["secretname"] = route["spec"]["tls"].pop("secretName")
    with pytest.raises(AssertionError, match=r"spec\.tls\.secretname: unknown field"):
        kube_schemas.validate(route)
    issuer = objects["ingress-issuer"][0]
    issuer["spec"]["ca"]["secret"] = "x"
    with pytest.raises(AssertionError, match="unknown field"):
        kube_schemas.validate(issuer)
    secret = _ca_secret()
    secret["data"]["tls.crt"] = 5
    with pytest.raises(AssertionError):
        kube_schemas.validate(secret)


def test_the_manifest_files_hold_exactly_the_objects():
    objects = _objects(ingress_traefik_ollama_host="ollama.lab.example")
    for key in FILES:
        text = render(
            ROLE, "manifest.yaml.j2", _ingress_traefik_manifest=objects[key], ansible_managed="x"
        )
        assert [d for d in yaml.safe_load_all(text) if d] == objects[key], key


# ---------------------------------------------------------------- chart values


def test_traefik_values_redirect_http_and_exist_in_the_chart():
    values = _values(_objects(), "HelmChartConfig")
    assert values == {
        "additionalArguments": [
            "--entrypoints.web.http.redirections.entrypoint.to=:443",
            "--entrypoints.web.http.redirections.entrypoint.scheme=https",
            "--entrypoints.web.http.redirections.entrypoint.permanent=true",
        ]
    }
    assert kube_schemas.value_problems("traefik", values) == []
    assert _values(_objects(ingress_traefik_redirect_http=False), "HelmChartConfig") == {}


def test_traefik_inventory_values_merge_and_append_arguments():
    extra = {
        "additionalArguments": ["--log.level=DEBUG"],
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    values = _values(_objects(ingress_traefik_values=extra), "HelmChartConfig")
    assert values["additionalArguments"][-1] == "--log.level=DEBUG"
    assert len(values["additionalArguments"]) == 4
    assert kube_schemas.value_problems("traefik", values) == []


def test_a_traefik_value_the_chart_does_not_have_is_caught():
    values = _values(_objects(ingress_traefik_values={"additionalArgs": ["x"]}), "HelmChartConfig")
    assert any("additionalArgs" in p for p in kube_schemas.value_problems("traefik", values))


def test_cert_manager_values_install_the_crds_and_exist_in_the_chart():
    values = _values(_objects(), "HelmChart")
    assert values == {"crds": {"enabled": True}}
    assert kube_schemas.value_problems("cert-manager", values) == []
    merged = _values(
        _objects(ingress_traefik_cert_manager_values={"crds": {"keep": True}, "replicaCount": 2}),
        "HelmChart",
    )
    assert merged == {"crds": {"enabled": True, "keep": True}, "replicaCount": 2}
    assert kube_schemas.value_problems("cert-manager", merged) == []


def test_a_cert_manager_value_the_chart_does_not_have_is_caught():
    wrong = _values(
        _objects(ingress_traefik_cert_manager_values={"installCrds": True}), "HelmChart"
    )
    assert any("installCrds" in p for p in kube_schemas.value_problems("cert-manager", wrong))


def test_the_readme_names_the_chart_versions_the_values_were_checked_against():
    readme = (ROOT / "roles" / ROLE / "README.md").read_text()
    assert kube_schemas.chart_version("traefik") == "41.3.0"
    for version in (
        "41.3.0",
        "27.0.201+up27.0.2",
        defaults(ROLE)["ingress_traefik_cert_manager_chart_version"],
    ):
        assert version in readme, version
