"""testinfra suite for the nfs_server role (molecule verify and `homeforge verify`).

Everything here is real: the kernel backend's exports file as exportfs reads it, and
NFS-Ganesha serving NFSv4, checked by writing a file through NFS from another host
(libnfs's nfs-cp) and reading it back through NFS here (nfs-cat).
"""

from __future__ import annotations

import ipaddress
import secrets

import pytest


def _exports(hf_vars):
    exports = []
    for export in hf_vars["nfs_server_exports"]:
        options = export.get("options", hf_vars["nfs_server_export_options"])
        # root squashed (the default): a new export directory belongs to the anonymous user
        squashed = "no_root_squash" not in options
        owner, group = ("nobody", "nogroup") if squashed else ("root", "root")
        defaults = {"owner": owner, "group": group, "mode": "0755"}
        exports.append(
            {**defaults, "clients": hf_vars["nfs_server_clients"], "options": options, **export}
        )
    return exports


def _serves(hf_vars, hf_host) -> bool:
    return hf_host in (hf_vars["groups"].get("nfs_server") or [])


def test_a_host_outside_group_nfs_server_serves_nothing(host, hf_vars, hf_host):
    if _serves(hf_vars, hf_host):
        return
    assert not host.file("/etc/exports.d/homeforge.exports").exists
    assert not host.service("nfs-ganesha").is_running


def test_the_exported_directories_have_their_owner_and_mode(host, hf_vars, hf_host):
    if not _serves(hf_vars, hf_host):
        return
    for export in _exports(hf_vars):
        directory = host.file(export["path"])
        assert directory.is_directory, export["path"]
        assert directory.user == export["owner"] and directory.group == export["group"]
        assert directory.mode == int(export["mode"], 8), export["path"]


def test_the_kernel_server_exports_exactly_the_inventorys_exports(host, hf_vars, hf_host):
    if not _serves(hf_vars, hf_host):
        return
    if hf_vars["nfs_server_backend"] != "kernel":
        assert not host.file("/etc/exports.d/homeforge.exports").exists
        return
    lines = [
        line
        for line in host.file("/etc/exports.d/homeforge.exports").content_string.splitlines()
        if line and not line.startswith("#")
    ]
    expected = [
        f"{e['path']} " + " ".join(f"{c}({','.join(e['options'])})" for c in e["clients"])
        for e in _exports(hf_vars)
    ]
    assert lines == expected
    # what exportfs made of them (its table, read without nfsd): every path, every client
    table = host.check_output("exportfs -v")
    for export in _exports(hf_vars):
        assert export["path"] in table
        for client in export["clients"]:
            assert client in table
    assert host.service("nfs-server").is_running == hf_vars["nfs_server_start"]


def test_ganesha_serves_nfsv4_on_2049_only_when_it_is_the_backend(host, hf_vars, hf_host):
    if not _serves(hf_vars, hf_host):
        return
    ganesha = host.service("nfs-ganesha")
    if hf_vars["nfs_server_backend"] != "ganesha":
        assert not ganesha.is_running
        return
    assert ganesha.is_running and ganesha.is_enabled
    assert (
        host.socket("tcp://0.0.0.0:2049").is_listening or host.socket("tcp://:::2049").is_listening
    )
    config = host.file("/etc/ganesha/ganesha.conf").content_string
    for export in _exports(hf_vars):
        assert f'Path = "{export["path"]}";' in config


def _server_address(host, export) -> str:
    """This server's address that the export's clients are allowed from (the mesh's,
    by default), else its first address."""
    addresses = host.check_output("hostname -I").split()
    for address in addresses:
        for client in export["clients"]:
            if "/" in client and ipaddress.ip_address(address) in ipaddress.ip_network(client):
                return address
    return addresses[0]


def _peer_with_libnfs(host, hf_vars, hf_host, hf_peer):
    """Another host of the play with libnfs's tools (else this host: loopback)."""
    for name in hf_vars["groups"]["all"]:
        if name == hf_host:
            continue
        peer = hf_peer(name)
        try:
            if peer.exists("nfs-cp"):
                return name, peer
        except Exception:
            continue
    return hf_host, host


def test_a_file_written_through_nfs_from_another_host_reads_back_here(
    host, hf_vars, hf_host, hf_peer
):
    if not _serves(hf_vars, hf_host):
        return
    if hf_vars["nfs_server_backend"] != "ganesha" or not hf_vars["nfs_server_start"]:
        pytest.skip("not a running NFS-Ganesha server")  # the kernel's is checked above
    export = _exports(hf_vars)[0]
    writer_name, writer = _peer_with_libnfs(host, hf_vars, hf_host, hf_peer)
    nonce = secrets.token_hex(8)
    name = f".homeforge-verify-{nonce}"
    url = f"nfs://{_server_address(host, export)}{export.get('pseudo', export['path'])}/{name}?version=4"
    staged = f"/tmp/{name}"
    writer.check_output("printf '%%s' %s > %s", f"written on {writer_name} {nonce}", staged)
    try:
        writer.check_output("nfs-cp %s %s", staged, url)
        assert host.check_output("nfs-cat %s", url) == f"written on {writer_name} {nonce}"
        on_disk = host.file(f"{export['path']}/{name}")
        assert on_disk.exists and on_disk.content_string == f"written on {writer_name} {nonce}"
    finally:
        writer.run("rm -f %s", staged)
        host.run("rm -f %s", f"{export['path']}/{name}")


def test_a_read_only_export_refuses_a_write_through_nfs(host, hf_vars, hf_host, hf_peer):
    if not _serves(hf_vars, hf_host):
        return
    if hf_vars["nfs_server_backend"] != "ganesha" or not hf_vars["nfs_server_start"]:
        pytest.skip("not a running NFS-Ganesha server")
    read_only = [e for e in _exports(hf_vars) if "ro" in e["options"]]
    if not read_only:
        pytest.skip("no read-only export here")
    writer_name, writer = _peer_with_libnfs(host, hf_vars, hf_host, hf_peer)
    for export in read_only:
        name = f".homeforge-verify-{secrets.token_hex(8)}"
        url = f"nfs://{_server_address(host, export)}{export.get('pseudo', export['path'])}/{name}?version=4"
        writer.check_output("printf x > %s", f"/tmp/{name}")
        try:
            refused = writer.run("nfs-cp %s %s", f"/tmp/{name}", url)
            assert refused.rc != 0, f"{writer_name} could write into read-only {export['path']}"
            assert not host.file(f"{export['path']}/{name}").exists
        finally:
            writer.run("rm -f %s", f"/tmp/{name}")
