"""Which roles read an inventory variable (homeforge.fastpath.readers): on the collection
itself, and on small collections made here to show each way a role reads one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from homeforge.fastpath import readers

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "playbooks" / "site.yml"


def test_the_collections_roles_read_their_own_variables():
    keep_alive = readers.readers(ROOT, SITE, "ollama_keep_alive", {})
    assert "ollama" in keep_alive and not {"common", "wireguard", "k3s_server"} & keep_alive
    ntp = readers.readers(ROOT, SITE, "common_ntp_servers", {})
    assert "common" in ntp and "ollama" not in ntp
    # the gateway serves every Ollama host's models: it reads them across hosts
    assert {"ollama", "ai_gateway"} <= readers.readers(ROOT, SITE, "ollama_models", {})


def test_connection_variables_and_those_the_playbook_names_are_not_targeted():
    for name in ("ansible_host", "ansible_user", "inventory_hostname", "groups"):
        assert readers.readers(ROOT, SITE, name, {}) is None, name
    # site.yml's plays test these in conditions: only the whole playbook is safe
    for name in ("ollama_mode", "homeforge_ingress"):
        assert readers.readers(ROOT, SITE, name, {}) is None, name


def test_an_inventory_value_that_names_a_variable_passes_its_readers_on():
    plain = readers.readers(ROOT, SITE, "my_ntp", {})
    chained = readers.readers(ROOT, SITE, "my_ntp", {"common_ntp_servers": ["{{ my_ntp }}"]})
    assert "common" not in plain and "common" in chained


def _collection(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "collection"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "playbooks").mkdir(exist_ok=True)
    site = root / "playbooks" / "site.yml"
    if not site.exists():
        site.write_text("- hosts: all\n  roles: [a, b, c, d]\n")
    return root


@pytest.fixture
def small(tmp_path):
    readers.role_words.cache_clear()
    readers._role_definitions.cache_clear()
    readers._plugins.cache_clear()
    readers._role_calls.cache_clear()
    root = _collection(
        tmp_path,
        {
            # a: defines a_url from a_host; b reads a_url (a's default, exposed to the play)
            "roles/a/defaults/main.yml": 'a_host: example\na_url: "http://{{ a_host }}/"\n',
            "roles/a/tasks/main.yml": "- ansible.builtin.debug: {msg: hello}\n",
            "roles/b/tasks/main.yml": "- ansible.builtin.debug: {msg: '{{ a_url }}'}\n",
            # c calls a filter whose code reads the key 'peer_secret' from hostvars
            "roles/c/tasks/main.yml": (
                "- ansible.builtin.set_fact:\n"
                "    x: \"{{ hostvars | homeforge.homelab.peers_of('x') }}\"\n"
            ),
            "plugins/filter/peers.py": '''
                DOCUMENTATION = r"""
                short_description: its example names doc_only_var
                """
                from ansible_collections.homeforge.homelab.plugins.module_utils import keys

                class FilterModule:
                    def filters(self):
                        return {"peers_of": keys.peers_of}
            ''',
            "plugins/module_utils/keys.py": "def peers_of(hv, x):\n    return hv['peer_secret']\n",
            # d reads variables by computed names
            "roles/d/tasks/main.yml": (
                "- ansible.builtin.debug: {msg: \"{{ lookup('ansible.builtin.vars', item) }}\"}\n"
                "  loop: [d_one]\n"
            ),
        },
    )
    yield root, root / "playbooks" / "site.yml"
    readers.role_words.cache_clear()
    readers._role_definitions.cache_clear()
    readers._plugins.cache_clear()
    readers._role_calls.cache_clear()


def test_a_role_default_that_names_a_variable_makes_its_readers_read_it(small):
    root, site = small
    assert readers.readers(root, site, "a_host", {}) == {"a", "b", "d"}
    assert readers.readers(root, site, "a_url", {}) == {"a", "b", "d"}


def test_a_plugin_that_reads_a_variable_makes_its_callers_readers(small):
    root, site = small
    assert readers.readers(root, site, "peer_secret", {}) == {"c", "d"}
    # the documentation's examples are not code
    assert readers.readers(root, site, "doc_only_var", {}) == {"d"}


def test_a_role_that_reads_by_computed_names_reads_every_variable(small):
    root, site = small
    assert readers.readers(root, site, "nobody_reads_this", {}) == {"d"}


def test_group_vars_beside_the_playbook_leave_only_the_whole_playbook(small):
    root, site = small
    (site.parent / "group_vars").mkdir()
    assert readers.readers(root, site, "a_host", {}) is None
