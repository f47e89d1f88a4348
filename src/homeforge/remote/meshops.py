"""The WireGuard mesh as a host sees it: its address, its peers and their handshakes.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text). Nothing
here reads or returns a WireGuard private key: ``wg show IFACE dump``'s first line (the
interface, which holds it) is skipped on the host.
"""

import ipaddress
import subprocess
import time

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _run


def _wg_peers(iface):
    done = _run(["wg", "show", iface, "dump"])
    peers = []
    for line in done.stdout.splitlines()[1:]:  # line 1 is the interface and its private key
        fields = line.split("\t")
        if len(fields) >= 5:
            nets = [] if fields[3] == "(none)" else fields[3].split(",")
            peers.append({"allowed_ips": nets, "handshake": int(fields[4])})
    return peers


def mesh_address(iface):
    done = _run(["ip", "-o", "-4", "addr", "show", "dev", iface])
    for line in done.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return {"address": parts[parts.index("inet") + 1].split("/")[0]}
    raise OpError("%s has no IPv4 address" % iface)


def _peer_for(peers, address):
    """The peer whose most specific allowed network holds address."""
    target, best, best_len = ipaddress.ip_address(address), None, -1
    for peer in peers:
        for net in peer["allowed_ips"]:
            network = ipaddress.ip_network(net, strict=False)
            if target in network and network.prefixlen > best_len:
                best, best_len = peer, network.prefixlen
    return best


def handshakes(iface, addresses, max_age=180, wait=6):
    """Age of the latest handshake with the peer carrying each address.

    A stale one gets a ping to start a handshake, then up to ``wait`` seconds.
    """
    ages = {}
    stale = []
    now = time.time()
    peers = _wg_peers(iface)
    for address in addresses:
        peer = _peer_for(peers, address)
        if peer is None:
            ages[address] = {"error": "no peer on %s routes %s" % (iface, address)}
        elif peer["handshake"] and now - peer["handshake"] <= max_age:
            ages[address] = {"age": int(now - peer["handshake"])}
        else:
            stale.append(address)
    if stale:
        for address in stale:
            subprocess.Popen(
                ["ping", "-c", "2", "-i", "0.5", "-W", "1", address],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.time() + wait
        while stale and time.time() < deadline:
            time.sleep(0.3)
            peers = _wg_peers(iface)
            for address in list(stale):
                peer = _peer_for(peers, address)
                if peer and peer["handshake"] and time.time() - peer["handshake"] <= max_age:
                    ages[address] = {"age": int(time.time() - peer["handshake"])}
                    stale.remove(address)
        for address in stale:
            ages[address] = {
                "error": "no handshake with the peer for %s within %ds" % (address, max_age)
            }
    return {"peers": ages}


def wireguard_status(iface):
    """The interface's public key, IPv4 address and peers; never its private key."""
    public = _run(["wg", "show", iface, "public-key"]).stdout.strip()
    try:
        address = mesh_address(iface)["address"]
    except OpError:
        address = ""
    dump = _run(["wg", "show", iface, "dump"]).stdout.splitlines()[1:]  # line 1: private key
    peers = []
    for line in dump:
        fields = line.split("\t")
        if len(fields) >= 7:
            peers.append(
                {
                    "public_key": fields[0],
                    "endpoint": "" if fields[2] == "(none)" else fields[2],
                    "allowed_ips": [] if fields[3] == "(none)" else fields[3].split(","),
                    "latest_handshake": int(fields[4]),
                    "rx": int(fields[5]),
                    "tx": int(fields[6]),
                }
            )
    return {"public_key": public, "address": address, "peers": peers}


OPS = {fn.__name__: fn for fn in (mesh_address, handshakes, wireguard_status)}
