#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Make an Ollama model present or absent, idempotently, through Ollama's HTTP API
description:
  - Reads C(/api/tags) first. A model that is there is left alone (no pull, no change)
    unless O(update=true); a missing one is pulled with C(/api/pull), following its NDJSON
    progress stream. The result is C(changed) only when the model's manifest digest changed
    (C(/api/pull) answers success whether it fetched anything or not).
  - A pull is bounded by O(timeout) overall and retried O(retries) times after a broken
    stream, an error line (an C(error) object, which arrives with HTTP 200) or an unreachable server,
    with a growing pause. Ollama resumes partial downloads itself, so a retry fetches only
    what is missing; C(OLLAMA_NOPRUNE) on the server keeps partial blobs across restarts.
  - While it pulls, progress (status, bytes, rate, ETA) is written as JSON to
    O(progress_file), which C(homeforge models pull) shows as a progress bar.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the model would be pulled or deleted; nothing is fetched.
  diff_mode:
    support: none
requirements:
  - httpx (Debian package python3-httpx) on the host
options:
  name:
    description: The model, C([registry/][namespace/]model[:tag]); the tag defaults to C(latest).
    type: str
    required: true
  state:
    description: Whether the model should be there.
    type: str
    choices: [present, absent]
    default: present
  update:
    description: Pull even when the model is present, to pick up a newer manifest for the tag.
    type: bool
    default: false
  url:
    description: The Ollama server's base URL.
    type: str
    default: http://127.0.0.1:11434
  timeout:
    description: Seconds a pull may take in all, retries included.
    type: int
    default: 3600
  retries:
    description: Further attempts after a failed pull.
    type: int
    default: 3
  insecure:
    description: Allow an insecure (plain HTTP) registry, as C(ollama pull --insecure).
    type: bool
    default: false
  progress_file:
    description: Where progress is written during a pull; empty writes it nowhere.
    type: path
    default: ""
  origin_file:
    description:
      - homeforge's record of where each model on this host came from; a pull that changes a
        model records its registry there, a removal forgets it. C(homeforge models list)
        shows it. Empty keeps no record.
    type: path
    default: /var/lib/homeforge/ollama/origins.json
"""

EXAMPLES = r"""
- name: A model every GPU host serves
  homeforge.homelab.ollama_model:
    name: llama3.2:1b

- name: Follow the tag to its newest manifest
  homeforge.homelab.ollama_model:
    name: qwen2.5:7b
    update: true
    timeout: 7200

- name: Remove a model
  homeforge.homelab.ollama_model:
    name: mistral:7b
    state: absent
"""

RETURN = r"""
name:
  description: The model's name as Ollama lists it.
  returned: always
  type: str
  sample: llama3.2:1b
digest:
  description: The manifest digest after the task (empty when absent).
  returned: always
  type: str
previous_digest:
  description: The manifest digest before the task (empty when it was absent).
  returned: always
  type: str
size:
  description: The model's size in bytes (0 when absent).
  returned: always
  type: int
transferred:
  description: Bytes fetched from the registry by this task (0 when nothing was pulled).
  returned: always
  type: int
attempts:
  description: Pull attempts made (0 when no pull was needed).
  returned: always
  type: int
"""

import json
import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.homeforge.homelab.plugins.module_utils.ollama import (
    ModelNameError,
    PullError,
    PullProgress,
    find,
    parse_name,
    short_name,
    write_origin,
)

try:
    import httpx
except ImportError:
    httpx = None
    HTTPX_ERROR = traceback.format_exc()
else:
    HTTPX_ERROR = None


class Unreachable(Exception):
    pass


def _tags(client, url):
    try:
        response = client.get(url + "/api/tags", timeout=30)
        response.raise_for_status()
        return response.json().get("models") or []
    except (httpx.HTTPError, ValueError) as exc:
        raise Unreachable(f"Ollama at {url} did not answer /api/tags: {exc}") from None


def _write_progress(path, name, progress, attempt):
    if not path:
        return
    data = dict(progress.snapshot(), model=name, attempt=attempt, updated=time.time())
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _pull_once(client, params, deadline, attempt):
    progress = PullProgress()
    last = 0.0
    body = {"model": params["name"], "stream": True, "insecure": params["insecure"]}
    read = max(5.0, min(300.0, deadline - time.monotonic()))
    with client.stream(
        "POST", params["url"] + "/api/pull", json=body, timeout=httpx.Timeout(30.0, read=read)
    ) as response:
        if response.status_code != 200:
            try:
                message = json.loads(response.read()).get("error")
            except ValueError:
                message = None
            raise PullError(message or f"HTTP {response.status_code}")
        for line in response.iter_lines():
            progress.feed(line)
            if time.monotonic() - last > 0.5:
                last = time.monotonic()
                _write_progress(params["progress_file"], params["name"], progress, attempt)
            if time.monotonic() > deadline:
                raise PullError(f"timed out after {params['timeout']}s")
    _write_progress(params["progress_file"], params["name"], progress, attempt)
    if not progress.done:
        raise PullError(f"the pull stream ended at '{progress.status}' without success")
    return progress


def _pull(module, client):
    params = module.params
    deadline = time.monotonic() + params["timeout"]
    transferred, attempt, errors = 0, 0, []
    while True:
        attempt += 1
        try:
            progress = _pull_once(client, params, deadline, attempt)
            return transferred + progress.transferred, attempt
        except (PullError, httpx.HTTPError) as exc:
            errors.append(str(exc) or type(exc).__name__)
        if "timed out" in errors[-1] or attempt > params["retries"]:
            break
        pause = min(2**attempt, 30)
        if time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    module.fail_json(
        msg=f"pulling {params['name']} failed after {attempt} attempt(s): {errors[-1]}",
        errors=errors,
        attempts=attempt,
    )


def run(module):
    params = module.params
    try:
        name = short_name(params["name"])
    except ModelNameError as exc:
        module.fail_json(msg=str(exc))
    params["url"] = params["url"].rstrip("/")
    if params["timeout"] < 1 or params["retries"] < 0:
        module.fail_json(msg="timeout must be at least 1 second and retries at least 0")
    result = {"name": name, "changed": False, "transferred": 0, "attempts": 0}
    with httpx.Client() as client:
        try:
            before = find(_tags(client, params["url"]), name)
        except Unreachable as exc:
            module.fail_json(msg=str(exc), **result)
        result["previous_digest"] = before["digest"] if before else ""
        if params["state"] == "absent":
            if before and not module.check_mode:
                response = client.request(
                    "DELETE", params["url"] + "/api/delete", json={"model": name}, timeout=60
                )
                if response.status_code not in (200, 404):
                    module.fail_json(msg=f"deleting {name}: HTTP {response.status_code}", **result)
            result.update(changed=bool(before), digest="", size=0)
            if before and not module.check_mode and params["origin_file"]:
                write_origin(params["origin_file"], name, "", "", "")
            return result
        if before and not params["update"]:
            result.update(digest=before["digest"], size=int(before.get("size") or 0))
            return result
        if module.check_mode:
            result.update(changed=not before, digest=result["previous_digest"], size=0)
            return result
        result["transferred"], result["attempts"] = _pull(module, client)
        after = find(_tags(client, params["url"]), name)
    if after is None:
        module.fail_json(msg=f"{name}: pull reported success but Ollama does not list it", **result)
    result.update(
        digest=after["digest"],
        size=int(after.get("size") or 0),
        changed=after["digest"] != result["previous_digest"],
    )
    if result["changed"] and params["origin_file"]:
        registry = parse_name(params["name"])[0]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_origin(params["origin_file"], name, after["digest"], f"pulled from {registry}", stamp)
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "update": {"type": "bool", "default": False},
            "url": {"type": "str", "default": "http://127.0.0.1:11434"},
            "timeout": {"type": "int", "default": 3600},
            "retries": {"type": "int", "default": 3},
            "insecure": {"type": "bool", "default": False},
            "progress_file": {"type": "path", "default": ""},
            "origin_file": {"type": "path", "default": "/var/lib/homeforge/ollama/origins.json"},
        },
        supports_check_mode=True,
    )
    if httpx is None:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_ERROR)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
