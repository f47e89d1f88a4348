"""A cross-host variable's value with the host's variables its templates name."""

from __future__ import annotations

from homeforge.fastpath.references import with_references


def test_a_plain_value_is_itself():
    assert with_references({"ansible_host": "10.0.0.1", "lan": "x"}, "ansible_host") == "10.0.0.1"
    # a name in a plain value, or in the text around a template, is not a reference
    assert with_references({"a": "lan", "lan": "x"}, "a") == "lan"
    assert with_references({"a": "lan-{{ n }}", "lan": "x", "n": 1}, "a") == {
        "a": "lan-{{ n }}",
        "n": 1,
    }


def test_templates_are_followed_through_every_value_they_name():
    hostvars = {
        "ansible_host": "{{ lan_ip }}",
        "lan_ip": "{{ lan_prefix }}.{{ octet }}",
        "lan_prefix": "10.0.0",
        "octet": 7,
        "other": "untouched",
    }
    assert with_references(hostvars, "ansible_host") == {
        "ansible_host": "{{ lan_ip }}",
        "lan_ip": "{{ lan_prefix }}.{{ octet }}",
        "lan_prefix": "10.0.0",
        "octet": 7,
    }


def test_names_in_lists_and_maps_and_cycles_end():
    hostvars = {
        "peers": [{"address": "{{ a }}"}],
        "a": "{{ b }}",
        "b": "{{ a | default('') }}",
    }
    assert set(with_references(hostvars, "peers")) == {"peers", "a", "b"}
    assert with_references({"x": "{{ undefined_elsewhere }}"}, "x") == "{{ undefined_elsewhere }}"
