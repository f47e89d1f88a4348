"""The AI gateway on the lab: the real LiteLLM proxy (PyPI, installed from the controller's
wheelhouse with no package index on the host) on lab-1, in front of two Ollama hosts
(the Ollama STAND-IN: release, registry, /api/chat). Consumers ask from lab-2, over the
WireGuard mesh. Keys are issued with `homeforge gateway keys`, limits are LiteLLM's own
rate limiter fed by homeforge's hooks; the answers are the stand-in's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import LabEnv, start_lab

NAME = "hf-gateway"
SUBNET = "10.254.93.0/24"
ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "ollama"
REGISTRY_APP = Path(__file__).with_name("apps") / "ollama_registry.yml"
# "hello world" is 2 stand-in tokens (words) in, and its answer 9 out: 11 a request
TOKENS_PER_ASK = 11
CONSUMERS = [
    {"name": "app", "models": ["tiny:1b"], "rpm": 1000, "tpm": 1_000_000},
    {"name": "limited", "models": ["tiny:1b"], "rpm": 5, "tpm": 1_000_000},
    {"name": "frugal", "models": ["tiny:1b"], "rpm": 1000, "tpm": 40},
    {"name": "gone", "models": ["tiny:1b"], "rpm": 1000, "tpm": 1_000_000},
]
# Run on lab-2: asks the gateway N times (C at once); one JSON line per answer.
CLIENT = r"""
import json, sys, threading, urllib.request, urllib.error
url, key, model, n, c, stream = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
path = sys.argv[7] if len(sys.argv) > 7 else "/v1/chat/completions"
out, lock = [], threading.Lock()
def ask():
    body = json.dumps({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello world"}]}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    req = urllib.request.Request(url + path, body if path != "/v1/models" else None, headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            row = {"status": r.status, "body": r.read().decode()[:4000]}
    except urllib.error.HTTPError as e:
        row = {"status": e.code, "retry_after": e.headers.get("Retry-After"), "body": e.read().decode()[:500]}
    except Exception as e:
        row = {"status": 0, "body": repr(e)}
    with lock:
        out.append(row)
def worker(k):
    for _ in range(k):
        ask()
threads = [threading.Thread(target=worker, args=(n // c + (1 if i < n % c else 0),)) for i in range(c)]
[t.start() for t in threads]
[t.join() for t in threads]
for row in out:
    print(json.dumps(row))
"""


def on(env: LabEnv, host: str, *argv: str) -> subprocess.CompletedProcess:
    return env.podman("exec", f"{NAME}-{host.split('-')[1]}", *argv)


def _mesh_address(env: LabEnv, host: str) -> str:
    return on(env, host, "ip", "-4", "-o", "addr", "show", "wg0").stdout.split()[3].split("/")[0]


def ask(
    env: LabEnv,
    key: str,
    model: str = "tiny:1b",
    n: int = 1,
    c: int = 1,
    stream: bool = False,
    path: str = "",
) -> list[dict]:
    url = f"http://{env.gateway}:4000"
    argv = ["python3", "-c", CLIENT, url, key, model, str(n), str(c), "1" if stream else "0"]
    done = on(env, "lab-2", *argv, *([path] if path else []))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def issue(env: LabEnv, name: str, verb: str = "issue") -> str:
    done = env.hf("gateway", "keys", verb, name, "-i", str(env.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])["key"]["key"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 2, SUBNET)
    release = env.state / "ollama-release"
    subprocess.run([sys.executable, str(STANDIN), "release", "--out", str(release)], check=True)
    inventory = env.state / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    shutil.copy(env.inventory, inventory / "inventory.yml")
    hosts = yaml.safe_load((inventory / "inventory.yml").read_text())["all"]["hosts"]
    groups = {
        "ollama": {"hosts": {"lab-1": None, "lab-2": None}},
        "registry": {"hosts": {"lab-1": None}},
        "ai_gateway": {"hosts": {"lab-1": None}},
    }
    (inventory / "groups.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (inventory / "group_vars" / "ollama.yml").write_text(
        yaml.safe_dump(
            {
                "ollama_artifacts_dir": str(release),
                "ollama_version": "0.12.3-standin",
                "ollama_extra_env": {
                    "OLLAMA_STANDIN_REGISTRY": f"http://{hosts['lab-1']['ansible_host']}:5000"
                },
                "ollama_models": ["tiny:1b"],
            }
        )
    )
    # lab-2's Ollama on every address, so the gateway reaches it over the mesh
    (inventory / "host_vars" / "lab-2.yml").write_text(
        yaml.safe_dump({"ollama_host": "0.0.0.0:11434"})
    )
    (inventory / "group_vars" / "ai_gateway.yml").write_text(
        yaml.safe_dump({"ai_gateway_consumers": CONSUMERS, "ai_gateway_cooldown_seconds": 5})
    )
    env.inventory = inventory
    for playbook in (str(REGISTRY_APP), "site"):
        done = env.hf("apply", playbook, "-i", str(inventory), "-e", "registry_model_size=1000000")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    env.gateway = _mesh_address(env, "lab-1")
    env.keys = {}
    yield env
    env.hf("lab", "down", "--name", NAME)


def test_a_consumer_key_gets_answers_plain_and_streamed(gw):
    gw.keys["app"] = key = issue(gw, "app")
    [plain] = ask(gw, key)
    assert plain["status"] == 200, plain
    answer = json.loads(plain["body"])
    assert answer["choices"][0]["message"]["content"].startswith("stand-in answer")
    assert answer["usage"]["total_tokens"] == TOKENS_PER_ASK
    [streamed] = ask(gw, key, stream=True)
    assert streamed["status"] == 200
    events = [line[6:] for line in streamed["body"].splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and len(events) > 3
    text = "".join(
        (json.loads(e)["choices"][0]["delta"].get("content") or "")
        for e in events[:-1]
        if json.loads(e)["choices"]
    )
    assert text.startswith("stand-in answer")
    [models] = ask(gw, key, path="/v1/models")
    assert [m["id"] for m in json.loads(models["body"])["data"]] == ["tiny:1b"]


def test_no_key_a_wrong_key_and_a_revoked_key_get_401_a_revocation_within_seconds(gw):
    assert ask(gw, "")[0]["status"] == 401
    assert ask(gw, "sk-hf-" + "x" * 43)[0]["status"] == 401
    key = issue(gw, "gone")
    assert ask(gw, key)[0]["status"] == 200
    done = gw.hf("gateway", "keys", "revoke", "gone", "-i", str(gw.inventory))
    assert done.returncode == 0 and "key revoked" in done.stdout
    revoked_at = time.monotonic()
    assert ask(gw, key)[0]["status"] == 401  # the next request, no restart
    assert time.monotonic() - revoked_at < 5
    fresh = issue(gw, "gone")  # a new key for the same consumer works, the old one stays out
    assert ask(gw, fresh)[0]["status"] == 200 and ask(gw, key)[0]["status"] == 401


def test_a_model_outside_the_list_and_a_management_route_get_403(gw):
    refused = ask(gw, gw.keys["app"], model="big:7b")[0]
    assert refused["status"] == 403 and "not allowed" in refused["body"]
    assert ask(gw, gw.keys["app"], path="/key/generate")[0]["status"] == 403


def test_the_requests_per_minute_hold_at_the_declared_number(gw):
    key = issue(gw, "limited")
    statuses = [row["status"] for row in ask(gw, key, n=8)]
    assert statuses == [200] * 5 + [429] * 3  # rpm 5: not before, not after
    refused = ask(gw, key)[0]
    assert refused["status"] == 429 and int(refused["retry_after"]) > 0


def test_the_tokens_per_minute_hold_at_the_declared_number(gw):
    key = issue(gw, "frugal")
    statuses = [row["status"] for row in ask(gw, key, n=6)]
    answered = statuses.count(200)
    assert statuses == [200] * answered + [429] * (6 - answered)
    # tpm 40 at 11 tokens a request: refused once the next would pass the limit, at most
    # one request after it was passed
    assert (answered + 1) * TOKENS_PER_ASK > 40 and (answered - 1) * TOKENS_PER_ASK < 40


def test_with_one_ollama_host_stopped_under_load_no_request_fails(gw):
    key = gw.keys["app"]
    load = subprocess.Popen(
        [
            "podman",
            "exec",
            f"{NAME}-2",
            "python3",
            "-c",
            CLIENT,
            f"http://{gw.gateway}:4000",
            key,
            "tiny:1b",
            "400",
            "4",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    try:
        assert on(gw, "lab-2", "systemctl", "stop", "ollama.service").returncode == 0
        assert load.poll() is None, "the load ended before lab-2's Ollama stopped"
        out, _ = load.communicate(timeout=180)
        rows = [json.loads(line) for line in out.splitlines()]
        assert len(rows) == 400
        assert [r for r in rows if r["status"] != 200] == []
        assert [r["status"] for r in ask(gw, key, n=10, c=2)] == [200] * 10  # lab-1 alone
    finally:
        on(gw, "lab-2", "systemctl", "start", "ollama.service")
    # both hosts served this consumer (the router shuffles between them)
    usage = on(gw, "lab-1", "cat", "/var/lib/homeforge-gateway/usage.jsonl").stdout
    served = {json.loads(line).get("deployment") for line in usage.splitlines()}
    assert {"lab-1/tiny:1b", "lab-2/tiny:1b"} <= served


def test_usage_shows_each_consumers_requests_tokens_and_errors(gw):
    done = gw.hf("gateway", "usage", "-i", str(gw.inventory), "--json")
    assert done.returncode == 0, done.stderr
    rows = {
        (r["consumer"], r["model"]): r for r in json.loads(done.stdout.splitlines()[-1])["rows"]
    }
    limited = rows[("limited", "tiny:1b")]
    assert limited["requests"] == 9 and limited["errors"] == 4
    assert limited["tokens_in"] == 5 * 2 and limited["tokens_out"] == 5 * 9
    assert rows[("app", "big:7b")]["errors"] == 1
    assert rows[("app", "tiny:1b")]["p50_ms"] is not None
    listed = gw.hf("gateway", "keys", "list", "-i", str(gw.inventory), "--json")
    consumers = json.loads(listed.stdout.splitlines()[-1])["consumers"]
    assert consumers["gone"]["has_key"] and consumers["limited"]["has_key"]
    assert all(key not in listed.stdout for key in gw.keys.values())


def test_a_second_converge_and_check_mode_change_nothing(gw):
    for mode in (("--full",), ("--check", "--diff", "--full")):
        done = gw.hf("apply", "site", "-i", str(gw.inventory), "--json", *mode)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        hosts = json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]
        assert {h: s["changed"] for h, s in hosts.items()} == {"lab-1": 0, "lab-2": 0}


def test_no_key_reaches_the_controller_the_runs_or_the_logs(gw):
    keys = list(gw.keys.values())
    assert keys
    for path in gw.state.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert not any(k.encode() in data for k in keys), path
    journal = on(gw, "lab-1", "journalctl", "-u", "homeforge-gateway", "--no-pager").stdout
    stored = on(gw, "lab-1", "cat", "/var/lib/homeforge-gateway/keys.json").stdout
    usage = on(gw, "lab-1", "cat", "/var/lib/homeforge-gateway/usage.jsonl").stdout
    for key in keys:
        assert key not in journal and key not in stored and key not in usage
