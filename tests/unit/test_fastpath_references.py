"""A variable's value with the inventory variables its templates name."""

from __future__ import annotations

from homeforge.fastpath.references import with_references


def test_a_plain_value_is_itself():
    hostvars = {"a": {"ansible_host": "10.0.0.1", "lan": "x"}}
    assert with_references(hostvars, "a", "ansible_host") == "10.0.0.1"
    # a name in a plain value, or in the text around a template, is not a reference
    assert with_references({"a": {"v": "lan", "lan": "x"}}, "a", "v") == "lan"
    hostvars = {"a": {"v": "lan-{{ n }}", "lan": "x", "n": 1}}
    assert with_references(hostvars, "a", "v") == {"a v": "lan-{{ n }}", "a n": 1}


def test_templates_are_followed_through_every_value_they_name():
    hostvars = {
        "a": {
            "ansible_host": "{{ lan_ip }}",
            "lan_ip": "{{ lan_prefix }}.{{ octet }}",
            "lan_prefix": "10.0.0",
            "octet": 7,
            "other": "untouched",
        }
    }
    assert with_references(hostvars, "a", "ansible_host") == {
        "a ansible_host": "{{ lan_ip }}",
        "a lan_ip": "{{ lan_prefix }}.{{ octet }}",
        "a lan_prefix": "10.0.0",
        "a octet": 7,
    }


def test_another_hosts_variable_through_hostvars_named_or_computed():
    hostvars = {
        "lab-1": {"lan_ip": "10.0.0.1", "lan_name": "{{ site }}-1", "site": "home"},
        "lab-2": {
            "dotted": "{{ hostvars['lab-1'].lan_ip }}:51820",
            "keyed": '{{ hostvars["lab-1"]["lan_name"] }}',
            "computed": "{{ hostvars[groups.server | first].lan_ip }}",
        },
        "lab-3": {"lan_ip": "10.0.0.3"},
    }
    assert with_references(hostvars, "lab-2", "dotted") == {
        "lab-1 lan_ip": "10.0.0.1",
        "lab-2 dotted": "{{ hostvars['lab-1'].lan_ip }}:51820",
    }
    assert set(with_references(hostvars, "lab-2", "keyed")) == {
        "lab-2 keyed",
        "lab-1 lan_name",
        "lab-1 site",  # followed on lab-1, where its template resolves
    }
    # the host is only known when Ansible runs: every host's value of that variable
    assert set(with_references(hostvars, "lab-2", "computed")) == {
        "lab-2 computed",
        "lab-1 lan_ip",
        "lab-3 lan_ip",
    }


def test_names_in_lists_and_maps_and_cycles_end():
    hostvars = {
        "a": {
            "peers": [{"address": "{{ x }}"}],
            "x": "{{ y }}",
            "y": "{{ x | default('') }}",
        }
    }
    assert set(with_references(hostvars, "a", "peers")) == {"a peers", "a x", "a y"}
    assert with_references({"a": {"v": "{{ elsewhere }}"}}, "a", "v") == "{{ elsewhere }}"
