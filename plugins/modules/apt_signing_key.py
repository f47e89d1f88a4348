#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apt_signing_key
short_description: Install an apt repository's signing key only when its fingerprint is pinned
description:
  - Downloads an OpenPGP public key (armored or binary) from an https O(url) and writes it to
    O(dest) for an apt source's C(signed-by=) option, but only when every primary key in it has
    one of the O(fingerprints), so whoever answers the URL cannot slip in a key of their own.
  - Fingerprints are computed from the key packets themselves (RFC 4880 section 12.2 for v4
    keys, RFC 9580 section 5.5.4 for v6 keys), so the host needs no gpg.
  - A key already at O(dest) whose keys all match is left alone and nothing is downloaded, so
    a converged host is not changed. A mismatch fails with nothing written.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether O(dest) would be written; downloads nothing.
  diff_mode:
    support: none
options:
  url:
    description: Where the key is published; C(https) only.
    type: str
    required: true
  dest:
    description: The key file (e.g. C(/etc/apt/keyrings/vendor.asc)); written 0644, root-owned.
    type: path
    required: true
  fingerprints:
    description: The accepted primary key fingerprints (40 or 64 hexadecimal digits; spaces ignored).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: NVIDIA's signing key, pinned
  homeforge.homelab.apt_signing_key:
    url: https://nvidia.github.io/libnvidia-container/gpgkey
    dest: /etc/apt/keyrings/nvidia-container-toolkit.asc
    fingerprints: [C95B321B61E88C1809C4F759DDCAE044F796ECB0]
"""

RETURN = r"""
fingerprints:
  description: The primary key fingerprints found in the key file now at O(dest).
  returned: success
  type: list
  elements: str
"""

import base64
import hashlib
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url

ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "dest": {"type": "path", "required": True},
    "fingerprints": {"type": "list", "elements": "str", "required": True, "no_log": False},
}
MAX_KEY_BYTES = 1024 * 1024
PUBLIC_KEY_TAG = 6


class KeyFormatError(ValueError):
    """Not an OpenPGP public key we can read."""


def dearmor(data):
    """The binary packets of an armored key block, or ``data`` when it is binary already."""
    text = data.decode("ascii", "replace")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        return data
    body = text.split("-----BEGIN PGP PUBLIC KEY BLOCK-----", 1)[1]
    body = body.split("-----END PGP PUBLIC KEY BLOCK-----", 1)[0]
    lines = body.strip().splitlines()
    if "" in [line.strip() for line in lines]:  # armor headers end at the first blank line
        lines = lines[[line.strip() for line in lines].index("") + 1 :]
    encoded = "".join(line.strip() for line in lines if not line.startswith("="))
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise KeyFormatError("the armored key is not valid base64") from exc


def packets(data):
    """(tag, body) of each OpenPGP packet (RFC 4880 section 4.2: old and new formats)."""
    pos = 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            raise KeyFormatError("not an OpenPGP packet stream")
        if head & 0x40:  # new format
            tag, pos = head & 0x3F, pos + 1
            if pos >= len(data):
                raise KeyFormatError("truncated packet header")
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224:
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255:
                length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
            else:
                raise KeyFormatError("partial packet lengths do not occur in keys")
        else:  # old format
            tag, kind, pos = (head >> 2) & 0x0F, head & 0x03, pos + 1
            if kind == 3:
                raise KeyFormatError("indeterminate packet lengths do not occur in keys")
            size = (1, 2, 4)[kind]
            length, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
        if pos + length > len(data):
            raise KeyFormatError("truncated packet")
        yield tag, data[pos : pos + length]
        pos += length


def fingerprint(body):
    version = body[0] if body else 0
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if version == 6:
        return hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    raise KeyFormatError(f"version {version} keys are not supported (v4 and v6 are)")


def primary_fingerprints(data):
    found = [fingerprint(body) for tag, body in packets(dearmor(data)) if tag == PUBLIC_KEY_TAG]
    if not found:
        raise KeyFormatError("no public key in it")
    return found


def normalised(value):
    return re.sub(r"\s+", "", value).upper()


def matches(data, allowed):
    """(fingerprints, None) when every primary key is allowed, else (fingerprints, why)."""
    try:
        found = primary_fingerprints(data)
    except KeyFormatError as exc:
        return [], str(exc)
    stranger = [f for f in found if f not in allowed]
    if stranger:
        return found, f"key {stranger[0]} is not one of the pinned fingerprints"
    return found, None


def download(module, url):
    response, info = fetch_url(module, url, timeout=30)
    if info.get("status") != 200 or response is None:
        module.fail_json(msg=f"downloading {url} failed: {info.get('msg', 'no answer')}")
    data = response.read(MAX_KEY_BYTES + 1)
    if len(data) > MAX_KEY_BYTES:
        module.fail_json(msg=f"{url}: more than {MAX_KEY_BYTES} bytes: not a signing key")
    return data


def write(dest, data):
    directory = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".homeforge-key-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    url, dest = module.params["url"], module.params["dest"]
    allowed = {normalised(f) for f in module.params["fingerprints"]}
    bad = sorted(f for f in allowed if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", f))
    if bad or not allowed:
        module.fail_json(msg="fingerprints must be 40 or 64 hexadecimal digits (at least one)")
    if not re.fullmatch(r"https://[^\s/?#]+(/\S*)?", url):
        module.fail_json(msg=f"url must be an https URL, not {url!r}")

    if os.path.isfile(dest) and not os.path.islink(dest):
        with open(dest, "rb") as handle:
            found, why = matches(handle.read(MAX_KEY_BYTES + 1), allowed)
        if why is None:
            module.exit_json(changed=False, fingerprints=found)
    if module.check_mode:
        module.exit_json(changed=True, fingerprints=[])
    data = download(module, url)
    found, why = matches(data, allowed)
    if why:
        module.fail_json(msg=f"{url}: {why}; nothing written", fingerprints=found)
    write(dest, data)
    module.exit_json(changed=True, fingerprints=found)


if __name__ == "__main__":
    main()
