"""A service's port closed outside the mesh: read, closed persistently, reopened.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text). The rules
are the wireguard role's: its homeforge-mesh-only script and unit template, sent by the
controller, one implementation for a converge and a cutover.
"""

import hashlib
import os

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _atomic_write, _read, _run

MESH_ONLY_SCRIPT = "/usr/local/sbin/homeforge-mesh-only"
MESH_ONLY_UNIT = "/etc/systemd/system/homeforge-mesh-only@.service"
MESH_ONLY_CONF_DIR = "/etc/homeforge/mesh-only"


def _mesh_only_instance(service):
    return "service-" + service


def _mesh_only_chain(instance):
    # the digest the script computes (homeforge-mesh-only), so rules can be read back here
    return "HF-MO-" + hashlib.sha256(instance.encode()).hexdigest()[:16].upper()


def firewall_read(service):
    """Whether the service's port is closed outside the mesh (unit enabled, chain present)."""
    instance = _mesh_only_instance(service)
    if not any(
        os.access(os.path.join(d, "iptables"), os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin")
    ):
        raise OpError(
            "iptables is not installed (needed to close the service port outside the mesh)"
        )
    unit = "homeforge-mesh-only@%s.service" % instance
    enabled = _run(["systemctl", "is-enabled", unit], check=False).stdout.strip() == "enabled"
    chain = _mesh_only_chain(instance)
    active = _run(["iptables", "-n", "-L", chain], check=False).returncode == 0
    return {"closed": bool(enabled and active), "enabled": enabled, "active": active}


def ipv6_exposure(service):
    """The host's global IPv6 addresses and whether the service's IPv6 closing chain is
    in place (a service on [::] answers over IPv6 unless ip6tables closes it too)."""
    done = _run(["ip", "-6", "-o", "addr", "show", "scope", "global"], check=False)
    addresses = []
    for line in done.stdout.splitlines():
        fields = line.split()
        if "inet6" in fields:
            addresses.append(fields[fields.index("inet6") + 1].split("/")[0])
    chain = _mesh_only_chain(_mesh_only_instance(service))
    usable = _run(["ip6tables", "-S", "INPUT"], check=False).returncode == 0 if addresses else False
    active = usable and _run(["ip6tables", "-n", "-L", chain], check=False).returncode == 0
    return {"addresses": addresses, "ip6tables": usable, "active": active}


def firewall_set(service, port, iface, cidr, closed, script="", unit_text=""):
    """Close the port to everything but the mesh and loopback, persistently, or reopen it.

    ``script`` and ``unit_text`` are the wireguard role's homeforge-mesh-only script and
    unit template (the same files a converge installs): one implementation for both.
    """
    instance = _mesh_only_instance(service)
    unit = "homeforge-mesh-only@%s.service" % instance
    conf_path = os.path.join(MESH_ONLY_CONF_DIR, instance + ".conf")
    before = firewall_read(service)
    if closed:
        conf = (
            "# Managed by homeforge (mesh cutover of %s); 'homeforge mesh rollback' removes it.\n"
            % service
        )
        conf += "ports=%d\ninterface=%s\ncidr=%s\n" % (int(port), iface, cidr)
        changed = False
        for path, text, mode in (
            (MESH_ONLY_SCRIPT, script, 0o755),
            (MESH_ONLY_UNIT, unit_text, 0o644),
        ):
            if _read(path) != text:
                _atomic_write(path, text, mode=mode)
                changed = True
        if changed:
            _run(["systemctl", "daemon-reload"])
        if not os.path.isdir(MESH_ONLY_CONF_DIR):
            os.makedirs(MESH_ONLY_CONF_DIR, 0o755)
        if _read(conf_path) != conf:
            _atomic_write(conf_path, conf, mode=0o644)
            changed = True
        if changed or not before["closed"]:
            _run(["systemctl", "enable", unit])
            _run(["systemctl", "restart", unit])
            changed = True
        return {"changed": changed}
    if not os.path.exists(conf_path) and not before["active"] and not before["enabled"]:
        return {"changed": False}
    _run(["systemctl", "disable", "--now", unit], check=False)
    if before["active"] and os.path.exists(MESH_ONLY_SCRIPT):
        _run([MESH_ONLY_SCRIPT, instance, "stop"])
    if os.path.exists(conf_path):
        os.unlink(conf_path)
    return {"changed": True}


OPS = {fn.__name__: fn for fn in (firewall_read, firewall_set, ipv6_exposure)}
