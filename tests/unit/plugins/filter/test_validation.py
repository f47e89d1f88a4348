"""The value_problem filter: roles check values with the rules inventory check uses."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.filter.validation import value_problem


def test_the_filter_applies_the_collections_rules():
    assert value_problem("10.77.0.5:11434", "listen") == ""
    assert value_problem("[fd00::5]:11434", "listen") == ""
    assert "port" in value_problem("0.0.0.0:99999", "listen")
    assert value_problem("0.0.0.0:11434\nExecStartPre=/x", "listen")
    assert value_problem("a\nb", "env_value")
    assert value_problem("-Hx.service", "unit_name")
    assert value_problem("ollama.lab.example", "dns_name") == ""
    assert "not a DNS name" in value_problem("Ollama_Lab", "dns_name")
    assert value_problem("ml", "kube_name") == ""
    assert value_problem("ops@example.org", "email") == ""
    assert value_problem("http://acme.example", "https_url")
    with pytest.raises(AnsibleFilterError, match="unknown rule"):
        value_problem("x", "nope")
