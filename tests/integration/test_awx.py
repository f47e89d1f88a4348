"""The collection without the CLI, as AWX / AAP runs it: after homeforge has converged a lab,
the collection tarball (`ansible-galaxy collection build`), installed into an empty
collections path, runs `homeforge.homelab.site` and `upgrade` with plain ansible-playbook
from a directory outside the checkout and changes nothing; a hostile inventory value
makes their first play fail with the lines `homeforge inventory check` prints, before
any other play starts.

The lab is this module's own: the session lab belongs to test_lab_converge.py, which
needs its hosts new at its start and takes the lab down at its end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import start_lab

NAME = "hf-awx"
SUBNET = "10.254.91.0/24"
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOSTILE = "wg0; reboot"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    env = start_lab(tmp_path_factory, NAME, 2, SUBNET)
    done = env.hf("apply", "site", "-i", str(env.inventory))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    yield env
    env.hf("lab", "down", "--name", NAME)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict[str, str]:
    """The environment of a job: the built tarball installed into an empty collections
    path, no ansible.cfg, no homeforge or Ansible settings from this process (the other
    collections the roles call come with the `ansible` package, as they come with an EE)."""
    dist = tmp_path_factory.mktemp("awx-dist")
    collections = tmp_path_factory.mktemp("awx-collections")
    config = dist / "empty-ansible.cfg"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "HOMEFORGE_"))}
    env |= {
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    build = [BIN / "ansible-galaxy", "collection", "build", "--output-path", dist, ROOT]
    subprocess.run(build, check=True, capture_output=True, env=env)
    (tarball,) = dist.glob("homeforge-homelab-*.tar.gz")
    install = [BIN / "ansible-galaxy", "collection", "install", "-p", collections, tarball]
    subprocess.run(install, check=True, capture_output=True, env=env)
    # the installed copy, not the checkout (.homeforge/collections links to it)
    doc = subprocess.run(
        [BIN / "ansible-doc", "--json", "homeforge.homelab.inventory_check"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    where = json.loads(doc.stdout)["homeforge.homelab.inventory_check"]["doc"]["filename"]
    assert Path(where).is_relative_to(collections) and not Path(where).is_relative_to(ROOT)
    return env


def ansible_playbook(env: dict[str, str], inventory: Path, playbook: str, cwd: Path):
    """(exit status, the json callback's report) of one plain ansible-playbook run."""
    done = subprocess.run(
        [BIN / "ansible-playbook", "-i", inventory, f"homeforge.homelab.{playbook}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )
    assert done.stdout.lstrip().startswith("{"), done.stdout[-3000:] + done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


def check_task(report: dict) -> dict:
    first = report["plays"][0]
    assert first["play"]["name"] == "Inventory checks"
    (task,) = first["tasks"]
    (result,) = task["hosts"].values()  # once, on the first host
    return result


@pytest.mark.parametrize("playbook", ["site", "upgrade"])
def test_the_installed_collection_changes_nothing_after_homeforge(lab, plain, playbook, tmp_path):
    rc, report = ansible_playbook(plain, lab.inventory, playbook, tmp_path)
    assert rc == 0, json.dumps(report)[-3000:]
    check = check_task(report)
    assert not check.get("failed") and not check.get("skipped")
    assert check["msg"].startswith(f"{lab.inventory.resolve()}: ok (2 hosts")
    stats = report["stats"]
    assert {h: s["changed"] for h, s in stats.items()} == {h: 0 for h in stats}
    assert all(s["failures"] == 0 and s["unreachable"] == 0 for s in stats.values())
    if playbook == "site":  # every host converged; upgrade has no K3s node on this lab
        assert set(stats) == {"lab-1", "lab-2"}
        assert len(report["plays"]) > 1


@pytest.mark.parametrize("playbook", ["site", "upgrade", "reset"])
def test_a_hostile_value_is_refused_with_the_lines_of_inventory_check(
    lab, plain, playbook, tmp_path
):
    data = yaml.safe_load(lab.inventory.read_text())
    data["all"]["hosts"]["lab-1"]["wireguard_interface"] = HOSTILE
    bad = tmp_path / "bad" / "inventory.yml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(data, sort_keys=False))

    cli = lab.hf("inventory", "check", "-i", str(bad), "--json")
    assert cli.returncode == 2
    expected = json.loads(cli.stdout)["problems"]
    assert expected[0].startswith(f"{bad.resolve()}: host lab-1: wireguard_interface: '{HOSTILE}'")

    work = tmp_path / "work"
    work.mkdir()
    rc, report = ansible_playbook(plain, bad, playbook, work)
    check = check_task(report)
    assert rc == 2 and check["failed"]
    assert check["msg"].splitlines() == expected == check["problems"]
    assert len(report["plays"]) == 1  # nothing after the check play started
    assert all(s["changed"] == 0 for s in report["stats"].values())
