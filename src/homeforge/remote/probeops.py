"""Probes from a host: HTTP endpoints answering, TCP ports open or listening.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text): the mesh
cutover checks from each consumer's host that a service answers on its new address
before it switches, and that a restarted service listens again.
"""

import socket
import time
import urllib.error
import urllib.request

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError


def _probe_once(url, method, expect, timeout):
    started = time.time()
    request = urllib.request.Request(
        url, method=method, headers={"User-Agent": "homeforge-cutover"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, "%s" % (reason or type(exc).__name__), time.time() - started
    ok = status in expect if expect else 200 <= status < 400
    return ok, "" if ok else "HTTP %d" % status, time.time() - started


def probe(urls, method="GET", expect=(), count=5, interval=0.2, timeout=3.0, attempts=0):
    """Probe each URL until ``count`` consecutive successes, or ``attempts`` tries fail.

    The URLs are probed side by side, one round at a time.
    """
    attempts = attempts or count * 2
    state = dict(
        (u, {"consecutive": 0, "tries": 0, "errors": 0, "error": "", "ms": []}) for u in urls
    )
    for _round in range(attempts):
        pending = [u for u in urls if state[u]["consecutive"] < count]
        if not pending:
            break
        for url in pending:
            ok, error, took = _probe_once(url, method, list(expect), timeout)
            entry = state[url]
            entry["tries"] += 1
            entry["ms"].append(round(took * 1000, 1))
            if ok:
                entry["consecutive"] += 1
            else:
                entry["consecutive"], entry["errors"], entry["error"] = (
                    0,
                    entry["errors"] + 1,
                    error,
                )
        time.sleep(interval)
    for entry in state.values():
        entry["ok"] = entry["consecutive"] >= count
        times = sorted(entry.pop("ms"))
        entry["median_ms"] = times[len(times) // 2] if times else None
    return {"urls": state}


def tcp_open(address, port, timeout=2.0):
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return {"open": True}
    except OSError as exc:
        return {"open": False, "error": str(exc)}


def wait_listen(address, port, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        if tcp_open(address, port, 1.0)["open"]:
            return {"listening": True}
        if time.time() > deadline:
            raise OpError("nothing listens on %s:%d after %ds" % (address, port, timeout))
        time.sleep(0.2)


OPS = {fn.__name__: fn for fn in (probe, tcp_open, wait_listen)}
