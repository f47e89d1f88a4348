"""The homelab of `homeforge lab up --cluster` (what `make demo` runs), one lab for the
storage, ingress and gateway layers:

- lab-1 is a K3s server and the cluster's NFS server (NFS-Ganesha, for real), lab-2 and
  lab-3 agents, the Traefik ingress layer with a homelab CA. NFS is exercised for real
  across hosts over the WireGuard mesh; the Kubernetes side runs against the K3s
  STAND-IN, which lists what K3s would apply and runs no controller.
- The AI gateway: the real LiteLLM proxy (PyPI, installed from the controller's
  wheelhouse with no package index on the host) on lab-1, in front of the Ollama hosts
  (the Ollama STAND-IN: release, registry, /api/chat). The gateway tests' consumers and
  a second host serving the model are in the inventory from the first converge on
  (`_with_gateway_consumers`); they ask from lab-2 over the WireGuard mesh. Keys are issued with `homeforge gateway keys`, limits are LiteLLM's own
  rate limiter fed by homeforge's hooks; the answers are the stand-in's.

The tests run in this file's order (the gateway's change the lab); the last one converges
the whole lab again, and in check mode, and finds nothing to change."""

from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest
import yaml

from tests.integration.conftest import LabEnv, start_lab

NAME = "hf-homelab"
SUBNET = "10.254.94.0/24"
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


def on(env, host: str, *argv: str) -> subprocess.CompletedProcess:
    return env.podman("exec", f"{NAME}-{host.split('-')[1]}", *argv)


def _with_gateway_consumers(lab: LabEnv) -> LabEnv:
    """The lab's inventory plus the gateway tests' consumers, and lab-2 serving the model
    too (its Ollama on every address, so the gateway reaches it over the mesh): group_vars
    and host_vars beside a copy of the lab's inventory file."""
    inventory = lab.state / "gateway-inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    (inventory / "inventory.yml").write_text(lab.inventory.read_text())
    groups = yaml.safe_load(lab.inventory.read_text())["all"]["children"]
    consumers = groups["ai_gateway"]["vars"]["ai_gateway_consumers"] + CONSUMERS
    (inventory / "host_vars" / "lab-2.yml").write_text(
        yaml.safe_dump({"ollama_host": "0.0.0.0:11434", "ollama_models": ["tiny:1b"]})
    )
    (inventory / "group_vars" / "ai_gateway.yml").write_text(
        yaml.safe_dump({"ai_gateway_consumers": consumers, "ai_gateway_cooldown_seconds": 5})
    )
    return LabEnv(lab.state, inventory / "inventory.yml")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    env = _with_gateway_consumers(start_lab(tmp_path_factory, NAME, 3, SUBNET, "--cluster"))
    # check mode on hosts that have nothing yet: it predicts, it does not fail
    check = env.hf("apply", "site", "-i", str(env.inventory), "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    done = env.hf("apply", "site", "-i", str(env.inventory))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    # the clients' user-space NFS tools (containers have no kernel NFS client): test setup
    for host in ("lab-2", "lab-3"):
        installed = on(env, host, "apt-get", "install", "-y", "-q", "libnfs-utils")
        assert installed.returncode == 0, installed.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


def _mesh_address(env, host: str) -> str:
    out = on(env, host, "ip", "-4", "-o", "addr", "show", "wg0").stdout
    return out.split()[3].split("/")[0]


def test_a_file_written_through_nfs_over_the_mesh_on_one_host_is_read_on_another(lab):
    server = _mesh_address(lab, "lab-1")
    name = f"written-by-lab-2-{secrets.token_hex(6)}"
    url = f"nfs://{server}/k8s/{name}?version=4"
    text = f"models live here {secrets.token_hex(8)}"
    assert on(lab, "lab-2", "sh", "-c", f"printf '%s' '{text}' > /tmp/{name}").returncode == 0
    copied = on(lab, "lab-2", "nfs-cp", f"/tmp/{name}", url)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    read = on(lab, "lab-3", "nfs-cat", url)
    assert read.returncode == 0 and read.stdout == text, read.stderr
    # on the server's disk, in the export's directory (a volume, not the overlay root)
    assert on(lab, "lab-1", "cat", f"/srv/nfs/k8s/{name}").stdout == text


def test_the_export_is_for_the_mesh_only_by_default(lab):
    """nfs_server_clients defaults to the mesh CIDR: the same export asked for through
    lab-1's LAN address (the podman network) is refused."""
    lan = on(lab, "lab-1", "hostname", "-I").stdout.split()
    lan_address = next(a for a in lan if a.startswith("10.254.94."))
    refused = on(lab, "lab-2", "nfs-ls", f"nfs://{lan_address}/k8s?version=4")
    assert refused.returncode != 0
    assert (
        on(lab, "lab-2", "nfs-ls", f"nfs://{_mesh_address(lab, 'lab-1')}/k8s?version=4").returncode
        == 0
    )


def test_every_role_suite_passes(lab):
    done = lab.hf("verify", "-i", str(lab.inventory))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    for role in ("nfs_server", "nfs_provisioner", "ingress_traefik"):
        assert role in done.stdout


def test_cluster_status_shows_the_default_class_and_the_https_endpoint(lab):
    done = lab.hf("cluster", "status", "-i", str(lab.inventory), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.splitlines()[-1])["cluster"]
    classes = {c["name"]: c for c in found["storage_classes"]}
    assert classes["nfs"]["default"] and classes["nfs"]["provisioner"] == "nfs.csi.k8s.io"
    assert not classes["local-path"]["default"]  # one default class
    # the AI gateway is published (a key per consumer), Ollama's own API is not
    [gateway] = [e for e in found["endpoints"] if "ai.lab.internal" in e["hosts"]]
    assert gateway["kind"] == "IngressRoute" and gateway["issuer"].startswith("ClusterIssuer/")
    assert gateway["expires"] == ""  # the stand-in issues no certificate: shown as not issued yet
    assert not [e for e in found["endpoints"] if "ollama" in " ".join(e["hosts"])]
    mesh = _mesh_address(lab, "lab-1")
    slices = on(
        lab, "lab-1", "cat", "/var/lib/rancher/k3s/server/manifests/homeforge-ingress-routes.yaml"
    )
    routed = [d for d in yaml.safe_load_all(slices.stdout) if d and d["kind"] == "EndpointSlice"]
    assert [s["endpoints"][0]["addresses"] for s in routed] == [
        [mesh]
    ]  # the gateway host's mesh address
    table = lab.hf("cluster", "status", "-i", str(lab.inventory))
    assert "Storage classes" in table.stdout and "not issued yet" in table.stdout


def test_the_homelab_ca_is_on_the_controller_and_its_key_is_not(lab):
    exported = list(lab.inventory.parent.glob(".homeforge/ingress-ca.crt"))
    assert len(exported) == 1
    text = subprocess.run(
        ["openssl", "x509", "-in", str(exported[0]), "-noout", "-text"],
        capture_output=True,
        text=True,
    ).stdout
    assert "CA:TRUE" in text
    key = on(lab, "lab-1", "cat", "/etc/homeforge/ingress-ca/ca.key").stdout
    assert "PRIVATE KEY" in key
    assert (
        on(lab, "lab-1", "stat", "-c", "%a", "/etc/homeforge/ingress-ca/ca.key").stdout.strip()
        == "600"
    )
    body = max(key.splitlines(), key=len)  # the key's longest base64 line
    leaked = [
        p for p in lab.state.rglob("*") if p.is_file() and body in p.read_text(errors="ignore")
    ]
    assert leaked == []  # not in runs, artifacts, facts or logs on the controller


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
def gw(lab):
    """The homelab as the gateway tests use it (its inventory has their consumers, and
    lab-2 serving the model too): the gateway's mesh address, the keys they issue."""
    lab.gateway = _mesh_address(lab, "lab-1")
    lab.keys = {}
    return lab


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


# A drift per layer: (host, how, the item the probe names, a command that passes once
# repaired, the role whose converge repairs it). lab-1 holds NFS, the ingress and the gateway; lab-2 serves the model too and
# is an agent; lab-3 is the GPU host.
DELETE_MODEL = (
    "import json, urllib.request; urllib.request.urlopen(urllib.request.Request("
    "'http://127.0.0.1:11434/api/delete', json.dumps({'model': 'tiny:1b'}).encode(),"
    " {'Content-Type': 'application/json'}, method='DELETE'))"
)
HAS_MODEL = (
    "import json, sys, urllib.request; tags = json.load(urllib.request.urlopen("
    "'http://127.0.0.1:11434/api/tags')); sys.exit(0 if any(m['name'] == 'tiny:1b'"
    " for m in tags['models']) else 1)"
)


def _appended(host: str, path: str, role: str) -> tuple:
    """A line added by hand to a file ``role`` writes."""
    return (
        host,
        ["sh", "-c", f"echo '# edited by hand' >> {path}"],
        f"file {path}",
        ["sh", "-c", f"! grep -q 'edited by hand' {path}"],
        role,
    )


MANIFEST = "/var/lib/rancher/k3s/server/manifests/homeforge-ingress-routes.yaml"
LAYER_DRIFTS = {
    "nfs": _appended("lab-1", "/etc/ganesha/ganesha.conf", "nfs_server"),
    "ingress": (
        "lab-1",
        ["rm", MANIFEST],
        f"file {MANIFEST}",
        ["test", "-s", MANIFEST],
        "ingress_traefik",
    ),
    "gateway": _appended("lab-1", "/etc/homeforge-gateway/config.yaml", "ai_gateway"),
    "ollama": _appended("lab-2", "/etc/systemd/system/ollama.service", "ollama"),
}
NODE_DRIFTS = {
    "k3s": _appended("lab-2", "/etc/rancher/k3s/config.yaml", "k3s_agent"),
    "nvidia": _appended(
        "lab-3", "/etc/apt/sources.list.d/homeforge-nvidia-driver.list", "nvidia_driver"
    ),
}


def _fast(env, *args):
    done = env.hf("apply", "site", "-i", str(env.inventory), "--json", *args)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    probes = {e["host"]: e for e in lines if e.get("event") == "probe"}
    return done, lines[-1]["summary"] if lines else {}, probes


def _drifts_converge(env, drifts: dict, outcomes: dict[str, str]) -> None:
    """Make every drift, apply: the probe names each item, exactly the hosts in
    ``outcomes`` converge and only the roles of what drifted run there (with the roles
    sharing an item with them; never the base layer), every item comes back, and the next
    apply finds every host stamped and unchanged."""
    for host, drift, _item, repaired, _role in drifts.values():
        assert on(env, host, *drift).returncode == 0, drift
        assert on(env, host, *repaired).returncode != 0, drift
    done, result, probes = _fast(env)
    assert done.returncode == 0 and result["ok"], done.stdout[-3000:] + done.stderr
    seen = {h: (p["outcome"], p.get("detail", "")) for h, p in probes.items()}
    assert result["outcomes"] == outcomes, (seen, result.get("reasons"))
    assert result["targeted"] == sorted(h for h, o in outcomes.items() if o == "converged")
    for layer, (host, _drift, item, repaired, role) in drifts.items():
        assert probes[host]["outcome"] == "drift", (layer, probes[host])
        assert item in probes[host]["detail"], (layer, probes[host])
        assert on(env, host, *repaired).returncode == 0, layer
        assert role in result["roles"][host] and "common" not in result["roles"][host], (
            layer,
            result["roles"],
        )
    done, result, _ = _fast(env)
    assert done.returncode == 0 and set(result["outcomes"].values()) == {"unchanged (probe)"}, (
        result
    )


def test_a_drift_in_each_layer_converges_only_its_hosts_and_repairs_it(gw):
    """The NFS server's config, the ingress's manifest and the gateway's config on lab-1,
    a model on lab-2: the apply converges those two hosts, not lab-3, and brings every
    item back (the gateway answers again)."""
    done, _, _ = _fast(gw)  # every host stamped by the fast path first (keys were issued)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    converged = {"lab-1": "converged", "lab-2": "converged", "lab-3": "unchanged (probe)"}
    _drifts_converge(gw, LAYER_DRIFTS, converged)
    [answer] = ask(gw, gw.keys["app"])
    assert answer["status"] == 200, answer


def test_a_shared_model_deleted_on_one_host_is_seeded_back_from_another(gw):
    """lab-1 and lab-2 both want tiny:1b, so the converge brings it, not the role: deleted
    on lab-2, the next apply finds every host's stamp unchanged, lists the models and
    seeds it back from lab-1 (no Ansible run); the apply after finds nothing to do."""
    assert on(gw, "lab-2", "python3", "-c", DELETE_MODEL).returncode == 0
    assert on(gw, "lab-2", "python3", "-c", HAS_MODEL).returncode != 0
    done, result, probes = _fast(gw)
    assert done.returncode == 0 and result["ok"], done.stdout[-3000:] + done.stderr
    assert {h: p["outcome"] for h, p in probes.items()} == dict.fromkeys(
        ("lab-1", "lab-2", "lab-3"), "unchanged"
    )
    assert result["outcomes"]["lab-2"] == "converged" and result["artifacts"] is None
    assert result["reasons"]["lab-2"] == "model tiny:1b was missing"
    [seeded] = result["models"]
    assert (seeded["source"], seeded["seeded"], seeded["pulled"]) == ("lab-1", ["lab-2"], False)
    assert on(gw, "lab-2", "python3", "-c", HAS_MODEL).returncode == 0
    done, result, _ = _fast(gw)
    assert result["models"] == [] and set(result["outcomes"].values()) == {"unchanged (probe)"}


def test_a_drift_in_the_cluster_and_gpu_layers_converges_only_those_nodes(gw):
    """The agent's K3s configuration and the GPU host's driver source: lab-2 and lab-3
    converge, lab-1 (the server) does not; both come back and are stamped."""
    converged = {"lab-1": "unchanged (probe)", "lab-2": "converged", "lab-3": "converged"}
    _drifts_converge(gw, NODE_DRIFTS, converged)


# --full: the roles run again (the fast path would leave every host out). Last: the whole
# lab, with the gateway tests' consumers and second model host.
@pytest.mark.parametrize(
    "mode", [("--full",), ("--check", "--diff", "--full")], ids=["converge", "check"]
)
def test_a_second_converge_and_check_mode_change_nothing(gw, mode):
    done = gw.hf("apply", "site", "-i", str(gw.inventory), *mode, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    hosts = json.loads(done.stdout.splitlines()[-1])["summary"]["hosts"]
    assert {name: h["changed"] for name, h in hosts.items()} == {"lab-1": 0, "lab-2": 0, "lab-3": 0}
