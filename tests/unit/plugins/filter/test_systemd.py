"""The systemd_environment filter: a value reaches a unit file as one quoted assignment or
the template fails, whatever the caller checked before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.filter.systemd import systemd_environment

from tests.unit.plugins.support import COLLECTIONS, ROOT


def test_values_are_quoted_for_systemd():
    assert systemd_environment("5m", "OLLAMA_KEEP_ALIVE") == 'Environment="OLLAMA_KEEP_ALIVE=5m"'
    assert systemd_environment('a"b\\c%d', "X") == 'Environment="X=a\\"b\\\\c%%d"'
    assert systemd_environment(4, "OLLAMA_NUM_PARALLEL") == 'Environment="OLLAMA_NUM_PARALLEL=4"'


@pytest.mark.parametrize(
    "value", ["5m\nExecStartPre=+/bin/sh -c id", "5m\rx", "a\x00b", "tab\there", "\x7f"]
)
def test_control_characters_fail_and_the_value_is_not_repeated(value):
    with pytest.raises(AnsibleFilterError, match="one line") as info:
        systemd_environment(value, "OLLAMA_KEEP_ALIVE")
    assert "ExecStartPre" not in str(info.value)


def test_a_bad_name_fails():
    with pytest.raises(AnsibleFilterError, match="environment variable name"):
        systemd_environment("1", "BAD NAME")


def test_the_ollama_unit_refuses_a_newline_in_any_environment_value(tmp_path):
    """ollama_keep_alive used to reach ollama.service escaped for quotes but not for
    newlines: a second line ``ExecStartPre=+...`` ran as root. The role's template, run by
    Ansible's template module, now fails and writes nothing."""
    template = ROOT / "roles" / "ollama" / "templates" / "ollama.service.j2"

    def write_unit(keep_alive: str) -> subprocess.CompletedProcess:
        env_vars = {"OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_KEEP_ALIVE": keep_alive}
        (tmp_path / "vars.json").write_text(
            json.dumps({"_ollama_env": env_vars, "ollama_user": "ollama"})
        )
        (tmp_path / "play.yml").write_text(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            f"    - ansible.builtin.template: {{src: {template}, dest: {tmp_path}/ollama.service}}\n"
        )
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                "localhost,",
                "-c",
                "local",
                "-e",
                f"@{tmp_path}/vars.json",
                "-e",
                f"ansible_python_interpreter={sys.executable}",
                str(tmp_path / "play.yml"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS)},
        )

    done = write_unit("5m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Environment="OLLAMA_KEEP_ALIVE=5m"' in (tmp_path / "ollama.service").read_text()
    (tmp_path / "ollama.service").unlink()
    done = write_unit("5m\nExecStartPre=+/usr/bin/id")
    assert done.returncode != 0
    assert "one line" in done.stdout + done.stderr
    assert not (tmp_path / "ollama.service").exists()
