"""``homeforge verify``: run each role's testinfra suite against the hosts that carry it.

Which roles a host carries comes from the playbook (``site`` by default): a
host matched by a play's ``hosts`` carries that play's roles. Tests connect through
the remote layer (:mod:`homeforge.verify.backend`): the inventory's credentials
and known_hosts, unknown or changed host keys refused (the trust Ansible uses). One pytest process per
host, in parallel; the per-host JUnit files are merged into one.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from homeforge import paths, vault
from homeforge.errors import BadInput
from homeforge.inventory import Inventory
from homeforge.remote.ssh import host_key_problem


@dataclass
class Check:
    name: str
    role: str
    outcome: str  # passed, failed, error, skipped
    message: str = ""
    # "stand-in: K3s, ..." when the software the check looks at is one of the project's
    # stand-ins (verify/subjects.py); "" when it is the real program.
    subject: str = ""

    @property
    def shown(self) -> str:
        """The outcome as shown: "passed (stand-in)" for a stand-in's."""
        return f"{self.outcome} (stand-in)" if self.subject else self.outcome


@dataclass
class HostReport:
    host: str
    address: str
    roles: list[str]
    checks: list[Check] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and bool(self.checks)
            and all(c.outcome in ("passed", "skipped") for c in self.checks)
        )


def _plays(playbook: Path) -> list[dict]:
    plays = []
    for entry in yaml.safe_load(playbook.read_text()) or []:
        imported = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
        if imported:
            plays += _plays((playbook.parent / imported).resolve())
        else:
            plays.append(entry)
    return plays


def _role_name(entry) -> str:
    name = entry if isinstance(entry, str) else (entry.get("role") or entry.get("name"))
    return str(name).split(".")[-1]


def roles_by_host(inv: Inventory, playbook: Path, hosts: list[str]) -> dict[str, list[str]]:
    carried: dict[str, list[str]] = {h: [] for h in hosts}
    for play in _plays(playbook):
        pattern = play.get("hosts", "all")
        pattern = ",".join(pattern) if isinstance(pattern, list) else str(pattern)
        matched = {h.name for h in inv._manager.get_hosts(pattern)} if inv._manager else set()
        for role in (_role_name(r) for r in play.get("roles", [])):
            for host in hosts:
                if host in matched and role not in carried[host]:
                    carried[host].append(role)
    return carried


def suite_files(role: str) -> list[Path]:
    return sorted((paths.role_dir(role) / "tests").glob("test_*.py"))


def _host_url(host: str) -> str:
    """testinfra's host spec: the remote layer's connection (see verify/backend.py)."""
    return f"homeforge://{host}?timeout=20"


def _check_name(testcase: ET.Element, host: str = "") -> str:
    name = testcase.get("name", "?")
    params = re.search(r"\[(.*)\]$", name)
    base = name[: params.start()] if params else name
    if params:
        # drop testinfra's host parameter, keep the test's own parameters
        inner = params.group(1)
        ours = f"homeforge://{host}"
        if host and inner.startswith(ours):
            inner = inner[len(ours) :].removeprefix("-")
        elif "://" in inner:
            inner = re.sub(r"^[a-z]+://[^-]*-?", "", inner)
        return f"{base}[{inner}]" if inner else base
    return base


def _parse_junit(xml_file: Path, host: str = "") -> list[Check]:
    checks = []
    for case in ET.parse(xml_file).getroot().iter("testcase"):
        role = Path(case.get("file") or case.get("classname", "").replace(".", "/")).parts
        role_name = (
            role[1]
            if len(role) > 1 and role[0] == "roles"
            else (case.get("classname", "").split(".")[-1])
        )
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (
                    (node.get("message") or node.text or "").strip().splitlines()[0][:200]
                    if (node.get("message") or node.text)
                    else ""
                )
                break
        subject = next(
            (p.get("value", "") for p in case.iter("property") if p.get("name") == "subject"), ""
        )
        checks.append(
            Check(
                _check_name(case, host), role_name.replace("test_", ""), outcome, message, subject
            )
        )
    return checks


def run(
    inv: Inventory, hosts: list[str], playbook: Path, out_dir: Path, workers: int = 8
) -> list[HostReport]:
    carried = roles_by_host(inv, playbook, hosts)
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(host: str) -> HostReport:
        report = HostReport(host, inv.address(host), carried[host])
        files = [f for role in carried[host] for f in suite_files(role)]
        if not files:
            report.error = f"no testinfra suite for roles {carried[host] or '(none)'}"
            return report
        problem = host_key_problem(inv, host)
        if problem:
            report.error = problem
            return report
        xml = out_dir / f"{host}.xml"
        env = {**os.environ, "HOMEFORGE_INVENTORY": str(inv.path), "HOMEFORGE_VERIFY_HOST": host}
        if vault_file:  # the suites read the inventory as Ansible does: with the vault
            env[vault.ENV] = vault_file
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *map(str, files),
            "--hosts",
            _host_url(host),
            f"--junitxml={xml}",
            "-o",
            "junit_family=xunit1",
            "-p",
            "no:cacheprovider",
            "-p",
            "homeforge.verify.subjects",
            "-q",
            "--rootdir",
            str(paths.content_root()),
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=paths.content_root()
        )
        if xml.is_file():
            report.checks = _parse_junit(xml, host)
        if not report.checks:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            report.error = f"pytest ran no checks ({shlex.join(cmd[:3])} ...): {tail[0]}"
        return report

    private = paths.private_dir(paths.state_dir())
    workers = max(1, min(workers, len(hosts)))
    with vault.password_file(inv.vault, private) as vault_file, ThreadPoolExecutor(workers) as pool:
        reports = list(pool.map(one, hosts))
    merge_junit(reports, out_dir)
    return reports


def merge_junit(reports: list[HostReport], out_dir: Path) -> Path:
    root = ET.Element("testsuites", name="homeforge verify")
    for report in reports:
        xml = out_dir / f"{report.host}.xml"
        if xml.is_file():
            for suite in ET.parse(xml).getroot().iter("testsuite"):
                suite.set("name", report.host)
                root.append(suite)
        else:
            suite = ET.SubElement(root, "testsuite", name=report.host, tests="1", errors="1")
            case = ET.SubElement(suite, "testcase", name="connect", classname=report.host)
            ET.SubElement(case, "error", message=report.error or "not run")
    target = out_dir / "junit.xml"
    ET.ElementTree(root).write(target, encoding="unicode", xml_declaration=True)
    return target


def default_out_dir() -> Path:
    return paths.state_dir() / "verify" / datetime.now().strftime("%Y%m%d-%H%M%S")


def require_inventory_hosts(inv: Inventory, limit: str | None) -> list[str]:
    hosts = inv.select(limit)
    if not hosts:
        raise BadInput(f"{inv.path}: no hosts to verify")
    return hosts


def as_json(reports: list[HostReport], junit: Path) -> dict:
    return {
        "ok": all(r.ok for r in reports),
        "junit": str(junit),
        "hosts": [
            {
                "host": r.host,
                "address": r.address,
                "roles": r.roles,
                "error": r.error,
                "checks": [{**vars(c), "shown": c.shown} for c in r.checks],
            }
            for r in reports
        ],
    }
