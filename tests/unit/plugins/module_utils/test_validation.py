"""The shared validation rules (module_utils/validation.py)."""

from __future__ import annotations

import pytest
from ansible_collections.homeforge.homelab.plugins.module_utils import validation


@pytest.mark.parametrize("name", ["wg0", "wg-mesh", "wg_0", "wg.1", "a=b+c", "x" * 15, "0"])
def test_interface_names_accepted(name):
    assert validation.is_interface_name(name)
    assert validation.interface_name_problem(name) is None
    assert validation.INTERFACE_NAME_RE.fullmatch(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("wg0 private-key #", "only letters"),  # would split into wg arguments
        ("wg0;cmd", "only letters"),
        ("wg0\n", "only letters"),  # '$' in a regex would let this through
        ("wg0\nPrivateKey = x", "only letters"),
        ("x" * 16, "at most 15"),
        ("-x", "must not start with '-'"),  # read as an option by wg / ip
        ("wg/0", "only letters"),
        ("..", "not interface names"),
        (".", "not interface names"),
        ("", "non-empty"),
        (None, "non-empty"),
        (0, "non-empty"),
    ],
)
def test_interface_names_rejected_with_a_reason(name, why):
    assert not validation.is_interface_name(name)
    assert why in validation.interface_name_problem(name)
    assert not (isinstance(name, str) and validation.INTERFACE_NAME_RE.fullmatch(name))


@pytest.mark.parametrize("name", ["lab-1", "node_2", "a.example.org", "x" * 253])
def test_peer_names_accepted(name):
    assert validation.is_peer_name(name)


@pytest.mark.parametrize("name", ["../etc", "a/b", "a b", "a\n", "", "x" * 254, None])
def test_peer_names_rejected(name):
    assert not validation.is_peer_name(name)


@pytest.mark.parametrize(
    "name", ["net.ipv4.ip_forward", "net.ipv4.conf.wg-mesh.forwarding", "vm.swappiness"]
)
def test_sysctl_names_accepted(name):
    assert validation.is_sysctl_name(name)


@pytest.mark.parametrize(
    "name", ["net./etc/passwd", "net..ipv4", ".net", "net.", "net.ipv4.ip forward", "", None]
)
def test_sysctl_names_rejected(name):
    assert not validation.is_sysctl_name(name)


# ---------------------------------------------------------------- names in Kubernetes objects


@pytest.mark.parametrize("name", ["ollama.lab.example", "ollama", "a-1.b2.example", "x" * 63])
def test_dns_names_accepted(name):
    assert validation.dns_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Ollama.lab.example", "not a DNS name"),  # the API server refuses upper case
        ("ollama_lab.example", "not a DNS name"),
        ("*.lab.example", "not a DNS name"),  # no wildcard: it is also a Host() rule
        ("ollama.lab.example.", "not a DNS name"),
        ("-a.example", "not a DNS name"),
        ("a..example", "not a DNS name"),
        ("x" * 64 + ".example", "not a DNS name"),
        ("a`) || Host(`b", "not a DNS name"),  # would widen the route's rule
        ("10.0.0.5", "not an IP address"),
        ("a\nb", "control characters"),
        ("", "non-empty"),
        (None, "non-empty"),
    ],
)
def test_dns_names_rejected_with_a_reason(name, why):
    assert why in validation.dns_name_problem(name)


@pytest.mark.parametrize("name", ["ml", "cert-manager", "ollama", "a1", "x" * 63])
def test_kube_names_accepted(name):
    assert validation.kube_name_problem(name) is None


@pytest.mark.parametrize("name", ["ML", "a.b", "-a", "a-", "x" * 64, "a b", "", None])
def test_kube_names_rejected(name):
    assert validation.kube_name_problem(name)


@pytest.mark.parametrize("address", ["ops@example.org", "first.last+lab@mail.example.co.uk"])
def test_email_addresses_accepted(address):
    assert validation.email_problem(address) is None


@pytest.mark.parametrize(
    "address", ["ops", "ops@localhost", "@example.org", "a b@example.org", "ops@ex ample.org", ""]
)
def test_email_addresses_rejected(address):
    assert validation.email_problem(address)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme-v02.api.letsencrypt.org/directory",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
        "https://ca.lab.example:14000/dir",
        "https://10.0.0.5",
    ],
)
def test_https_urls_accepted(url):
    assert validation.https_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://acme.example/directory", "https URL"),
        ("acme.example/directory", "https URL"),
        ("https://acme.example:99999/", "port"),
        ("https://acme example/", "host"),
        ("https://acme.example/dir ectory", "may use only"),
        ("https://acme.example/\nx", "control characters"),
    ],
)
def test_https_urls_rejected_with_a_reason(url, why):
    assert why in validation.https_url_problem(url)
