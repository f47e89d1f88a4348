"""What the ingress_traefik role writes, checked against the upstream schemas: the
HelmChartConfig and HelmChart against helm-controller's CRDs, the ClusterIssuers and
Certificates against cert-manager's, the IngressRoutes and Middlewares against Traefik's,
the Namespace and the CA Secret against Kubernetes at the pinned version, and the chart
values against ../shared/charts/traefik (chart 41.3.0) and ../shared/charts/cert-manager;
then the homelab CA, made here with the role's openssl configuration, and its name
constraints, checked with cryptography."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.tools import kube_schemas
from tests.tools.role_render import defaults, render
from tests.unit.plugins.support import COLLECTIONS

ROLE = "ingress_traefik"
ROOT = Path(__file__).resolve().parents[2]
FILES = ["traefik-config", "cert-manager", "ingress-issuer", "ingress-routes"]


def _variables(**variables) -> dict:
    """The role's defaults as Ansible sees them, templated (the Ollama namespace follows
    ollama_k8s_namespace, 'ml' when it is not set; the allow-list wireguard_mesh_cidr),
    with variables over them."""
    raw = defaults(ROLE)
    context = {**raw, "inventory_dir": "/inv", **variables}
    templar = Templar(loader=DataLoader(), variables=context)

    def resolved(value):
        if isinstance(value, list):
            return [resolved(item) for item in value]
        return templar.template(trust_as_template(value)) if isinstance(value, str) else value

    return {
        **{key: resolved(value) for key, value in raw.items() if key not in variables},
        **variables,
    }


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
    assert http["routes"][0]["middlewares"] == [
        {"name": "ollama-allowed-sources"},
        {"name": "ollama-redirect-https"},
    ]


def test_ollama_serves_only_the_mesh_by_default():
    objects = _objects(ingress_traefik_ollama_host="ollama.example.org")
    kube_schemas.validate_all(_all(objects))
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects["ingress-routes"]}
    allow = by_name["Middleware", "ollama-allowed-sources"]
    assert allow["metadata"]["namespace"] == "ml"
    # the connection's peer address: no ipStrategy, so X-Forwarded-For is not read
    assert allow["spec"] == {"ipAllowList": {"sourceRange": ["10.77.0.0/24"]}}
    for name in ("ollama", "ollama-http"):  # the allow-list first, on both entrypoints
        route = by_name["IngressRoute", name]["spec"]["routes"][0]
        assert route["middlewares"][0] == {"name": "ollama-allowed-sources"}, name
    values = _values(objects, "HelmChartConfig")
    assert values["service"] == {"spec": {"externalTrafficPolicy": "Local"}}
    # the chart passes service.spec into Traefik's Service as it is
    assert kube_schemas.value_problems("traefik", values, open_paths=["service.spec"]) == []
    routes = _routes(
        ingress_traefik_ollama_host="ollama.example.org", wireguard_mesh_cidr="10.99.0.0/16"
    )
    assert routes[0]["allowed_cidrs"] == ["10.99.0.0/16"]  # follows the mesh
    mine = ["10.99.0.0/16", "192.168.1.0/24", "2001:db8::/64"]
    objects = _objects(
        ingress_traefik_ollama_host="ollama.example.org", ingress_traefik_ollama_allowed_cidrs=mine
    )
    allow = next(o for o in objects["ingress-routes"] if o["metadata"]["name"].endswith("sources"))
    assert allow["spec"]["ipAllowList"]["sourceRange"] == mine
    kube_schemas.validate(allow)


def test_a_public_ollama_has_no_allow_list_and_other_routes_never_do():
    webui = {"name": "webui", "namespace": "chat", "host": "chat.lab.example"}
    objects = _objects(
        ingress_traefik_ollama_host="ollama.example.org",
        ingress_traefik_ollama_public=True,
        ingress_traefik_routes=[{**webui, "service": "open-webui", "port": 8080}],
    )
    routes = objects["ingress-routes"]
    kube_schemas.validate_all(routes)
    assert not [o for o in routes if "ipAllowList" in o.get("spec", {})]
    for route in (o for o in routes if o["kind"] == "IngressRoute"):
        rule = route["spec"]["routes"][0]
        assert rule.get("middlewares", []) in (
            [],
            [{"name": route["metadata"]["name"].removesuffix("-http") + "-redirect-https"}],
        ), route["metadata"]["name"]
    assert "service" not in _values(objects, "HelmChartConfig")


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
    assert len(objects["ingress-routes"]) == 9  # Ollama's has its allow-list too


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
    allow = next(o for o in objects["ingress-routes"] if o["metadata"]["name"].endswith("sources"))
    allow["spec"]["ipAllowList"]["sourcerange"] = allow["spec"]["ipAllowList"].pop("sourceRange")
    with pytest.raises(AssertionError, match=r"ipAllowList\.sourcerange: unknown field"):
        kube_schemas.validate(allow)
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


# ---------------------------------------------------------------- the role's own checks, run by Ansible


def _check_mode_run(tmp_path: Path, **server_vars) -> tuple[int, dict]:
    """The role in check mode on this machine as the only server (no K3s here: it reads,
    and writes nothing); the JSON callback's report."""
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ingress_traefik_ca_dir": str(tmp_path / "ca"),
        "ingress_traefik_ca_export_path": str(tmp_path / "export" / "ingress-ca.crt"),
        **server_vars,
    }
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"server": {"hosts": {"localhost": host}}}}})
    )
    (tmp_path / "play.yml").write_text(
        "- hosts: server\n  gather_facts: false\n"
        "  roles: [{role: homeforge.homelab.ingress_traefik}]\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    playbook = Path(sys.executable).parent / "ansible-playbook"
    done = subprocess.run(
        [str(playbook), "-i", "hosts.yml", "play.yml", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    return done.returncode, json.loads(done.stdout[done.stdout.index("{") :])


def _results(report: dict) -> dict[str, dict]:
    tasks = report["plays"][0]["tasks"]
    return {t["task"]["name"].split(" : ", 1)[-1]: t["hosts"]["localhost"] for t in tasks}


def test_the_role_writes_ollamas_allow_list_with_the_mesh_and_refuses_an_empty_one(tmp_path):
    code, report = _check_mode_run(tmp_path, ingress_traefik_ollama_host="ollama.lab.example")
    assert code == 0, report
    objects = _results(report)["The objects, by manifest file"]["ansible_facts"]
    routes = objects["_ingress_traefik_objects"]["ingress-routes"]
    kube_schemas.validate_all(routes)  # as Ansible itself rendered them
    allow = next(o for o in routes if o["metadata"]["name"] == "ollama-allowed-sources")
    assert allow["spec"]["ipAllowList"]["sourceRange"] == ["10.77.0.0/24"]  # templated
    for allowed in ([], ["10.77.0.0/24", "lan"]):
        code, report = _check_mode_run(
            tmp_path,
            ingress_traefik_ollama_host="ollama.lab.example",
            ingress_traefik_ollama_allowed_cidrs=allowed,
        )
        assert code != 0
        failed = [r["msg"] for r in _results(report).values() if r.get("failed")]
        assert len(failed) == 1 and "ingress_traefik_ollama_allowed_cidrs CIDRs" in failed[0]
    code, report = _check_mode_run(
        tmp_path,
        ingress_traefik_ollama_host="ollama.lab.example",
        ingress_traefik_ollama_allowed_cidrs=[],
        ingress_traefik_ollama_public=True,
    )
    assert code == 0, report


# ---------------------------------------------------------------- the homelab CA


def _ca_config(**variables) -> str:
    """templates/ca.cnf.j2 as the tasks render it (the first server s1)."""
    merged = _variables(**variables)
    merged.setdefault("_ingress_traefik_routes", _routes(**variables))
    return render(ROLE, "ca.cnf.j2", _ingress_traefik_server="s1", **merged)


def _ca_argv(task_prefix: str, ca_dir: Path) -> list[str]:
    """The argv of a task of tasks/ca.yml, for a CA in ca_dir valid 30 days."""
    tasks = yaml.safe_load((ROOT / "roles" / ROLE / "tasks" / "ca.yml").read_text())
    (task,) = [
        t for t in tasks if t["name"].startswith(task_prefix) and "ansible.builtin.command" in t
    ]
    return [
        str(arg)
        .replace("{{ ingress_traefik_ca_dir }}", str(ca_dir))
        .replace("{{ ingress_traefik_ca_days | int }}", "30")
        for arg in task["ansible.builtin.command"]["argv"]
    ]


def _make_ca(ca_dir: Path, config: str):
    """A CA made as tasks/ca.yml makes it: its openssl commands, the configuration on stdin."""
    for prefix, stdin in (("The CA's key", None), ("The CA's self-signed certificate", config)):
        subprocess.run(_ca_argv(prefix, ca_dir), input=stdin, text=True, check=True)
    certificate = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    return certificate, key


def _leaf(ca: x509.Certificate, ca_key, name: x509.GeneralName) -> x509.Certificate:
    """A server certificate as cert-manager's CA issuer makes one (no subject, the name
    in a critical subjectAltName)."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([name]), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _trusted(ca: x509.Certificate, leaf: x509.Certificate, subject) -> bool:
    verifier = (
        verification.PolicyBuilder().store(verification.Store([ca])).build_server_verifier(subject)
    )
    try:
        verifier.verify(leaf, [])
    except verification.VerificationError:
        return False
    return True


def test_the_homelab_ca_may_sign_only_for_the_routes_domains(tmp_path):
    config = _ca_config(
        ingress_traefik_ollama_host="ollama.lab.example",
        ingress_traefik_routes=[
            {
                "name": "webui",
                "namespace": "ml",
                "host": "chat.home.arpa",
                "service": "w",
                "port": 80,
            }
        ],
    )
    ca, key = _make_ca(tmp_path, config)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "homeforge ingress CA (s1)"
    )
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical is True
    assert constraints.value.permitted_subtrees == [
        x509.DNSName("home.arpa"),
        x509.DNSName("lab.example"),
    ]
    assert constraints.value.excluded_subtrees == [
        x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
        x509.IPAddress(ipaddress.ip_network("::/0")),
    ]
    for name in ("ollama.lab.example", "models.gpu.lab.example", "chat.home.arpa"):
        leaf = _leaf(ca, key, x509.DNSName(name))
        assert _trusted(ca, leaf, verification.DNSName(name)), name
    for name in ("ollama.example.org", "bank.example", "lab.example.org"):
        leaf = _leaf(ca, key, x509.DNSName(name))
        assert not _trusted(ca, leaf, verification.DNSName(name)), name
    address = ipaddress.ip_address("10.77.0.5")
    leaf = _leaf(ca, key, x509.IPAddress(address))
    assert not _trusted(ca, leaf, verification.IPAddress(address))


def test_the_ca_configuration_changes_only_with_the_permitted_domains():
    """The tasks make a new CA when the configuration differs from the one kept beside it."""
    ollama = _ca_config(ingress_traefik_ollama_host="ollama.lab.example")
    webui = {"name": "webui", "namespace": "ml", "service": "open-webui", "port": 80}
    same_domain = _ca_config(
        ingress_traefik_ollama_host="ollama.lab.example",
        ingress_traefik_routes=[{**webui, "host": "chat.lab.example"}],
    )
    assert same_domain == ollama
    assert "permitted;DNS:lab.example, excluded;IP:" in ollama
    other_domain = _ca_config(
        ingress_traefik_ollama_host="ollama.lab.example",
        ingress_traefik_routes=[{**webui, "host": "chat.example.org"}],
    )
    assert "permitted;DNS:example.org, permitted;DNS:lab.example, excluded" in other_domain
    explicit = _ca_config(
        ingress_traefik_ollama_host="ollama.lab.example",
        ingress_traefik_routes=[{**webui, "host": "chat.example.org"}],
        ingress_traefik_ca_permitted_domains=["example"],
    )
    assert "nameConstraints = critical, permitted;DNS:example, excluded;IP:" in explicit
    # no route yet: a CA that can sign for nothing that resolves (.invalid, RFC 6761)
    assert "permitted;DNS:invalid, excluded" in _ca_config()


# ---------------------------------------------------------------- the AI gateway's route


def test_the_gateway_is_published_through_a_service_and_an_endpointslice_to_its_host():
    backend = {"address": "10.77.0.5", "port": 4000}
    objects = _objects(
        ingress_traefik_gateway_host="ai.lab.example", _ingress_traefik_gateway_backend=backend
    )
    for obj in _all(objects):
        assert kube_schemas.problems(obj) == [], obj
    routes = [
        o
        for o in objects["ingress-routes"]
        if o["metadata"].get("namespace") == "homeforge-gateway"
    ]
    kinds = [o["kind"] for o in objects["ingress-routes"]]
    assert kinds[:3] == ["Namespace", "Service", "EndpointSlice"]
    service = next(o for o in routes if o["kind"] == "Service")
    slice_ = next(o for o in routes if o["kind"] == "EndpointSlice")
    assert "selector" not in service["spec"]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == service["metadata"]["name"]
    assert slice_["endpoints"][0]["addresses"] == ["10.77.0.5"]
    assert slice_["ports"][0]["name"] == service["spec"]["ports"][0]["name"] == "http"
    https = next(
        o
        for o in routes
        if o["kind"] == "IngressRoute" and o["spec"]["entryPoints"] == ["websecure"]
    )
    assert https["spec"]["routes"][0]["match"] == "Host(`ai.lab.example`)"
    assert https["spec"]["routes"][0]["services"] == [{"name": "ai-gateway", "port": 4000}]
    assert "middlewares" not in https["spec"]["routes"][0]  # every request needs a consumer key
    # no route to Ollama unless asked for
    assert not [o for o in _all(objects) if o["metadata"].get("name") == "ollama"]


def test_the_gateway_route_may_be_limited_to_networks_and_serves_ipv6():
    backend = {"address": "fd77::5", "port": 4100}
    objects = _objects(
        ingress_traefik_gateway_host="ai.lab.example",
        ingress_traefik_gateway_allowed_cidrs=["192.168.0.0/16"],
        _ingress_traefik_gateway_backend=backend,
    )
    for obj in _all(objects):
        assert kube_schemas.problems(obj) == [], obj
    slice_ = next(o for o in _all(objects) if o["kind"] == "EndpointSlice")
    assert slice_["addressType"] == "IPv6" and slice_["ports"][0]["port"] == 4100
    allow = next(o for o in _all(objects) if o["metadata"]["name"] == "ai-gateway-allowed-sources")
    assert allow["spec"]["ipAllowList"]["sourceRange"] == ["192.168.0.0/16"]
