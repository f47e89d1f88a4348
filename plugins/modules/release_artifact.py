#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_artifact
short_description: Install a release file only after its sha256 matches the release's checksum list
description:
  - Takes a release file (a tarball or a single binary) from O(url) or from O(src) (a file
    already on the host, e.g. copied from an airgap directory), checks its SHA-256 against
    the line for O(name) in the release's checksum list (O(checksums_url) or
    O(checksums_src), the C(sha256sum) format), and only then installs it into O(dest),
    extracted (C(.tgz), C(.tar.gz), C(.tar.zst)) or copied as O(dest)/O(name) with O(mode).
  - Installing is atomic (a temporary directory renamed into place) and idempotent, as O(dest)
    keeps a record of the digest it holds, so a converged host is not changed and nothing is
    downloaded again. A mismatch, a missing checksum line or a broken download fails with
    nothing installed.
  - The record also keeps what was installed (each file's path, type and mode, its size and
    modification time, and the SHA-256 of files up to 1 MiB), so a release whose installed
    files were changed, added or removed since is installed again, with RV(repaired) saying why.
  - As O(dest) is replaced whole on a new digest, it must be an absolute path without C(..),
    at or under one of O(allowed_prefixes) (also once symbolic links are resolved), and never
    a system directory (C(/), C(/etc), C(/usr), C(/usr/local/lib), C(/var/lib), ...).
    Downloads are C(https) only. Anything else fails before anything is read or written.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether O(dest) would change; downloads nothing. A checksum list that is
      not on the host yet (an earlier task of the run would copy it) reports a change.
  diff_mode:
    support: none
options:
  name:
    description: The file's name as the checksum list names it (e.g. C(ollama-linux-amd64.tgz)).
    type: str
    required: true
  url:
    description: Where to download the file (an C(https) URL); mutually exclusive with O(src).
    type: str
  src:
    description: The file on the host; mutually exclusive with O(url).
    type: path
  checksums_url:
    description: The release's checksum list (e.g. C(sha256sum.txt)) to download (C(https)).
    type: str
  checksums_src:
    description: The release's checksum list, on the host.
    type: path
  sha256:
    description:
      - The file's published SHA-256, pinned by the caller, for releases that publish a digest
        per file instead of a checksum list (e.g. EKS hybrid C(nodeadm)). Mutually exclusive
        with O(checksums_url) and O(checksums_src).
    type: str
  dest:
    description: The directory to install into (created; replaced as a whole on a new digest).
    type: path
    required: true
  allowed_prefixes:
    description:
      - The directories O(dest) may be, or lie under. The default holds the places the
        collection's roles install releases to; a role with a configurable install root passes
        that root.
    type: list
    elements: path
    default:
      - /usr/local/lib/k3s
      - /usr/local/lib/nodeadm
      - /usr/local/lib/ollama
      - /var/lib/homeforge
      - /var/lib/rancher/k3s/agent/images
  extract:
    description: Unpack the archive into O(dest); C(false) copies the file as O(dest)/O(name).
    type: bool
    default: true
  mode:
    description: Mode of the copied file when O(extract=false).
    type: str
    default: "0755"
  timeout:
    description: Seconds for each download.
    type: int
    default: 600
"""

EXAMPLES = r"""
- name: Ollama from its GitHub release, checked against its published sha256 (pinned here)
  homeforge.homelab.release_artifact:
    name: ollama-linux-amd64.tgz
    url: https://github.com/ollama/ollama/releases/download/v0.12.3/ollama-linux-amd64.tgz
    sha256: 649ac33e3e22304f650207e4f6379dbc2c2397d840593caf5bba6605c2886229
    dest: /usr/local/lib/ollama/0.12.3

- name: An airgap copy checked against the checksum list beside it, under a root of one's own
  homeforge.homelab.release_artifact:
    name: ollama-linux-amd64.tgz
    src: /var/cache/homeforge/ollama/0.12.3/ollama-linux-amd64.tgz
    checksums_src: /var/cache/homeforge/ollama/0.12.3/sha256sum.txt
    dest: /opt/ollama/0.12.3
    allowed_prefixes: [/opt/ollama]
"""

RETURN = r"""
sha256:
  description: The installed file's SHA-256.
  returned: success
  type: str
previous_sha256:
  description: What O(dest) held before (empty when nothing).
  returned: always
  type: str
repaired:
  description: Why a release of the same digest was installed again (its files differ from what was installed); empty otherwise.
  returned: always
  type: str
"""

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url
from ansible_collections.homeforge.homelab.plugins.module_utils.validation import (
    absolute_path_problem,
    https_url_problem,
)

RECORD = ".homeforge-artifact.json"
DEFAULT_PREFIXES = [
    "/usr/local/lib/k3s",
    "/usr/local/lib/nodeadm",
    "/usr/local/lib/ollama",
    "/var/lib/homeforge",
    "/var/lib/rancher/k3s/agent/images",
]
# Never a destination, whatever the allowed prefixes say: the destination is renamed away
# and deleted when a new release is installed.
SYSTEM_DIRS = frozenset(
    (
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
        "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
        "/usr", "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib32", "/usr/lib64",
        "/usr/libexec", "/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/include",
        "/usr/local/lib", "/usr/local/sbin", "/usr/local/share", "/usr/sbin", "/usr/share",
        "/usr/src", "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/log",
        "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp",
    )
)  # fmt: skip


def _under(path, prefix):
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _clean(path):
    """An absolute path without '..' and '.', normalised; None when it is not one."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    if ".." in path.split("/") or "." in path.split("/"):
        return None
    return "/" + os.path.normpath(path).lstrip("/")


def dest_problem(dest, prefixes):
    """Why ``dest`` may not be replaced by a release, or None."""
    problem = absolute_path_problem(dest)  # the shared rule: no '..', no control characters
    if problem:
        return problem
    path = _clean(dest)
    if path is None:
        return "must be an absolute path without '.' or '..' components"
    allowed = [_clean(prefix) for prefix in prefixes]
    if None in allowed:
        return "allowed_prefixes must be absolute paths without '.' or '..' components"
    if path in SYSTEM_DIRS:
        return "is a system directory, which a release never replaces"
    if not any(_under(path, prefix) for prefix in allowed):
        return f"is outside the allowed prefixes ({', '.join(allowed)})"
    real = os.path.realpath(path)  # a link on the way must not lead elsewhere
    if real in SYSTEM_DIRS:
        return f"resolves to {real}, a system directory, which a release never replaces"
    if not any(_under(real, os.path.realpath(prefix)) for prefix in allowed):
        return f"resolves to {real}, outside the allowed prefixes ({', '.join(allowed)})"
    return None


def _refuse_bad_input(module):
    """Fail before anything is read or written when the destination or a URL is unsafe."""
    params = module.params
    if "/" in params["name"] or params["name"] in ("", ".", ".."):
        module.fail_json(msg="name is a file name, not a path")
    problem = dest_problem(params["dest"], params["allowed_prefixes"])
    if problem:
        module.fail_json(msg=f"dest {json.dumps(params['dest'])}: {problem}; nothing changed")
    params["dest"] = _clean(params["dest"])
    for key in ("url", "checksums_url"):
        if params[key] is not None:
            problem = https_url_problem(params[key])
            if problem:
                module.fail_json(msg=f"{key} {json.dumps(params[key])}: {problem}; nothing changed")


def _download(module, url, target):
    response, info = fetch_url(module, url, timeout=module.params["timeout"])
    if info.get("status") != 200 or response is None:
        module.fail_json(msg=f"download of {url} failed: {info.get('msg', info.get('status'))}")
    with open(target, "wb") as handle:
        shutil.copyfileobj(response, handle, 1 << 20)


def _expected(module, sums_path):
    name = module.params["name"]
    with open(sums_path, errors="replace") as handle:
        for line in handle:
            match = re.match(r"([0-9a-fA-F]{64})\s+\*?(\S+)\s*$", line)
            if match and os.path.basename(match.group(2)) == name:
                return match.group(1).lower()
    module.fail_json(msg=f"{name}: no line for it in the release's checksum list")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(dest):
    try:
        with open(os.path.join(dest, RECORD)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


SMALL = 1 << 20  # files up to this size are compared by content too


def tree_digest(root):
    """What is installed under ``root`` (the record aside): each entry's path, type, mode,
    size and modification time, and the content of small files; links are not followed."""
    entries = []
    for base, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            if rel == RECORD:
                continue
            st = os.lstat(path)
            entry = f"{rel} {st.st_mode:o} {st.st_size} {st.st_mtime_ns}"
            if os.path.islink(path):
                entry += " -> " + os.readlink(path)
            elif os.path.isfile(path) and st.st_size <= SMALL:
                entry += " " + _sha256(path)
            entries.append(entry)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def _unpack(module, archive, target):
    name = module.params["name"]
    if name.endswith(".tar.zst"):
        # zstd only decompresses (Python has no zstd before 3.14); the members then go
        # through the same checks and extraction filter as a .tgz's
        zstd = module.get_bin_path("zstd", required=True)
        plain = os.path.join(
            os.path.dirname(target), ".unzstd-" + os.path.basename(target) + ".tar"
        )
        try:
            rc, _out, err = module.run_command([zstd, "-q", "-d", "-f", archive, "-o", plain])
            if rc != 0:
                module.fail_json(msg=f"unpacking {name} failed: {err.strip()}")
            _extract(module, name, plain, target)
        finally:
            if os.path.exists(plain):
                os.unlink(plain)
        return
    _extract(module, name, archive, target)


def _extract(module, name, archive, target):
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts:
                module.fail_json(
                    msg=f"{name}: refusing a member outside the archive: {member.name}"
                )
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # an older Python without extraction filters: members were checked above
            tar.extractall(target)


def _install(module, fetched, digest):
    params = module.params
    dest = params["dest"].rstrip("/")
    parent = os.path.dirname(dest) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".incoming-")
    try:
        if params["extract"]:
            _unpack(module, fetched, staging)
        else:
            target = os.path.join(staging, params["name"])
            shutil.copyfile(fetched, target)
            os.chmod(target, int(params["mode"], 8))
        os.chmod(staging, 0o755)
        with open(os.path.join(staging, RECORD), "w") as handle:
            json.dump(
                {"name": params["name"], "sha256": digest, "tree": tree_digest(staging)}, handle
            )
        old = None
        if os.path.exists(dest):
            old = tempfile.mkdtemp(dir=parent, prefix=".old-")
            os.rename(dest, os.path.join(old, "x"))
        os.rename(staging, dest)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def run(module):
    params = module.params
    dest = params["dest"]
    record = _record(dest)
    previous = str(record.get("sha256", ""))
    work = tempfile.mkdtemp(prefix="homeforge-artifact-")
    try:
        expected = (params["sha256"] or "").lower()
        if params["sha256"] and not re.match(r"^[0-9a-f]{64}$", expected):
            module.fail_json(msg=f"sha256 {params['sha256']!r} is not a SHA-256 (64 hex digits)")
        sums = params["checksums_src"]
        if params["checksums_url"]:
            sums = os.path.join(work, "checksums")
            _download(module, params["checksums_url"], sums)
        if not expected and (not sums or not os.path.isfile(sums)):
            if module.check_mode:  # an earlier task of the same run would have copied it
                return {"changed": True, "sha256": "", "previous_sha256": previous}
            module.fail_json(msg=f"{sums}: no such checksum list", previous_sha256=previous)
        expected = expected or _expected(module, sums)
        repaired = ""
        if previous == expected:
            # a record from before trees were kept vouches for the digest only
            if "tree" not in record or tree_digest(dest) == record["tree"]:
                return {
                    "changed": False,
                    "sha256": expected,
                    "previous_sha256": previous,
                    "repaired": "",
                }
            repaired = (
                f"{dest}: its files differ from the release installed there; installing it again"
            )
        if module.check_mode:
            return {
                "changed": True,
                "sha256": expected,
                "previous_sha256": previous,
                "repaired": repaired,
            }
        fetched = params["src"]
        if params["url"]:
            fetched = os.path.join(work, params["name"])
            _download(module, params["url"], fetched)
        if not fetched or not os.path.isfile(fetched):
            module.fail_json(msg=f"{fetched}: no such file", previous_sha256=previous)
        actual = _sha256(fetched)
        if actual != expected:
            module.fail_json(
                msg=f"{params['name']}: sha256 {actual} does not match the release's {expected}; "
                "nothing installed",
                previous_sha256=previous,
            )
        _install(module, fetched, actual)
        return {
            "changed": True,
            "sha256": actual,
            "previous_sha256": previous,
            "repaired": repaired,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "url": {"type": "str"},
            "src": {"type": "path"},
            "checksums_url": {"type": "str"},
            "checksums_src": {"type": "path"},
            "sha256": {"type": "str"},
            "dest": {"type": "path", "required": True},
            "allowed_prefixes": {"type": "list", "elements": "path", "default": DEFAULT_PREFIXES},
            "extract": {"type": "bool", "default": True},
            "mode": {"type": "str", "default": "0755"},
            "timeout": {"type": "int", "default": 600},
        },
        mutually_exclusive=[("url", "src"), ("checksums_url", "checksums_src", "sha256")],
        required_one_of=[("url", "src"), ("checksums_url", "checksums_src", "sha256")],
        supports_check_mode=True,
    )
    _refuse_bad_input(module)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
