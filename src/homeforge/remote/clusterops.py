"""Cluster operations homeforge runs on a K3s server (see :class:`homeforge.remote.Remote`).

Like :mod:`homeforge.remote.hostops` this file is sent whole over SSH and runs with the
host's own python3 (standard library, Python 3.7 syntax), one operation per call.
"""

from __future__ import annotations

import json
import subprocess

KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"


class OpError(Exception):
    pass


def k3s_nodes():
    """``k3s kubectl get nodes -o json`` on this server, parsed."""
    done = subprocess.run(
        ["k3s", "kubectl", "get", "nodes", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise OpError("k3s kubectl get nodes: %s" % detail)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise OpError("k3s kubectl get nodes: not JSON") from None


def k3s_kubeconfig():
    """The admin kubeconfig K3s wrote on this server (it holds the admin credentials)."""
    try:
        with open(KUBECONFIG) as handle:
            return {"text": handle.read()}
    except OSError as exc:
        raise OpError("%s: %s (is K3s running here?)" % (KUBECONFIG, exc.strerror)) from None


OPS = {fn.__name__: fn for fn in (k3s_nodes, k3s_kubeconfig)}


def serve(request):
    """Run one request ``{"op": NAME, "args": {...}}``; print one JSON line; the exit code."""
    try:
        result = OPS[request["op"]](**request.get("args", {}))
        print(json.dumps({"ok": True, "result": result}))
        return 0
    except (OpError, OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as exc:
        print(json.dumps({"ok": False, "error": str(exc) or type(exc).__name__}))
        return 1
