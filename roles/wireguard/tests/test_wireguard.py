"""testinfra suite for the wireguard role (molecule verify and `homeforge verify`)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import time


def _config(host, hf_vars):
    return host.file(f"/etc/wireguard/{hf_vars['wireguard_interface']}.conf")


def _config_peers(host, hf_vars) -> dict[str, dict]:
    """Peers in the rendered config, by the host name in their comment."""
    peers, name = {}, None
    for line in _config(host, hf_vars).content_string.splitlines():
        if (
            line.startswith("# ")
            and not line.startswith("# The private")
            and "{{" not in line
            and "Ansible" not in line
        ):
            name = line[2:].strip()
        match = re.match(r"(PublicKey|AllowedIPs|Endpoint) = (.+)", line)
        if match and name:
            peers.setdefault(name, {})[match.group(1)] = match.group(2)
    return peers


def _peer_state(host, iface: str, peer: dict) -> str:
    """What the interface knows of a peer, for a failure message: its endpoint, latest
    handshake and bytes received and sent (read with the `wg show` fields that carry no
    private or preshared key)."""
    found = []
    for field in ("endpoints", "latest-handshakes", "transfer"):
        for line in host.run(f"wg show {iface} {field}").stdout.splitlines():
            key, _tab, value = line.partition("\t")
            if key == peer.get("PublicKey"):
                found.append(f"{field} {value.strip()}")
    return ", ".join(found) or "peer not on the interface"


def test_private_key_stays_private(host, hf_vars):
    iface = hf_vars["wireguard_interface"]
    key = host.file(f"/etc/wireguard/{iface}.key")
    assert key.exists and key.user == "root" and key.mode == 0o600
    config = _config(host, hf_vars)
    assert config.mode == 0o600
    assert "PrivateKey" not in config.content_string
    # the running interface uses exactly the key in the file
    assert host.check_output(f"wg show {iface} private-key") == key.content_string.strip()


def test_interface_up_with_its_mesh_address(host, hf_vars):
    iface = hf_vars["wireguard_interface"]
    assert host.service(f"wg-quick@{iface}").is_running
    assert host.service(f"wg-quick@{iface}").is_enabled
    network = ipaddress.ip_network(hf_vars["wireguard_mesh_cidr"])
    # the kernel may add an IPv6 link-local address; the mesh address must be the only one in the mesh
    addresses = [a for a in host.interface(iface).addresses if ipaddress.ip_address(a) in network]
    assert len(addresses) == 1, f"mesh addresses on {iface}: {addresses}"
    if hf_vars["wireguard_address"]:
        assert addresses[0] == hf_vars["wireguard_address"]
    assert f"Address = {addresses[0]}/{network.prefixlen}" in _config(host, hf_vars).content_string


def test_expected_peers_configured_and_live(host, hf_vars, hf_inventory, hf_host):
    from homeforge.verify.wireguard import expected_peer_names

    iface = hf_vars["wireguard_interface"]
    configured = _config_peers(host, hf_vars)
    assert set(configured) == set(expected_peer_names(hf_inventory, hf_host, hf_vars))
    live = {
        line.split("\t")[0] for line in host.check_output(f"wg show {iface} peers").splitlines()
    }
    assert live == {p["PublicKey"] for p in configured.values()}


def test_traffic_and_recent_handshake_with_every_peer(host, hf_vars):
    """Ping every mesh address each peer carries (a relay carries the hosts behind it)."""
    iface = hf_vars["wireguard_interface"]
    network = ipaddress.ip_network(hf_vars["wireguard_mesh_cidr"])
    host_prefix = network.max_prefixlen
    configured = _config_peers(host, hf_vars)
    assert configured, "no peers configured"
    for name, peer in configured.items():
        for allowed in (ip.strip() for ip in peer["AllowedIPs"].split(",")):
            target = ipaddress.ip_network(allowed)
            if target.prefixlen == host_prefix and target.network_address in network:
                # one reply within 20 s: WireGuard sends a lost handshake initiation again
                # every 5 s (REKEY_TIMEOUT), so three of them may be lost
                ping = host.run(f"ping -c 1 -w 20 {target.network_address}")
                assert ping.rc == 0, (
                    f"no traffic to {target.network_address} via {name}: {ping.stdout}{ping.stderr}"
                    f" ({_peer_state(host, iface, peer)})"
                )
    now = time.time()
    for line in host.check_output(f"wg show {iface} latest-handshakes").splitlines():
        key, stamp = line.split("\t")
        assert now - int(stamp) < 180, f"peer {key} has no recent handshake"


def test_listen_port_open_in_firewall(host, hf_vars):
    if not hf_vars["wireguard_firewall_manage"]:
        return
    rules = host.check_output("iptables -S INPUT")
    assert f"--dport {hf_vars['wireguard_port']}" in rules and "homeforge wireguard" in rules
    assert len([r for r in rules.splitlines() if "homeforge wireguard" in r]) == 1
    # and wg-quick re-adds it whenever the interface comes up (at boot too)
    assert (
        f"iptables -I INPUT -p udp --dport {hf_vars['wireguard_port']}"
        in _config(host, hf_vars).content_string
    )


def test_preshared_keys_with_every_peer_or_none(host, hf_vars):
    """Only yes/no per peer leaves the host, never a key."""
    iface = hf_vars["wireguard_interface"]
    keydir = host.file(f"/etc/wireguard/{iface}.psk.d")
    peers = _config_peers(host, hf_vars)
    flags = host.check_output(
        f"wg show {iface} preshared-keys | awk '{{print $1, ($2 != \"(none)\")}}'"
    )
    has_psk = dict(line.split(" ") for line in flags.splitlines())
    assert set(has_psk) == {p["PublicKey"] for p in peers.values()}
    if not hf_vars["wireguard_preshared_keys"]:
        assert set(has_psk.values()) <= {"0"}
        assert not keydir.exists or not keydir.listdir()
        return
    assert keydir.user == "root" and keydir.mode == 0o700
    assert sorted(keydir.listdir()) == sorted(f"{name}.psk" for name in peers)
    for name in peers:
        assert host.file(f"{keydir.path}/{name}.psk").mode == 0o600
    assert set(has_psk.values()) == {"1"}, "a peer runs without its preshared key"


def mesh_only_chain(name: str) -> str:
    """The chain homeforge-mesh-only uses for an instance (a digest: names never collide)."""
    return "HF-MO-" + hashlib.sha256(name.encode()).hexdigest()[:16].upper()


def test_mesh_only_ports_rules_and_unit(host, hf_vars):
    ports = hf_vars["wireguard_mesh_only_ports"]
    chain = mesh_only_chain("wireguard")
    conf = host.file("/etc/homeforge/mesh-only/wireguard.conf")
    if not ports:
        assert not conf.exists
        assert chain not in host.check_output("iptables -S INPUT")
        return
    assert host.service("homeforge-mesh-only@wireguard").is_enabled
    assert conf.user == "root" and conf.mode == 0o644
    tables = ["iptables"]
    if host.run("ip6tables -S INPUT").rc == 0:
        tables.append("ip6tables")
    iface, cidr = hf_vars["wireguard_interface"], hf_vars["wireguard_mesh_cidr"]
    for table in tables:
        jumps = [r for r in host.check_output(f"{table} -S INPUT").splitlines() if chain in r]
        assert jumps == [
            f"-A INPUT -p tcp -m multiport --dports {','.join(map(str, ports))} -j {chain}"
        ], table
        rules = host.check_output(f"{table} -S {chain}").splitlines()
        mesh = [f"-A {chain} -s {cidr} -i {iface} -j RETURN"] if table == "iptables" else []
        assert rules[1:] == [
            f"-A {chain} -i lo -j RETURN",
            *mesh,
            f"-A {chain} -p tcp -j REJECT --reject-with tcp-reset",
        ], table
