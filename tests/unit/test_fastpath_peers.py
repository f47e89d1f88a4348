"""Files a host's run copies from another host are inputs of that host
(homeforge.fastpath.peers): an agent whose first server's K3s token changed converges."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from homeforge import inventory, paths
from homeforge.fastpath import FastPath, inputs, peers
from homeforge.remote import stampops

ROOT = Path(__file__).resolve().parents[2]
HOST = {"kind": "host"}

# Delegated reads whose value does not reach another host's state through a copy: why.
NOT_COPIED = {
    ("wireguard", "/etc/wireguard/{{ wireguard_interface }}.psk.d/{{ inventory_hostname }}.psk"): (
        "copied only when the owner's wireguard_psk_facts fingerprint differs from the "
        "receiver's: that fact is an input already (other hosts' facts)"
    ),
    ("ingress_traefik", "{{ ingress_traefik_ca_dir }}/ca.cnf"): "read and used on the first server",
    ("ingress_traefik", "{{ ingress_traefik_ca_dir }}/ca.key"): "its Secret is on the first server",
    ("ingress_traefik", "{{ ingress_traefik_ca_dir }}/ca.crt"): "its Secret is on the first server",
}
# The variable a declared read names its file by, where the role sets it.
DECLARED = {("k3s_common", "{{ _k3s_common_token_file }}"): "_k3s_common_token_file"}


@pytest.fixture
def cluster(write):
    return write(
        "cluster.yml",
        """
        all:
          hosts:
            lab-1: {ansible_host: 10.0.0.1}
            lab-2: {ansible_host: 10.0.0.2}
            lab-3: {ansible_host: 10.0.0.3, k3s_token: given-in-the-inventory}
            lab-4: {ansible_host: 10.0.0.4}
          children:
            server: {hosts: {lab-1: {}, lab-2: {}}}
            agent: {hosts: {lab-3: {}, lab-4: {}}}
        """,
    )


class _Hosts:
    """Stands for homeforge.remote.Remote: each host's operations run in process with a
    stamp directory of its own; the hosts in ``down`` do not answer."""

    def __init__(self, tmp_path, monkeypatch, down=()):
        self.tmp, self.monkeypatch, self.down, self.calls = tmp_path, monkeypatch, set(down), []
        self.one_at_a_time = threading.Lock()  # calls come from threads (fan_out)

    def call(self, host, op, timeout=60, **args):
        self.calls.append((host, op.__name__))
        if host in self.down:
            raise OSError(f"{host}: timed out")
        with self.one_at_a_time:
            self.monkeypatch.setattr(stampops, "STAMP_DIR", str(self.tmp / host / "stamps"))
            return op(**args)


@pytest.fixture
def token(tmp_path, monkeypatch):
    path = tmp_path / "cluster-token"
    path.write_text("one\n")
    path.chmod(0o600)
    declared = peers.PEER_FILES[0]
    monkeypatch.setattr(
        peers, "PEER_FILES", (peers.PeerFile(**{**declared.__dict__, "path": str(path)}),)
    )
    return path


def _stamp_all(inv, remote):
    fast = FastPath(inv, paths.resolve_playbook("site"), inv.hosts, [])
    assert all(not p.unchanged for p in fast.probe(remote, check=False).values())
    for host in inv.hosts:
        remote.call(
            host, stampops.stamp_write, playbook="site", inputs=fast.digests[host], watch=[HOST]
        )


def _probe(inv, remote):
    return FastPath(inv, paths.resolve_playbook("site"), inv.hosts, []).probe(remote, check=True)


def test_the_receivers_are_the_hosts_that_copy_and_not_the_source():
    inv = inventory.load(ROOT / "inventories" / "sample")
    site = paths.resolve_playbook("site")
    found = peers.reads(inv, inputs.closures(inv, site, inv.hosts))
    servers = inputs.ordered_groups(inv)["server"]
    first, path = servers[0], "/etc/rancher/k3s/cluster-token"
    assert first not in found
    cluster = set(servers) | set(inputs.ordered_groups(inv).get("agent", []))
    assert set(found) == cluster - {first}
    assert all(pairs == [(first, path)] for pairs in found.values())


def test_a_token_changed_on_the_first_server_is_an_input_of_the_others(
    cluster, token, tmp_path, monkeypatch
):
    inv, remote = inventory.load(cluster), _Hosts(tmp_path, monkeypatch)
    _stamp_all(inv, remote)
    assert all(p.unchanged for p in _probe(inv, remote).values())
    token.write_text("two\n")
    probes = _probe(inv, remote)
    # the source's own copy is its watch list's business; lab-3 takes its token from the
    # inventory, not from lab-1
    assert probes["lab-1"].unchanged and probes["lab-3"].unchanged
    for host in ("lab-2", "lab-4"):
        assert probes[host].reason == f"inputs changed: {peers.PART}"
    token.write_text("one\n")
    assert all(p.unchanged for p in _probe(inv, remote).values())
    token.chmod(0o644)  # the digest is of content, mode and owner, as a watch item's
    assert not _probe(inv, remote)["lab-2"].unchanged


def test_a_source_that_cannot_be_read_makes_its_receivers_converge(
    cluster, token, tmp_path, monkeypatch
):
    inv = inventory.load(cluster)
    _stamp_all(inv, _Hosts(tmp_path, monkeypatch))
    probes = _probe(inv, _Hosts(tmp_path, monkeypatch, down={"lab-1"}))
    assert probes["lab-2"].outcome == "error" and "on lab-1" in probes["lab-2"].reason
    assert probes["lab-4"].outcome == "error" and probes["lab-3"].unchanged


def test_a_token_the_run_changed_reruns_the_receivers_it_left_out(
    cluster, token, tmp_path, monkeypatch
):
    """--limit lab-1: the server's new token reaches the agents' inputs after the run."""
    inv, remote = inventory.load(cluster), _Hosts(tmp_path, monkeypatch)
    _stamp_all(inv, remote)
    fast = FastPath(inv, paths.resolve_playbook("site"), inv.hosts, [])
    fast.probe(remote, check=False)
    token.write_text("made by the run\n")
    fast.refresh(remote)
    assert sorted(fast.changed_by_run(remote, ["lab-1"])) == ["lab-2", "lab-4"]
    assert fast.probes["lab-2"].reason == f"inputs changed: {peers.PART} (changed by this run)"


def _delegated_reads() -> list[tuple[str, str]]:
    """(role, src) of every slurp or fetch in roles/ delegated to another inventory host
    (by the task, its block or the include above it)."""
    found = []

    def walk(tasks, delegate, role, where):
        for task in tasks or []:
            target = task.get("delegate_to", delegate)
            for key in ("block", "rescue", "always"):
                walk(task.get(key), target, role, where)
            for name in ("import_tasks", "include_tasks"):
                included = task.get(f"ansible.builtin.{name}")
                # each file is walked undelegated below; an include carries delegation
                if included and target is not None:
                    path = where.parent / (
                        included if isinstance(included, str) else included["file"]
                    )
                    walk(yaml.safe_load(path.read_text()), target, role, path)
            for module in ("ansible.builtin.slurp", "ansible.builtin.fetch"):
                if module in task and target not in (None, "localhost", "127.0.0.1"):
                    found.append((role, task[module]["src"]))

    for tasks_dir in sorted(ROOT.glob("roles/*/tasks")):
        role = tasks_dir.parts[-2]
        for tasks_file in sorted(tasks_dir.glob("*.yml")):
            walk(yaml.safe_load(tasks_file.read_text()), None, role, tasks_file)
    return sorted(set(found))


def test_every_delegated_read_in_roles_is_declared_or_says_why_not():
    found = _delegated_reads()
    assert ("k3s_common", "{{ _k3s_common_token_file }}") in found  # the walk finds blocks
    assert ("ingress_traefik", "{{ ingress_traefik_ca_dir }}/ca.key") in found  # and imports
    assert sorted(set(found) - set(NOT_COPIED)) == sorted(DECLARED)
    for (role, _src), variable in DECLARED.items():
        declared = [p for p in peers.PEER_FILES if p.role == role]
        defined = "\n".join(p.read_text() for p in ROOT.glob(f"roles/{role}/tasks/*.yml"))
        assert declared and f"{variable}: {declared[0].path}" in defined
