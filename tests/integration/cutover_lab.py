"""A three-host lab for the cutover: lab-1 and lab-2 serve a small HTTP service, lab-3 consumes it.

Used by tests/integration/test_cutover.py and bench/cutover.py. The inventory is
a directory: the lab's own inventory.yml, groups.yml (svc_hosts, consumers) and
group_vars/all.yml with the ``homeforge_services`` declaration, which a test may
rewrite with :func:`declare`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

APPS = Path(__file__).with_name("apps") / "cutover_apps.yml"
PORT = 18080
SERVICE = "hf-svc"


def legacy(address: str) -> str:
    return f"http://{address}:{PORT}"


def make_inventory(lab_inventory: Path, target: Path) -> Path:
    """An inventory directory around the lab's inventory file."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(lab_inventory, target / "inventory.yml")
    groups = {
        "all": {
            "children": {
                "svc_hosts": {"hosts": {"lab-1": None, "lab-2": None}},
                "consumers": {"hosts": {"lab-3": None}},
            }
        }
    }
    (target / "groups.yml").write_text(yaml.safe_dump(groups))
    return target


def addresses(inventory: Path) -> dict[str, str]:
    data = yaml.safe_load((inventory / "inventory.yml").read_text())
    return {name: hv["ansible_host"] for name, hv in data["all"]["hosts"].items()}


def service(inventory: Path, **overrides) -> dict:
    """The declaration of the test service (two env-file + drop-in consumers on lab-3)."""
    addr = addresses(inventory)
    body = {
        "port": PORT,
        "health": "/api/tags",
        "probes": 5,
        "interval": 0.1,
        "hosts": {
            "lab-1": {"legacy": legacy(addr["lab-1"])},
            "lab-2": {"legacy": legacy(addr["lab-2"])},
        },
        "exposure": "firewall",
        "consumers": [
            {
                "host": "lab-3",
                "env_file": "/etc/hf-consumer/service.env",
                "variables": {"SERVICE_URL": "lab-1", "SERVICE_SECONDARY_URL": "lab-2"},
            },
            {
                "host": "lab-3",
                "systemd": "hf-consumer-sd.service",
                "variables": {"SERVICE_URL": "lab-2"},
            },
        ],
    }
    body.update(overrides)
    return body


def declare(inventory: Path, services: dict) -> None:
    (inventory / "group_vars").mkdir(exist_ok=True)
    (inventory / "group_vars" / "all.yml").write_text(
        yaml.safe_dump(
            {"homeforge_services": services, "wireguard_preshared_keys": True}, sort_keys=False
        )
    )


def consumer_log(container: str, podman, name: str = "hf-consumer") -> list[dict]:
    out = podman("exec", container, "cat", f"/var/log/{name}.jsonl").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def run_json(done: subprocess.CompletedProcess) -> tuple[list[dict], dict | None]:
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines if "event" in line]
    summary = next((line["summary"] for line in lines if "summary" in line), None)
    return events, summary
