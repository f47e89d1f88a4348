"""Pieces shared by the WireGuard modules (module_utils/wireguard.py)."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.homeforge.homelab.plugins.doc_fragments.wireguard import (
    ModuleDocFragment,
)
from ansible_collections.homeforge.homelab.plugins.module_utils import wireguard


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, params, commands=None, binaries=("wg",)):
        self.params = params
        self.commands = commands or {}
        self.binaries = binaries
        self.ran = []

    def fail_json(self, msg, **_):
        raise Failed(msg)

    def get_bin_path(self, name, required=False):
        if name in self.binaries:
            return f"/usr/bin/{name}"
        if required:
            self.fail_json(msg=f'Failed to find required executable "{name}"')
        return None

    def run_command(self, command, **kwargs):
        self.ran.append((command, kwargs))
        return self.commands.get(command[1], (0, "", ""))


def test_argument_spec_matches_the_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = wireguard.wireguard_argument_spec()
    assert set(spec) == set(documented)
    for name, option in spec.items():
        assert option["type"] == documented[name]["type"]
        assert option.get("default") == documented[name].get("default")


def test_argument_spec_is_a_fresh_copy():
    wireguard.wireguard_argument_spec()["interface"]["default"] = "changed"
    assert wireguard.wireguard_argument_spec()["interface"]["default"] == "wg0"


def test_checked_interface():
    assert wireguard.checked_interface(FakeModule({"interface": "wg-mesh"})) == "wg-mesh"
    with pytest.raises(Failed, match=r"invalid interface name 'wg0;cmd': .*letters"):
        wireguard.checked_interface(FakeModule({"interface": "wg0;cmd"}))


def test_run_wg_uses_the_found_binary_and_reports_failures():
    module = FakeModule({}, commands={"genkey": (0, "KEY\n", "")})
    assert wireguard.run_wg(module, "genkey") == "KEY\n"
    assert module.ran == [(["/usr/bin/wg", "genkey"], {})]
    module = FakeModule({}, commands={"pubkey": (1, "", "Key is not the correct length\n")})
    with pytest.raises(Failed, match=r"wg pubkey failed for /k: Key is not the correct length$"):
        wireguard.run_wg(module, "pubkey", data=b"x", context=" for /k")
    assert module.ran[0][1] == {"data": b"x", "binary_data": True}


def test_run_wg_without_wg():
    with pytest.raises(Failed, match='required executable "wg"'):
        wireguard.run_wg(FakeModule({}, binaries=()), "genpsk")
