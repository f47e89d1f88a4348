"""Ansible Vault end to end: vaulted values stay encrypted in checks and digests, files
encrypted whole load with the password, a missing or wrong password is one line, and
the password reaches Ansible's run without reaching its artifacts."""

from __future__ import annotations

import json
import os
import stat
import textwrap
import threading
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret
from click.testing import CliRunner

from homeforge import inventory, paths, runner
from homeforge.checks import check
from homeforge.cli import main
from homeforge.errors import BadInput
from homeforge.fastpath import inputs
from homeforge.inventory.model import Vaulted
from homeforge.vault import Vault

PASSWORD = "correct-horse-vault-7"
TOKEN = "k3s-token-canary-" + "5e1f0c9d"


def encrypt(plaintext: str, password: str = PASSWORD) -> str:
    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(plaintext).decode()


def vaulted(plaintext: str, indent: int, password: str = PASSWORD) -> str:
    """A ``!vault |`` block for a YAML value whose key sits at ``indent`` spaces."""
    body = textwrap.indent(encrypt(plaintext, password), " " * (indent + 2))
    return "!vault |\n" + body


def run(*args, input=None, env=None):
    return CliRunner().invoke(main, list(args), input=input, env=env)


@pytest.fixture
def password_file(tmp_path) -> Path:
    path = tmp_path / "vault-pass"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def wrong_password_file(tmp_path) -> Path:
    path = tmp_path / "wrong-pass"
    path.write_text("not-the-password\n")
    return path


@pytest.fixture
def inv_dir(tmp_path) -> Path:
    """An inventory whose K3s token is vaulted in group_vars, as the README shows."""
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        "all:\n  children:\n    server:\n      hosts:\n        s1: {ansible_host: 10.0.0.1}\n"
        "    agent:\n      hosts:\n        a1: {ansible_host: 10.0.0.2}\n"
    )
    (root / "group_vars" / "all.yml").write_text(f"k3s_token: {vaulted(TOKEN, 0)}")
    return root


def _no_secret(text: str) -> None:
    assert TOKEN not in text and PASSWORD not in text
    assert "Traceback" not in text


@pytest.fixture
def no_decrypt(monkeypatch):
    """Any decryption from here on fails the test."""

    def refuse(self, vaulttext):
        raise AssertionError("decrypted a vaulted value")

    monkeypatch.setattr(VaultLib, "decrypt", refuse)


# ------------------------------------------------------------------ inventory check


def test_inventory_check_passes_with_a_vaulted_k3s_token(inv_dir, password_file):
    without = run("inventory", "check", "-i", str(inv_dir))
    assert without.exit_code == 0, without.output
    assert "ok (2 hosts" in " ".join(without.output.split())
    given = run(
        "inventory", "check", "-i", str(inv_dir), "--vault-password-file", str(password_file)
    )
    assert given.exit_code == 0, given.output
    as_json = run("inventory", "check", "-i", str(inv_dir), "--json")
    assert json.loads(as_json.output)["ok"] is True
    for out in (without, given, as_json):
        _no_secret(out.output)


def test_checks_take_a_vaulted_value_as_opaque_and_never_decrypt_it(
    inv_dir, password_file, no_decrypt
):
    """A vaulted value where a rule or a type applies (an address, a port, a str) is a
    secret of unknown content: accepted, never decrypted, never shown."""
    (inv_dir / "host_vars").mkdir()
    (inv_dir / "host_vars" / "s1.yml").write_text(
        f"ansible_port: {vaulted('22', 0)}\nk3s_api_port: {vaulted('6443', 0)}\n"
        f"k3s_api_endpoint: {vaulted('10.0.0.1', 0)}\n"
    )
    inv = inventory.load(inv_dir)  # no password: nothing is decrypted
    token = inv.hostvars["s1"]["k3s_token"]
    assert isinstance(token, Vaulted) and token.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert repr(token) == "<vaulted>"
    assert check(inv) == []


def test_a_vaulted_value_for_a_list_variable_is_named_without_its_content(inv_dir):
    (inv_dir / "host_vars").mkdir()
    (inv_dir / "host_vars" / "s1.yml").write_text(f"ollama_models: {vaulted('llama3', 0)}\n")
    problems = check(inventory.load(inv_dir))
    assert problems == [
        f"{inv_dir / 'host_vars' / 's1.yml'}: host s1: ollama_models: a vaulted value is one "
        "string; this variable must be a list (vault its items instead)"
    ]


def test_a_token_vaulted_per_host_is_not_called_different(inv_dir):
    """Two ciphertexts of one token differ; their content is unknown, so no "differs"."""
    (inv_dir / "group_vars" / "all.yml").unlink()
    (inv_dir / "host_vars").mkdir()
    for host in ("s1", "a1"):
        (inv_dir / "host_vars" / f"{host}.yml").write_text(f"k3s_token: {vaulted(TOKEN, 0)}\n")
    assert check(inventory.load(inv_dir)) == []


# ------------------------------------------------------------------ passwords


def test_a_wrong_password_is_one_line_naming_file_host_and_key(inv_dir, wrong_password_file):
    out = run(
        "inventory", "check", "-i", str(inv_dir), "--vault-password-file", str(wrong_password_file)
    )
    assert out.exit_code == 2
    where = f"{inv_dir / 'group_vars' / 'all.yml'}: host "
    assert where in out.output
    assert "k3s_token: vault password does not decrypt this value" in out.output
    _no_secret(out.output)


def test_the_password_file_comes_from_the_environment_too(inv_dir, wrong_password_file):
    out = run(
        "inventory",
        "check",
        "-i",
        str(inv_dir),
        env={"ANSIBLE_VAULT_PASSWORD_FILE": str(wrong_password_file)},
    )
    assert out.exit_code == 2 and "vault password does not decrypt this value" in out.output


def test_ask_vault_pass_prompts_once(inv_dir):
    out = run("inventory", "check", "-i", str(inv_dir), "--ask-vault-pass", input=PASSWORD + "\n")
    assert out.exit_code == 0, out.output
    assert out.output.count("Vault password") == 1
    _no_secret(out.output)
    wrong = run("inventory", "check", "-i", str(inv_dir), "--ask-vault-pass", input="nope\n")
    assert wrong.exit_code == 2 and "vault password does not decrypt" in wrong.output


def test_a_missing_password_file_is_one_line(inv_dir, tmp_path):
    out = run("inventory", "check", "-i", str(inv_dir), "--vault-password-file", "no-such-file")
    assert out.exit_code == 2
    assert "--vault-password-file no-such-file: The vault password file" in out.output
    assert "Traceback" not in out.output


def test_apply_without_the_password_stops_before_anything(inv_dir, isolated_state):
    out = run("apply", "site", "-i", str(inv_dir), "--check")
    assert out.exit_code == 2
    assert (
        "k3s_token: encrypted with ansible-vault: give --vault-password-file or --ask-vault-pass"
        in out.output
    )
    assert not (isolated_state / "runs").exists()


def test_a_vaulted_setting_only_ansible_reads_still_needs_the_password(inv_dir, password_file):
    """ansible_become_password is Ansible's alone (homeforge keeps no copy of it), yet a
    run without the password would fail half-way: it counts."""
    (inv_dir / "group_vars" / "all.yml").write_text(
        f"ansible_become_password: {vaulted('sudo-secret', 0)}"
    )
    inv = inventory.load(inv_dir)
    assert "ansible_become_password" not in inv.hostvars["s1"]
    with pytest.raises(BadInput, match="ansible_become_password: encrypted with ansible-vault"):
        inv.require_vault()
    inventory.load(inv_dir, Vault.from_file(str(password_file))).require_vault()  # given: fine


# ------------------------------------------------------------------ files encrypted whole


@pytest.fixture
def whole_file(inv_dir) -> Path:
    path = inv_dir / "group_vars" / "all.yml"
    path.write_text(encrypt(f"k3s_token: {TOKEN}\nk3s_api_port: 6443\n"))
    return path


def test_a_group_vars_file_encrypted_whole_needs_the_password(
    inv_dir, whole_file, password_file, wrong_password_file
):
    missing = run("inventory", "check", "-i", str(inv_dir))
    assert missing.exit_code == 2
    assert (
        f"{whole_file}: encrypted with ansible-vault: give --vault-password-file or "
        "--ask-vault-pass" in " ".join(missing.output.split())
    )
    wrong = run(
        "inventory", "check", "-i", str(inv_dir), "--vault-password-file", str(wrong_password_file)
    )
    assert wrong.exit_code == 2
    assert f"{whole_file}: vault password does not decrypt this file" in " ".join(
        wrong.output.split()
    )
    given = run(
        "inventory", "check", "-i", str(inv_dir), "--vault-password-file", str(password_file)
    )
    assert given.exit_code == 0, given.output
    for out in (missing, wrong, given):
        _no_secret(out.output)
    inv = inventory.load(inv_dir, Vault.from_file(str(password_file)))
    assert inv.hostvars["s1"]["k3s_api_port"] == 6443  # its structure was read


def test_an_inventory_file_encrypted_whole_loads_with_the_password(tmp_path, password_file):
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(encrypt("all:\n  hosts:\n    h1: {ansible_host: 10.0.0.9}\n"))
    with pytest.raises(BadInput, match="encrypted with ansible-vault"):
        inventory.load(hosts)
    inv = inventory.load(hosts, Vault.from_file(str(password_file)))
    assert inv.address("h1") == "10.0.0.9"


# ------------------------------------------------------------------ fast path digest


def _host_digests(inv_path: Path, vault: Vault | None = None) -> dict[str, str]:
    inv = inventory.load(inv_path, vault)
    found = inputs.digests(inv, paths.resolve_playbook("site"), inv.hosts)
    return {
        host: {k: v for k, v in parts.items() if k.startswith("variable ")}
        for host, parts in found.items()
    }


def test_the_digest_takes_the_ciphertext_and_needs_no_password(inv_dir, no_decrypt):
    before = _host_digests(inv_dir)
    assert before == _host_digests(inv_dir)  # stable: the same ciphertext
    # The same token encrypted again (a new salt): the digest sees the new ciphertext.
    (inv_dir / "group_vars" / "all.yml").write_text(f"k3s_token: {vaulted(TOKEN, 0)}")
    after = _host_digests(inv_dir)
    assert after["s1"] != before["s1"] and after["a1"] != before["a1"]


def test_a_file_encrypted_whole_enters_digests_as_its_ciphertext(
    inv_dir, whole_file, password_file
):
    vault = Vault.from_file(str(password_file))
    inv = inventory.load(inv_dir, vault)
    sealed = inv.sealed_vars("s1")
    assert sealed["k3s_token"] == sealed["k3s_api_port"] == {"vault": inv._vault_files[whole_file]}
    assert TOKEN not in json.dumps(sealed) and sealed["ansible_host"] == "10.0.0.1"
    before = _host_digests(inv_dir, vault)
    whole_file.write_text(encrypt(f"k3s_token: {TOKEN}\nk3s_api_port: 6443\n"))  # same plaintext
    assert _host_digests(inv_dir, vault)["s1"] != before["s1"]


# ------------------------------------------------------------------ SSH settings


def test_a_vaulted_connection_setting_is_decrypted_for_ssh_only_with_the_password(
    inv_dir, password_file
):
    (inv_dir / "host_vars").mkdir()
    (inv_dir / "host_vars" / "s1.yml").write_text(f"ansible_user: {vaulted('deploy', 0)}\n")
    assert check(inventory.load(inv_dir)) == []
    with pytest.raises(BadInput) as refused:
        inventory.load(inv_dir).user("s1")
    assert str(refused.value) == (
        f"{inv_dir / 'host_vars' / 's1.yml'}: host s1: ansible_user: encrypted with "
        "ansible-vault: give --vault-password-file or --ask-vault-pass"
    )
    assert inventory.load(inv_dir, Vault.from_file(str(password_file))).user("s1") == "deploy"


# ------------------------------------------------------------------ the run


class _FakeRun:
    """ansible_runner.run_async's stand-in: records what it was given, runs nothing."""

    def __init__(self):
        self.kwargs: dict = {}
        self.password_file: tuple[str, int, Path] | None = None
        self.status, self.rc = "successful", 0

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        args = kwargs["cmdline"].split()
        path = Path(args[args.index("--vault-password-file") + 1])
        self.password_file = (path.read_text(), stat.S_IMODE(path.stat().st_mode), path)
        thread = threading.Thread(target=lambda: None)
        thread.start()
        return thread, self


@pytest.mark.parametrize("typed", [True, False], ids=["ask-vault-pass", "password-file"])
def test_apply_check_hands_the_password_file_to_ansible_and_keeps_it_out_of_artifacts(
    inv_dir, password_file, monkeypatch, isolated_state, typed
):
    import ansible_runner

    fake = _FakeRun()
    monkeypatch.setattr(ansible_runner, "run_async", fake)
    vault = Vault.from_prompt(PASSWORD) if typed else Vault.from_file(str(password_file))
    request = runner.ApplyRequest(
        paths.resolve_playbook("site"), inventory.load(inv_dir, vault), check=True
    )
    result = runner.run_playbook(request)
    args = fake.kwargs["cmdline"].split()
    assert "--check" in args and "--vault-password-file" in args
    content, mode, path = fake.password_file
    assert content.strip() == PASSWORD and mode == 0o600
    assert result.artifacts not in path.parents  # never in runner's directory
    assert PASSWORD not in fake.kwargs["cmdline"] and PASSWORD not in json.dumps(
        fake.kwargs["envvars"]
    )
    if typed:
        assert not path.exists()  # the typed password's file is removed after the run
    else:
        assert path == password_file
    for stored in result.artifacts.rglob("*"):
        assert not stored.is_file() or PASSWORD not in stored.read_text(errors="replace")


def test_a_relative_password_file_in_the_environment_is_made_absolute(
    inv_dir, password_file, monkeypatch
):
    import ansible_runner

    fake = _FakeRun()
    monkeypatch.setattr(ansible_runner, "run_async", fake)
    monkeypatch.chdir(password_file.parent)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", password_file.name)
    vault = Vault.from_file(os.environ["ANSIBLE_VAULT_PASSWORD_FILE"])
    runner.run_playbook(
        runner.ApplyRequest(paths.resolve_playbook("site"), inventory.load(inv_dir, vault))
    )
    assert fake.kwargs["envvars"]["ANSIBLE_VAULT_PASSWORD_FILE"] == str(password_file)


@pytest.mark.parametrize("typed", [True, False], ids=["ask-vault-pass", "password-file"])
def test_ansible_decrypts_the_vaulted_value_in_a_real_run_and_stores_it_nowhere(
    tmp_path, password_file, isolated_state, typed
):
    """A real ansible-playbook run through run_playbook: the task sees the plaintext, the
    run's artifacts hold neither it nor the password."""
    import sys

    root = tmp_path / "real"
    (root / "group_vars").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    (root / "group_vars" / "all.yml").write_text(f"demo_secret: {vaulted(TOKEN, 0)}")
    out = tmp_path / "written"
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n"
        f"        dest: {out}\n"
        '        content: "{{ demo_secret }}"\n'
        "        mode: '0600'\n"
        "      no_log: true\n"
    )
    vault = Vault.from_prompt(PASSWORD) if typed else Vault.from_file(str(password_file))
    result = runner.run_playbook(
        runner.ApplyRequest(playbook, inventory.load(root / "hosts.yml", vault))
    )
    assert result.status == "successful", result.failures
    assert out.read_text() == TOKEN
    for stored in result.artifacts.rglob("*"):
        if stored.is_file():
            text = stored.read_text(errors="replace")
            assert TOKEN not in text and PASSWORD not in text, stored
