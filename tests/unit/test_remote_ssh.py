"""The SSH layer against peers that accept TCP and then hang up or answer with garbage:
one line naming the host, and none of paramiko's tracebacks on stderr."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, RemoteError, ssh
from homeforge.wireguard import live

PAYLOADS = {
    "hangup": b"",  # accepts the connection and closes it at once
    "garbage": b"\xff\xfe\x00 not ssh at all\r\n" * 20,
    "banner-then-garbage": b"SSH-2.0-OpenSSH_9.6\r\n" + b"\x00\x00\x00\x0c\x0a\x14" + b"x" * 40,
}


@pytest.fixture(params=sorted(PAYLOADS))
def peer(request):
    """A TCP server on loopback that sends the payload, then closes; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                conn.sendall(PAYLOADS[request.param])
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


class _Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def reaching_root():
    """The paramiko records that reach the root logger's handlers (where an application's
    logging set-up, or Python's last-resort stderr printer, would show them)."""
    kept, root = _Kept(), logging.getLogger()
    root.addHandler(kept)
    yield lambda: [r for r in kept.records if r.name.startswith("paramiko")]
    root.removeHandler(kept)


def _inventory(tmp_path: Path, port: int, hosts=("h1",)) -> Inventory:
    spare = tmp_path / "id_unused"
    spare.write_text("")
    hostvars = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_ssh_private_key_file": str(spare),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={tmp_path / 'known_hosts'}",
    }
    return Inventory(tmp_path / "hosts.yml", {h: dict(hostvars) for h in hosts}, {})


def test_connect_error_is_one_line_naming_the_host_and_paramiko_logs_nowhere(
    peer, tmp_path, reaching_root
):
    with pytest.raises(RemoteError) as failed, Remote(_inventory(tmp_path, peer), 3) as remote:
        remote.client("h1")
    message = str(failed.value)
    assert message.startswith("h1 (127.0.0.1): cannot connect over SSH: "), message
    assert "\n" not in message and "EOFError" not in message
    # paramiko's records (the transport thread's traceback among them) stop at its logger
    assert reaching_root() == []


def test_mesh_plan_reads_each_host_error_as_one_line(peer, tmp_path, reaching_root):
    found = live.read(_inventory(tmp_path, peer, ("h1", "h2")), ["h1", "h2"], "wg0")
    for host in ("h1", "h2"):
        error = found[host].error
        assert f"{host} (127.0.0.1): cannot connect over SSH: " in error and "\n" not in error
    assert reaching_root() == []


def test_verify_host_key_check_reports_a_peer_that_hangs_up(peer, tmp_path):
    problem = ssh.host_key_problem(_inventory(tmp_path, peer), "h1")
    assert problem is not None and "host h1: ansible_host: ssh to 127.0.0.1" in problem
    assert "\n" not in problem


SCRIPT = """
import sys
from pathlib import Path
from homeforge.inventory.model import Inventory
from homeforge.remote import Remote, RemoteError
hostvars = {"ansible_host": "127.0.0.1", "ansible_port": int(sys.argv[1]),
            "ansible_ssh_private_key_file": sys.argv[2]}
try:
    with Remote(Inventory(Path("hosts.yml"), {"h1": hostvars}, {}), 3) as remote:
        remote.client("h1")
except RemoteError as exc:
    print(exc)
"""


def test_no_traceback_on_stderr_in_a_process_without_logging_set_up(peer, tmp_path):
    """As the CLI runs: no logging configured, so Python would print paramiko's records."""
    spare = tmp_path / "id_unused"
    spare.write_text("")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(peer), str(spare)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.startswith("h1 (127.0.0.1): cannot connect over SSH: "), done.stdout
    assert done.stderr == ""
