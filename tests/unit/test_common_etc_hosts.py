"""The common role's /etc/hosts: a block per group, and no block left behind by an earlier
common_etc_hosts_group. Runs the role's own two tasks (names.yml) with ansible-playbook
on a copy of a hosts file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TASKS = yaml.safe_load((ROOT / "roles" / "common" / "tasks" / "names.yml").read_text())
HOSTS = """127.0.0.1 localhost
# BEGIN homeforge: hosts of group all
10.0.0.1 a
10.0.0.2 b
# END homeforge: hosts of group all
::1 ip6-localhost
"""


def _run(tmp_path: Path, group: str) -> tuple[str, str]:
    """The block tasks, pointed at a hosts file of tmp_path; (the file, ansible's output)."""
    hosts = tmp_path / "hosts"
    tasks = [
        {
            **t,
            **{
                k: {**v, "path": str(hosts)}
                for k, v in t.items()
                if k.startswith("ansible.builtin.") and "path" in v
            },
        }
        for t in TASKS
        if any("path" in v for v in t.values() if isinstance(v, dict))
    ]
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"common_etc_hosts_group": group, "common_etc_hosts_manage": True},
            "tasks": tasks,
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "inv.yml").write_text(
        "all:\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n    b: {ansible_host: 10.0.0.2}\n"
        f"    localhost: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}\n"
        "  children:\n    web: {hosts: {a: {}}}\n"
    )
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(tmp_path / "inv.yml"),
            str(tmp_path / "play.yml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return hosts.read_text(), done.stdout


def test_a_new_group_replaces_the_old_groups_block(tmp_path):
    (tmp_path / "hosts").write_text(HOSTS)
    text, _out = _run(tmp_path, "web")
    assert "hosts of group all" not in text and "10.0.0.2 b" not in text
    assert (
        "# BEGIN homeforge: hosts of group web\n10.0.0.1 a\n# END homeforge: hosts of group web\n"
        in text
    )
    assert text.startswith("127.0.0.1 localhost\n") and "::1 ip6-localhost\n" in text
    again, out = _run(tmp_path, "web")
    assert again == text and "changed=0" in out
