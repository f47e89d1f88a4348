"""The AI gateway's consumer keys and usage records, on the gateway host.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text). The
``ai_gateway`` role creates the files; this program changes the keys file only under an
flock, atomically, keeping its owner (the gateway's user) and mode (0600):

- ``keys.json``: ``{"keys": {NAME: {"sha256", "issued_at"}}, "revoked": {NAME: at}}``. A
  key is made here from the host's own randomness, its SHA-256 is stored, and the key is
  returned once to the caller (``homeforge gateway keys issue``), which prints it and
  keeps it nowhere. LiteLLM's hooks read the file again when it changes: a revocation
  holds from the next request.
- ``consumers.json`` (the role's, from the inventory): who may have a key.
- ``usage.jsonl`` (the hooks'): one record per request; :func:`usage` sums it up.
- :func:`ask`: one question through the gateway on this host, as a consumer would ask it.

Kubernetes mode (``ai_gateway_mode: kubernetes``): this host is the first K3s server, and
``kubernetes.json`` (the role's) names the keys' store: the Secret ``ai-gateway-keys`` as
a manifest in K3s's manifests directory (JSON, which K3s's YAML reader takes), holding
the same ``keys.json`` as ``stringData``. K3s applies it when it changes and the kubelet
refreshes the pod's mounted copy, which the hooks read again: an issued or revoked key
takes effect after both (about a minute), not at the next request. The usage records are
in the pod's volume, read with ``kubectl exec``.
"""

import contextlib
import json
import os
import re
import time

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _atomic_write, _read, _run

ETC = "/etc/homeforge-gateway"
STATE = "/var/lib/homeforge-gateway"
KEYS = STATE + "/keys.json"
CONSUMERS = ETC + "/consumers.json"
USAGE = STATE + "/usage.jsonl"
KUBERNETES = ETC + "/kubernetes.json"
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
KEY_PREFIX = "sk-hf-"


def _consumers():
    text = _read(CONSUMERS)
    if text is None:
        raise OpError("%s: missing (is this host converged with the ai_gateway role?)" % CONSUMERS)
    return json.loads(text)


def _kubernetes():
    """Kubernetes mode's settings (``{namespace, keys_manifest}``), or None on a gateway host."""
    text = _read(KUBERNETES)
    return json.loads(text) if text else None


def _store():
    """The keys' file, and Kubernetes mode's settings (None on a gateway host)."""
    k8s = _kubernetes()
    return (k8s["keys_manifest"] if k8s else KEYS), k8s


def _keys_locked():
    """An flock beside the keys file for one read-modify-write (released at exit)."""
    import fcntl

    path, k8s = _store()
    if _read(path) is None:
        raise OpError("%s: missing (is this host converged with the ai_gateway role?)" % path)
    fd = os.open((ETC if k8s else STATE) + "/.keys.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _keys():
    path, k8s = _store()
    text = _read(path) or "{}"
    if k8s:  # the Secret's keys.json
        text = (json.loads(text).get("stringData") or {}).get("keys.json") or "{}"
    data = json.loads(text)
    data.setdefault("keys", {})
    data.setdefault("revoked", {})
    return data


def _save(data):
    path, k8s = _store()
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if k8s:
        secret = json.loads(_read(path))
        secret["stringData"] = {"keys.json": text}
        text = json.dumps(secret, indent=1, sort_keys=True) + "\n"
    _atomic_write(path, text, mode=0o600, keep=True)


def keys_issue(name, rotate=False):
    """A new key for consumer ``name``: returned once, stored as its SHA-256. Without
    ``rotate`` a consumer that has a key keeps it (refused); with it the old key stops."""
    import hashlib
    import secrets

    if not NAME.match(name or ""):
        raise OpError("not a consumer name: %r" % (name,))
    if name not in _consumers():
        raise OpError("%s is not a consumer of this gateway (ai_gateway_consumers)" % name)
    fd = _keys_locked()
    try:
        data = _keys()
        if name in data["keys"] and not rotate:
            raise OpError("%s has a key already: rotate it, or revoke it first" % name)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        data["keys"][name] = {
            "sha256": hashlib.sha256(key.encode()).hexdigest(),
            "issued_at": time.time(),
        }
        data["revoked"].pop(name, None)
        _save(data)
    finally:
        os.close(fd)
    return {"name": name, "key": key, "rotated": bool(rotate)}


def keys_revoke(name):
    """Remove ``name``'s key; its next request is refused (401)."""
    fd = _keys_locked()
    try:
        data = _keys()
        had = data["keys"].pop(name, None) is not None
        if had:
            data["revoked"][name] = time.time()
            _save(data)
    finally:
        os.close(fd)
    return {"name": name, "revoked": had}


def keys_list():
    """Every declared consumer and every key holder: whether each has a key, and when it
    was issued or revoked (no hash, no key)."""
    consumers, data = _consumers(), _keys()
    out = {}
    for name in sorted(set(consumers) | set(data["keys"]) | set(data["revoked"])):
        key = data["keys"].get(name) or {}
        declared = consumers.get(name)
        out[name] = {
            "declared": declared is not None,
            "models": (declared or {}).get("models", []),
            "rpm": (declared or {}).get("rpm"),
            "tpm": (declared or {}).get("tpm"),
            "has_key": bool(key),
            "issued_at": key.get("issued_at"),
            "revoked_at": data["revoked"].get(name),
        }
    return {"consumers": out}


def _percentile(values, fraction):
    """The nearest-rank percentile (a value that was measured)."""
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _usage_text():
    """The usage records, the rotated file's first: on this host, or (Kubernetes mode) in
    the gateway pod's volume."""
    k8s = _kubernetes()
    if not k8s:
        return "".join(_read(path) or "" for path in (USAGE + ".1", USAGE))
    show = "import os,sys\nfor p in sys.argv[1:]:\n    os.path.exists(p) and sys.stdout.write(open(p).read())"
    return _run(
        [
            "k3s",
            "kubectl",
            "exec",
            "-n",
            k8s["namespace"],
            "deploy/ai-gateway",
            "-c",
            "litellm",
            "--",
            "python3",
            "-c",
            show,
            USAGE + ".1",
            USAGE,
        ],
        timeout=120,
    ).stdout


def usage(since=0.0):
    """Requests, errors, tokens in and out, median and p99 latency per consumer and
    model, from the records since ``since`` (seconds since the epoch)."""
    rows = {}
    for line in _usage_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or float(rec.get("t", 0)) < since:
            continue
        key = (rec.get("consumer") or "-", rec.get("model") or "-")
        row = rows.setdefault(
            key, {"requests": 0, "errors": 0, "tokens_in": 0, "tokens_out": 0, "ms": []}
        )
        row["requests"] += 1
        if rec.get("status") != 200:
            row["errors"] += 1
        row["tokens_in"] += int(rec.get("tokens_in") or 0)
        row["tokens_out"] += int(rec.get("tokens_out") or 0)
        if rec.get("ms") is not None:
            row["ms"].append(float(rec["ms"]))
    out = []
    for (consumer, model), row in sorted(rows.items()):
        ms = row.pop("ms")
        row.update(
            consumer=consumer,
            model=model,
            p50_ms=_percentile(ms, 0.5) if ms else None,
            p99_ms=_percentile(ms, 0.99) if ms else None,
        )
        out.append(row)
    return {"rows": out}


def _listen():
    """Where the gateway listens: the --host and --port of its unit's command line."""
    if _kubernetes():
        raise OpError(
            "Kubernetes mode: the gateway is reached through the ingress's host name"
            " (ingress_traefik_gateway_host, ingress_istio_ai_gateway_hostname), not from a server"
        )
    shown = _run(
        ["systemctl", "show", "--property=ExecStart", "--value", "homeforge-gateway.service"]
    ).stdout
    host = re.search(r"--host (\S+)", shown)
    port = re.search(r"--port (\d+)", shown)
    if not host or not port:
        raise OpError(
            "homeforge-gateway.service: no --host/--port (is the ai_gateway role converged?)"
        )
    address = "127.0.0.1" if host.group(1) in ("0.0.0.0", "::") else host.group(1)
    return "http://%s:%s" % ("[%s]" % address if ":" in address else address, port.group(1))


def ask(key, model, question, timeout=300):
    """One chat completion through the gateway, as the consumer whose key is given (the
    request reaches the host on stdin, never in a command line): the answer, the tokens."""
    import urllib.error
    import urllib.request

    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}]})
    request = urllib.request.Request(
        _listen() + "/v1/chat/completions",
        body.encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + key},
    )
    started = time.time()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            data = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        raise OpError("the gateway answered %d: %s" % (exc.code, str(detail)[:300])) from None
    except (urllib.error.URLError, OSError) as exc:
        raise OpError("the gateway did not answer: %s" % getattr(exc, "reason", exc)) from None
    return {
        "model": data.get("model"),
        "answer": data["choices"][0]["message"]["content"],
        "usage": data.get("usage") or {},
        "seconds": round(time.time() - started, 3),
    }


OPS = {
    "ask": ask,
    "keys_issue": keys_issue,
    "keys_revoke": keys_revoke,
    "keys_list": keys_list,
    "usage": usage,
}
