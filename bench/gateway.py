"""The AI gateway's overhead: the same chat request to the Ollama stand-in directly and
through LiteLLM's proxy with homeforge's hooks (key check, model list, rate limiter,
usage record), at concurrency 1 and 16, on this machine.

LiteLLM is installed from the same hash-pinned wheelhouse the ai_gateway role copies to
a gateway host (roles/ai_gateway/files/wheelhouse.py and install_wheelhouse.py), into
.homeforge/bench/; its configuration is the role's (plugins/module_utils/gateway.py).

    .venv/bin/python bench/gateway.py [--requests 400] [--write bench/out/gateway.md]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import yaml
from benchlib import ROOT, publish

from homeforge import module_utils

ROLE = ROOT / "roles" / "ai_gateway"
STANDIN = ROOT / "tests" / "standins" / "ollama"
WORK = ROOT / ".homeforge" / "bench" / "gateway"
VERSION = "1.108.7"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url}: no answer after {timeout} s") from None
            time.sleep(0.2)


def _litellm() -> Path:
    """LiteLLM's environment, from the role's wheelhouse (built once)."""
    venv = WORK / f"litellm-{VERSION}"
    if (venv / ".homeforge-complete").exists():
        return venv
    python = ".".join(str(part) for part in sys.version_info[:3])
    wheels = WORK / "wheelhouse"
    subprocess.run(
        [
            sys.executable,
            str(ROLE / "files" / "wheelhouse.py"),
            "--requirements",
            str(ROLE / "files" / f"requirements-{VERSION}.txt"),
            "--out",
            str(wheels),
            "--python",
            python,
            "--machine",
            platform.machine(),
        ],
        check=True,
    )
    subprocess.run(
        [
            sys.executable,
            str(ROLE / "files" / "install_wheelhouse.py"),
            "--wheelhouse",
            str(wheels / "wheelhouse.tar"),
            "--venv",
            str(venv),
        ],
        check=True,
    )
    return venv


def _start(argv: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (lives with the process)
    return subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=out, stderr=out)


def _ollama(work: Path) -> tuple[str, list[subprocess.Popen]]:
    registry, port = _port(), _port()
    subprocess.run(
        [
            sys.executable,
            str(STANDIN),
            "make-model",
            "--root",
            str(work / "registry"),
            "--name",
            "library/tiny:1b",
            "--size",
            "1000",
        ],
        check=True,
        capture_output=True,
    )
    procs = [
        _start(
            [
                sys.executable,
                str(STANDIN),
                "registry",
                "--root",
                str(work / "registry"),
                "--listen",
                f"127.0.0.1:{registry}",
            ]
        ),
        _start(
            [sys.executable, str(STANDIN), "serve"],
            {
                "OLLAMA_HOST": f"127.0.0.1:{port}",
                "OLLAMA_MODELS": str(work / "models"),
                "OLLAMA_STANDIN_REGISTRY": f"http://127.0.0.1:{registry}",
            },
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/api/version")
    _wait(f"http://127.0.0.1:{registry}/v2/")
    urllib.request.urlopen(url + "/api/pull", json.dumps({"model": "tiny:1b"}).encode()).read()
    return f"127.0.0.1:{port}", procs


def _gateway(work: Path, venv: Path, ollama: str, key: str) -> tuple[str, subprocess.Popen]:
    module_utils.load("validation")
    module_utils.load("ollama")
    gw = module_utils.load("gateway")
    hosts = {"here": {"ollama_models": ["tiny:1b"], "ollama_host": ollama, "mesh_address": ""}}
    consumer = [{"name": "bench", "models": ["tiny:1b"], "rpm": 10**6, "tpm": 10**9}]
    etc = work / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "config.yaml").write_text(yaml.safe_dump(gw.proxy_config(hosts, "here", {})))
    shutil.copy(ROLE / "files" / "homeforge_gateway.py", etc)
    (etc / "consumers.json").write_text(json.dumps(gw.consumers_file(consumer)))
    digest = hashlib.sha256(key.encode()).hexdigest()
    (etc / "keys.json").write_text(
        json.dumps({"keys": {"bench": {"sha256": digest, "issued_at": 0}}})
    )
    port = _port()
    proc = _start(
        [
            str(venv / "bin" / "litellm"),
            "--config",
            str(etc / "config.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        {
            "LITELLM_MASTER_KEY": "sk-" + secrets.token_hex(24),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "HOMEFORGE_GATEWAY_KEYS": str(etc / "keys.json"),
            "HOMEFORGE_GATEWAY_CONSUMERS": str(etc / "consumers.json"),
            "HOMEFORGE_GATEWAY_USAGE": str(work / "usage.jsonl"),
        },
        work / "litellm.log",
    )
    _wait(f"http://127.0.0.1:{port}/health/liveliness")
    return f"127.0.0.1:{port}", proc


def _load(address: str, path: str, body: dict, headers: dict, total: int, workers: int) -> dict:
    """``total`` requests from ``workers`` threads, each on one kept-alive connection."""
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    data = json.dumps(body).encode()
    host, port = address.split(":")

    def work(count: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for _ in range(count):
            started = time.perf_counter()
            conn.request("POST", path, data, {"Content-Type": "application/json", **headers})
            answer = conn.getresponse()
            answer.read()
            took = time.perf_counter() - started
            with lock:
                times.append(took)
                errors[0] += answer.status != 200
        conn.close()

    threads = [threading.Thread(target=work, args=(total // workers,)) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        "rps": len(ordered) / wall,
        "errors": errors[0],
    }


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    work = WORK / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    venv = _litellm()
    key = "sk-hf-" + secrets.token_urlsafe(32)
    ollama, procs = _ollama(work)
    gateway, proxy = _gateway(work, venv, ollama, key)
    procs.append(proxy)
    try:
        messages = [{"role": "user", "content": "hello world"}]
        direct = ("/api/chat", {"model": "tiny:1b", "stream": False, "messages": messages}, {})
        through = (
            "/v1/chat/completions",
            {"model": "tiny:1b", "messages": messages},
            {"Authorization": "Bearer " + key},
        )
        _load(gateway, *through, 40, 4)  # warm-up (imports, connection pools)
        rows = []
        for workers in (1, 16):
            total = max(args.requests, workers * 10) // workers * workers
            a = _load(ollama, *direct, total, workers)
            b = _load(gateway, *through, total, workers)
            rows.append((workers, total, a, b))
        rss = _rss_mib(proxy.pid)
    finally:
        for proc in procs:
            proc.terminate()
    lines = [
        f"## AI gateway overhead ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, LiteLLM {VERSION}"
        " (one worker), the Ollama stand-in on loopback (a canned answer, no model).",
        "The same non-streamed chat request: to Ollama's /api/chat directly, and through the"
        " gateway's /v1/chat/completions with a consumer key (hooks: key, model list, rate"
        " limiter, usage record). Each thread keeps one connection.",
        "",
        "| concurrency | requests | direct median | direct p99 | gateway median | gateway p99 |"
        " added median | direct req/s | gateway req/s | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workers, total, a, b in rows:
        lines.append(
            f"| {workers} | {total} | {a['median_ms']:.2f} ms | {a['p99_ms']:.2f} ms | "
            f"{b['median_ms']:.2f} ms | {b['p99_ms']:.2f} ms | "
            f"{b['median_ms'] - a['median_ms']:.2f} ms | {a['rps']:.0f} | {b['rps']:.0f} | "
            f"{a['errors'] + b['errors']} |"
        )
    lines += ["", f"Gateway memory after the runs: {rss:.0f} MiB resident (VmRSS)."]
    publish("\n".join(lines) + "\n", args.write)


if __name__ == "__main__":
    main()
