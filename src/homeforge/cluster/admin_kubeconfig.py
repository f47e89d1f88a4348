"""The admin kubeconfig a K3s server serves, rebuilt with only the fields homeforge needs.

A kubeconfig can make kubectl run a program (``exec``, ``auth-provider``), skip TLS
verification, go through a proxy or read files on the operator's machine. The served
file comes from a host, so nothing of it is copied as is: the new file is built from
scratch with one cluster (the API endpoint homeforge computes, the CA data), one user
(client certificate and key data) and one context. Every field K3s does not write is
refused, with one line naming the host and the field and never a value, since some of
them hold the admin key.
"""

from __future__ import annotations

import base64
import binascii
import re

import yaml

from homeforge.errors import BadInput

# Every field K3s writes into k3s.yaml; ``name`` entries and the server are replaced.
TOP_FIELDS = {
    "apiVersion",
    "kind",
    "clusters",
    "contexts",
    "users",
    "current-context",
    "preferences",
}
ENTRY_FIELDS = {"clusters": "cluster", "users": "user", "contexts": "context"}
INNER_FIELDS = {
    "cluster": {"server", "certificate-authority-data"},
    "user": {"client-certificate-data", "client-key-data"},
    "context": {"cluster", "user"},
}
# The PEM blocks each credential field must hold: (labels accepted, several blocks allowed).
# K3s's client certificate data is the admin certificate followed by its client CA.
PEM_FIELDS = {
    "certificate-authority-data": ({"CERTIFICATE"}, True),
    "client-certificate-data": ({"CERTIFICATE"}, True),
    "client-key-data": ({"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"}, False),
}
PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n-----END \1-----\s*"
)
FIELD_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
WHY = {
    "exec": "kubectl would run a program from the server on this machine",
    "auth-provider": "kubectl would run an authentication plugin on this machine",
    "insecure-skip-tls-verify": "it turns off TLS verification",
    "proxy-url": "it sends the admin credentials through a proxy",
    "tls-server-name": "it changes the name the server's certificate is checked against",
    "certificate-authority": "it names a file on this machine",
    "client-certificate": "it names a file on this machine",
    "client-key": "it names a file on this machine",
    "tokenFile": "it names a file on this machine",
    "username": "basic authentication is not what K3s writes",
    "password": "basic authentication is not what K3s writes",
}


def _refuse(source: str, where: str, why: str) -> BadInput:
    return BadInput(f"{source}: {where}: {why}; refused (nothing was written)")


def _mapping(value: object, source: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise _refuse(source, where, "not a mapping, so not the kubeconfig K3s writes")
    return value


def _only(found: dict, allowed: set[str], source: str, where: str) -> None:
    for key in found:
        if key not in allowed:
            shown = str(key) if FIELD_NAME.fullmatch(str(key)) else ascii(str(key)[:40])
            raise _refuse(source, f"{where}{shown}", WHY.get(str(key), "not a field K3s writes"))


def pem_problem(value: object, labels: set[str], several: bool) -> str | None:
    """Why ``value`` is not base64 of PEM blocks with one of ``labels``; None when it is."""
    if not isinstance(value, str) or not value:
        return "missing or not a string"
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return "not base64 of a PEM text"
    blocks, pos = 0, 0
    while pos < len(text):
        match = PEM_BLOCK.match(text, pos)
        if match is None:
            return "not base64 of a PEM text"
        if match.group(1) not in labels:
            return f"holds a PEM {match.group(1)} block, not {' or '.join(sorted(labels))}"
        try:
            base64.b64decode(re.sub(r"\s", "", match.group(2)), validate=True)
        except binascii.Error:
            return "a PEM block whose body is not base64"
        blocks, pos = blocks + 1, match.end()
    if blocks == 0:
        return "no PEM block in it"
    if blocks > 1 and not several:
        return "more than one PEM block in it"
    return None


def _entry(config: dict, kind: str, source: str) -> dict:
    """The one entry of ``clusters``/``users``/``contexts``, its inner fields checked."""
    entries = config.get(kind)
    if not isinstance(entries, list) or len(entries) != 1:
        count = len(entries) if isinstance(entries, list) else "no"
        raise _refuse(source, kind, f"{count} entries, homeforge takes exactly the one K3s writes")
    entry = _mapping(entries[0], source, f"{kind}[0]")
    inner = ENTRY_FIELDS[kind]
    _only(entry, {"name", inner}, source, f"{kind}[0].")
    fields = _mapping(entry.get(inner), source, f"{kind}[0].{inner}")
    _only(fields, INNER_FIELDS[inner], source, f"{kind}[0].{inner}.")
    for key, (labels, several) in PEM_FIELDS.items():
        if key in INNER_FIELDS[inner]:
            problem = pem_problem(fields.get(key), labels, several)
            if problem:
                raise _refuse(source, f"{kind}[0].{inner}.{key}", problem)
    return fields


def rebuild(text: str, server: str, name: str, source: str = "the server's kubeconfig") -> dict:
    """The kubeconfig homeforge writes from the served ``text``: one cluster at ``server``,
    one user and one context, all called ``name``; BadInput naming ``source`` and the
    field when the served file holds anything K3s does not write."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        raise _refuse(source, "the file", "not YAML") from None
    config = _mapping(loaded, source, "the file")
    _only(config, TOP_FIELDS, source, "")
    if config.get("apiVersion", "v1") != "v1" or config.get("kind", "Config") != "Config":
        raise _refuse(source, "apiVersion/kind", "not a v1 Config")
    if config.get("preferences") not in (None, {}):
        raise _refuse(source, "preferences", "not empty, as K3s writes it")
    cluster = _entry(config, "clusters", source)
    user = _entry(config, "users", source)
    _entry(config, "contexts", source)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": user["client-certificate-data"],
                    "client-key-data": user["client-key-data"],
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
