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
    # a connection variable reached that way: the whole playbook
    assert readers.readers(ROOT, SITE, "lan_ip", {"ansible_host": "{{ lan_ip }}"}) is None
    for name in ("foo-bar", "mitogen_via"):  # not found by name / a connection's
        assert readers.readers(ROOT, SITE, name, {}) is None, name


def test_a_value_still_encrypted_may_name_any_variable():
    from homeforge.inventory.model import Vaulted

    sealed = {"k3s_token": Vaulted("$ANSIBLE_VAULT;1.1;AES256\n6162")}
    assert "k3s_server" not in readers.readers(ROOT, SITE, "my_ntp", {})
    assert "k3s_server" in readers.readers(ROOT, SITE, "my_ntp", sealed)


def test_a_vaulted_value_is_read_decrypted_for_its_names(write, monkeypatch):
    from homeforge import inventory
    from homeforge.inventory.model import Vaulted

    inv = inventory.load(
        write("inv/hosts.yml", "all:\n  hosts:\n    h: {ansible_host: 10.0.0.1}\n")
    )
    inv.hostvars["h"]["k3s_token"] = Vaulted("$ANSIBLE_VAULT;1.1;AES256\n6162")
    monkeypatch.setattr(type(inv), "setting", lambda self, host, key: "{{ lb_vip }}")
    assert readers.host_values(inv, "h")["k3s_token"] == "{{ lb_vip }}"
    assert "k3s_server" in readers.readers(ROOT, SITE, "lb_vip", readers.host_values(inv, "h"))


def _collection(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "collection"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "playbooks").mkdir(exist_ok=True)
    site = root / "playbooks" / "site.yml"
    if not site.exists():
        site.write_text("- hosts: all\n  roles: [a, b, c, d, e, f, g, h]\n")
    return root


def _clear():
    for cached in (readers.role_words, readers._role_definitions, readers._plugins):
        cached.cache_clear()
    readers._role_calls.cache_clear()


@pytest.fixture
def small(tmp_path):
    _clear()
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
            # e: a block scalar (a name after a line break), a set_fact others read
            "roles/e/tasks/main.yml": (
                "- ansible.builtin.set_fact:\n"
                '    e_derived: "{{ e_source }}"\n'
                "- ansible.builtin.command:\n"
                "    cmd: |\n"
                "      echo start\n"
                "      {{ e_block_var }}\n"
            ),
            "roles/f/tasks/main.yml": "- ansible.builtin.debug: {msg: '{{ e_derived }}'}\n",
            # g reads another host's variable by a key it computes
            "roles/g/tasks/main.yml": "- ansible.builtin.debug: {msg: '{{ hostvars[h][key] }}'}\n",
            # h calls a module whose module_utils imports another that reads deep_key
            "roles/h/tasks/main.yml": "- homeforge.homelab.deep_mod: {}\n",
            "plugins/modules/deep_mod.py": (
                "from ansible_collections.homeforge.homelab.plugins.module_utils import mid\n"
            ),
            "plugins/module_utils/mid.py": (
                "from ansible_collections.homeforge.homelab.plugins.module_utils.leaf import x\n"
            ),
            "plugins/module_utils/leaf.py": "x = {'deep_key': 1}\n",
        },
    )
    yield root, root / "playbooks" / "site.yml"
    _clear()


def test_a_role_default_that_names_a_variable_makes_its_readers_read_it(small):
    root, site = small
    assert readers.readers(root, site, "a_host", {}) == {"a", "b", "d", "g"}
    assert readers.readers(root, site, "a_url", {}) == {"a", "b", "d", "g"}


def test_a_plugin_that_reads_a_variable_makes_its_callers_readers(small):
    root, site = small
    assert readers.readers(root, site, "peer_secret", {}) == {"c", "d", "g"}
    # the documentation's examples are not code
    assert readers.readers(root, site, "doc_only_var", {}) == {"d", "g"}
    # through a module_utils file that another imports
    assert readers.readers(root, site, "deep_key", {}) == {"d", "g", "h"}


def test_a_role_that_reads_by_computed_names_reads_every_variable(small):
    root, site = small
    assert readers.readers(root, site, "nobody_reads_this", {}) == {"d", "g"}


def test_a_name_after_a_line_break_and_a_set_fact_others_read_are_found(small):
    root, site = small
    assert readers.readers(root, site, "e_block_var", {}) == {"d", "e", "g"}
    assert readers.readers(root, site, "e_source", {}) == {"d", "e", "f", "g"}


def test_a_name_in_a_playbook_the_run_imports_leaves_only_the_whole_playbook(small):
    root, site = small
    site.write_text("- import_playbook: inner.yml\n- hosts: all\n  roles: [a, b]\n")
    (site.parent / "inner.yml").write_text(
        "- hosts: all\n  tasks: [{debug: {msg: '{{ a_host }}'}}]\n"
    )
    assert readers.readers(root, site, "a_host", {}) is None


def test_group_vars_beside_the_playbook_leave_only_the_whole_playbook(small):
    root, site = small
    (site.parent / "group_vars").mkdir()
    assert readers.readers(root, site, "a_host", {}) is None
