"""The testinfra connection ``homeforge verify`` uses: host keys checked against
known_hosts like every other SSH connection."""

from __future__ import annotations

import subprocess

import pytest
import yaml


@pytest.fixture
def ssh_server():
    """An SSH server on loopback (paramiko, server mode) that only shows its host key."""
    import socket
    import threading

    import paramiko

    key = paramiko.ECDSAKey.generate()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(key)
            try:
                transport.start_server(server=paramiko.ServerInterface())
                transport.accept(timeout=5)  # lets the client try (and fail) to log in
            except (paramiko.SSHException, EOFError, OSError):
                pass
            finally:
                transport.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], key
    listener.close()


@pytest.mark.parametrize(
    "known, refused",
    [
        ("changed", "BadHostKeyException"),
        ("unknown", "not found in known_hosts"),
        ("right", None),  # control: the key is accepted, and only login fails after it
    ],
)
def test_testinfra_connection_refuses_a_changed_or_unknown_host_key(
    ssh_server, tmp_path, monkeypatch, known, refused
):
    import paramiko

    from homeforge.verify.backend import HomeforgeBackend

    port, key = ssh_server
    shown = {"changed": paramiko.ECDSAKey.generate(), "right": key}.get(known)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"[127.0.0.1]:{port} {key.get_name()} {shown.get_base64()}\n" if shown else ""
    )
    spare = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(spare)], check=True)
    inv = tmp_path / "hosts.yml"
    hostvars = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_ssh_private_key_file": str(spare),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
    }
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"h1": hostvars}}}))
    monkeypatch.setenv("HOMEFORGE_INVENTORY", str(inv))
    with pytest.raises((paramiko.SSHException, OSError)) as failed:
        HomeforgeBackend("h1", timeout=5).client  # noqa: B018 - connecting is the point
    said = f"{type(failed.value).__name__}: {failed.value}"
    if refused:
        assert refused in said
    else:
        assert isinstance(failed.value, paramiko.AuthenticationException), said
