"""Cutover leases: one controller at a time changes a service, by each host's own record.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text). A lease is
a file per service in ``LEASE_DIR`` (root's, 0700; files 0600), changed under an flock,
with its expiry by this host's clock; the last run's journal stays beside it.
"""

import json
import os
import re
import time

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _atomic_write, _read

LEASE_DIR = "/var/lib/homeforge/leases"


def _lease_path(service):
    if not re.match(r"[a-z0-9][a-z0-9_-]{0,30}\Z", service or ""):
        raise OpError("not a service name: %r" % (service,))
    return os.path.join(LEASE_DIR, service + ".json")


def _lease_locked(service):
    """An flock on the lease directory for one read-modify-write (released at exit)."""
    import fcntl

    if not os.path.isdir(LEASE_DIR):
        os.makedirs(LEASE_DIR, 0o700)
    fd = os.open(os.path.join(LEASE_DIR, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def lease_read(service):
    """The service's cutover lease on this host, with ``expired`` by this host's clock."""
    text = _read(_lease_path(service))
    if not text:
        return {"lease": None}
    try:
        lease = json.loads(text)
        lease["expired"] = float(lease["expires_at"]) < time.time()
    except (ValueError, KeyError, TypeError):
        return {"lease": {"owner": "unreadable lease file", "expired": True, "token": ""}}
    return {"lease": lease}


def lease_take(service, token, owner, inventory, action, ttl=900, journal=None, force=False):
    """Take (or renew, with the same token) the lease; refuse while another live lease
    is held, or a stale one is there and ``force`` was not given."""
    fd = _lease_locked(service)
    try:
        held = lease_read(service)["lease"]
        if held and held.get("token") != token and not force:
            return {"taken": False, "held": held}
        now = time.time()
        lease = {
            "token": token,
            "owner": owner,
            "inventory": inventory,
            "action": action,
            "started_at": held["started_at"] if held and held.get("token") == token else now,
            "expires_at": now + int(ttl),
            "journal": journal,
        }
        _atomic_write(_lease_path(service), json.dumps(lease), mode=0o600)
        return {"taken": True, "broke": held if held and held.get("token") != token else None}
    finally:
        os.close(fd)


def lease_release(service, token, journal=None):
    """Drop the lease when this token holds it; the last journal stays beside it."""
    fd = _lease_locked(service)
    try:
        held = lease_read(service)["lease"]
        if not held or held.get("token") != token:
            return {"released": False}
        os.unlink(_lease_path(service))
        if journal is not None:
            _atomic_write(
                os.path.join(LEASE_DIR, service + ".last-journal.json"),
                json.dumps(journal),
                mode=0o600,
            )
        return {"released": True}
    finally:
        os.close(fd)


OPS = {fn.__name__: fn for fn in (lease_read, lease_take, lease_release)}
