"""Regression tests for the hardening review: every inventory value that reaches a
config file, a unit, an env file or a command line is refused by one rule, both by
``homeforge inventory check`` and at the point of use; odd inventories give one line
and exit 2, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from homeforge import inventory
from homeforge.cli import main
from homeforge.cutover.model import Consumer, Service, Variable
from homeforge.cutover.targets import EnvFileConsumer, StepFailed, checked_mesh_address
from homeforge.inventory import checks
from homeforge.remote import hostops
from homeforge.wireguard.planner import load_mesh_utils

INJECTION = "vpn.example.org\n[Interface]\nPostUp = touch /x"


def check_cli(path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


# --------------------------------------------------------------------------- inventory check


CASES = {
    # name: (hosts.yml, text every problem line must hold)
    "endpoint with a newline (wg.conf injection)": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_endpoint": INJECTION}, "h2": {}},
        "host h1: wireguard_endpoint:",
    ),
    "host name with shell characters, ansible_host set": (
        {"h1;rm": {"ansible_host": "192.0.2.1"}},
        "host h1;rm: inventory host name:",
    ),
    "host name with a space": (
        {"h 1": {"ansible_host": "192.0.2.1"}},
        "host h 1: inventory host name",
    ),
    "interface that would print the private key": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_interface": "wg0 private-key #"}},
        "host h1: wireguard_interface:",
    ),
    "interface as a mapping": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_interface": {"a": 1}}},
        "host h1: wireguard_interface: must be a single str",
    ),
    "templated CIDR resolving to a command": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_mesh_cidr": "{{ '10.77.0.0/24' }} $(cmd)"}},
        "host h1: wireguard_mesh_cidr: '10.77.0.0/24 $(cmd)' is not a valid CIDR",
    ),
    "port as a list": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_port": [1, 2]}},
        "wireguard_port:",
    ),
    "port as text": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_port": "abc"}},
        "wireguard_port:",
    ),
    "keepalive with a unit": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_persistent_keepalive": "25s"}},
        "wireguard_persistent_keepalive:",
    ),
    "facts as a string": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_facts": "hello"}},
        "wireguard_facts:",
    ),
    "group as a list": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_group": ["a"]}},
        "wireguard_group:",
    ),
    "key file as a list": (
        {"h1": {"ansible_host": "192.0.2.1", "ansible_ssh_private_key_file": ["a", "b"]}},
        "ansible_ssh_private_key_file: must be a single string",
    ),
    "a string where a list belongs": (
        {"h1": {"ansible_host": "192.0.2.1", "wireguard_extra_allowed_ips": "10.9.0.0/24"}},
        "wireguard_extra_allowed_ips: must be a list",
    ),
}


@pytest.mark.parametrize("hosts, expected", list(CASES.values()), ids=list(CASES))
def test_bad_values_are_one_line_each_and_exit_2(write, hosts, expected):
    path = write("hosts.yml", yaml.safe_dump({"all": {"hosts": hosts}}))
    code, output = check_cli(path)
    assert code == 2, output
    assert expected in output, output
    lines = [
        line for line in output.splitlines() if line.startswith("hosts.yml:") or str(path) in line
    ]
    assert lines and all(": host " in line for line in lines), output


def test_templated_port_is_resolved_not_a_traceback(write):
    path = write(
        "hosts.yml",
        "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, wireguard_port: '{{ 51820 + 1 }}'}\n",
    )
    assert check_cli(path)[0] == 0
    assert inventory.load(path).hostvars["h1"]["wireguard_port"] == 51821


def test_a_template_needing_facts_is_left_to_run_time(write):
    path = write(
        "hosts.yml",
        "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, wireguard_endpoint: '{{ ansible_default_ipv4.address }}'}\n",
    )
    assert check_cli(path)[0] == 0


FILES = {
    "binary inventory": (
        "hosts.yml",
        b"all:\n  hosts:\n    h\xff\xfe1: {}\n",
        "hosts.yml:3: not UTF-8 text",
    ),
    "NUL bytes": ("hosts.yml", b"all:\x00\n", "binary file"),
    "latin-1 group_vars": (
        "group_vars/all.yml",
        b"common_x: caf\xe9\n",
        "all.yml:1: not UTF-8 text",
    ),
    "group_vars as a list": (
        "group_vars/all.yml",
        b"- a\n- b\n",
        "all.yml: must be a mapping of variables, not list",
    ),
    "duplicate host": (
        "hosts.yml",
        b"all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n    h1: {ansible_host: 192.0.2.2}\n",
        "hosts.yml:4:5: malformed YAML: key 'h1' is given twice (first on line 3)",
    ),
    "duplicate variable": (
        "group_vars/all.yml",
        b"wireguard_port: 1\nwireguard_port: 2\n",
        "key 'wireguard_port' is given twice",
    ),
    "alias bomb": (
        "group_vars/all.yml",
        (
            "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
            + "".join(
                f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
                for p, n in zip("abcdef", "bcdefg", strict=True)
            )
        ).encode(),
        "an alias bomb?",
    ),
}


@pytest.mark.parametrize("name, content, expected", list(FILES.values()), ids=list(FILES))
def test_bad_files_are_one_line_and_exit_2(tmp_path, name, content, expected):
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1}\n")
    (root / name).write_bytes(content)
    code, output = check_cli(root / "hosts.yml")
    assert code == 2, output
    assert expected in output, output
    assert len(output.strip().splitlines()) == 1, output


def test_merge_keys_are_not_duplicates(write):
    path = write(
        "hosts.yml",
        """
        all:
          vars:
            base: &base {common_extra_packages: [htop], x: 1}
          hosts:
            h1: {<<: *base, ansible_host: 192.0.2.1, x: 2}
        """,
    )
    assert check_cli(path)[0] == 0
    assert inventory.load(path).hostvars["h1"]["x"] == 2


def test_ini_booleans_follow_ansible(write):
    path = write(
        "hosts.ini",
        "[all]\nh1 ansible_host=192.0.2.1 wireguard_reachable=false wireguard_relay=h2\n"
        "h2 ansible_host=192.0.2.2 wireguard_reachable=yes\n",
    )
    inv = inventory.load(path)
    assert checks.check(inv) == []
    mesh = load_mesh_utils()
    hosts = {h.name: h for h in mesh.hosts_from_vars(["h1", "h2"], inv.hostvars)}
    assert hosts["h1"].reachable is False and hosts["h2"].reachable is True
    plan = mesh.plan("10.77.0.0/24", list(hosts.values()), need_keys=False)
    assert [p["name"] for p in plan["h1"]["peers"]] == ["h2"]  # through its relay only


def test_ini_boolean_that_is_not_one_is_reported(write):
    path = write("hosts.ini", "[all]\nh1 ansible_host=192.0.2.1 wireguard_reachable=maybe\n")
    code, output = check_cli(path)
    assert code == 2 and "host h1: wireguard_reachable:" in output


# --------------------------------------------------------------------------- point of use


def test_the_mesh_plan_refuses_an_injected_endpoint_even_without_the_check():
    mesh = load_mesh_utils()
    hostvars = {"h1": {"wireguard_endpoint": INJECTION}, "h2": {"ansible_host": "192.0.2.2"}}
    with pytest.raises(mesh.MeshError, match="h1: wireguard_endpoint"):
        mesh.plan("10.77.0.0/24", mesh.hosts_from_vars(["h1", "h2"], hostvars), need_keys=False)
    with pytest.raises(mesh.MeshError, match="inventory host name"):
        mesh.plan("10.77.0.0/24", mesh.hosts_from_vars(["a\nb", "h2"], {}), need_keys=False)


def test_env_values_are_quoted_so_sh_runs_nothing(tmp_path):
    env = tmp_path / "app.env"
    env.write_text("KEEP=1\n")
    value = 'http://10.77.0.2:11434/x`touch /tmp/pwn`$(id)$HOME"\\'
    hostops.env_write(str(env), {"URL": value})
    sourced = subprocess.run(
        ["sh", "-c", f'. "{env}"; printf %s "$URL"'], capture_output=True, text=True, check=True
    )
    assert sourced.stdout == value
    assert hostops.env_read(str(env), ["URL"])["values"]["URL"] == value
    with pytest.raises(hostops.OpError, match="control character"):
        hostops.env_write(str(env), {"URL": "a\nEVIL=1"})
    assert "EVIL" not in env.read_text()


def test_dropin_escapes_percent_and_refuses_newlines():
    text = hostops._dropin_text({"URL": "http://h:1/a%2Fb"})
    assert 'Environment="URL=http://h:1/a%%2Fb"' in text
    assert hostops._dropin_values(text)["URL"] == "http://h:1/a%2Fb"
    with pytest.raises(hostops.OpError):
        hostops._dropin_text({"URL": "x\nExecStartPre=/bin/touch /x"})


def test_a_symlinked_env_file_stays_a_symlink(tmp_path):
    real = tmp_path / "real.env"
    real.write_text("A=1\n")
    link = tmp_path / "app.env"
    link.symlink_to(real)
    hostops.env_write(str(link), {"A": "2"})
    assert link.is_symlink() and real.read_text() == "A=2\n"


@pytest.mark.parametrize("unit", ["-Hroot@host.service", "a b.service", "x.service\n", "nosuffix"])
def test_unit_names_that_systemctl_could_misread_are_refused_on_the_host(unit):
    with pytest.raises(hostops.OpError, match="not a systemd unit name"):
        hostops.unit_action(unit)


def test_a_deployment_variable_from_value_from_or_set_twice_is_refused(tmp_path):
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "env": [
                                {
                                    "name": "A",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                                },
                                {"name": "B", "value": "1"},
                                {"name": "B", "value": "2"},
                            ],
                        }
                    ]
                }
            }
        }
    }
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(deployment)}\nEOF\n")
    kubectl.chmod(0o755)
    with pytest.raises(hostops.OpError, match="sets A through valueFrom"):
        hostops.deployment_read(str(kubectl), "prod", "api", ["A"])
    with pytest.raises(hostops.OpError, match="sets B twice"):
        hostops.deployment_read(str(kubectl), "prod", "api", ["B"])


class _Remote:
    def __init__(self, changed: bool):
        self.changed = changed
        self.calls: list[str] = []

    def call(self, host, fn, **kwargs):
        self.calls.append(fn.__name__)
        return {"changed": self.changed}


@pytest.mark.parametrize("settle, restarted", [(False, False), (True, True)])
def test_a_consumer_left_at_intent_is_restarted_even_when_its_file_is_already_switched(
    settle, restarted
):
    consumer = Consumer("api-1", "env_file", "/etc/api.env", [Variable("URL", "gpu-a")])
    consumer.after = ("restart", "api.service")
    ctx = type("Ctx", (), {"remote": _Remote(changed=False)})()
    EnvFileConsumer(ctx, consumer).write({"URL": "http://10.77.0.2:1"}, settle=settle)
    assert ("unit_action" in ctx.remote.calls) is restarted


def test_a_mesh_address_outside_the_mesh_stops_preflight():
    assert checked_mesh_address("gpu-a", "10.77.0.5", "10.77.0.0/24") == "10.77.0.5"
    for bad in ("192.168.1.5", "10.77.0.5\nX=1", None, "fe80::1"):
        with pytest.raises(StepFailed, match="not in the mesh"):
            checked_mesh_address("gpu-a", bad, "10.77.0.0/24")
    assert Service("s", 1, {}, []).mesh_url("fd00::5") == "http://[fd00::5]:1"


# --------------------------------------------------------------------------- the services declaration

BASE = {
    "port": 11434,
    "hosts": {"gpu-a": {"legacy": "http://192.168.0.110:11435"}},
    "consumers": [
        {"host": "api-1", "env_file": "/etc/api/ollama.env", "variables": {"U": "gpu-a"}}
    ],
}


def _declared(tmp_path, change) -> list[str]:
    body = json.loads(json.dumps(BASE))
    change(body)
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True)
    hosts = {"gpu-a": "10.0.0.21", "api-1": "10.0.0.31"}
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"hosts": {h: {"ansible_host": a} for h, a in hosts.items()}}})
    )
    (root / "group_vars" / "all.yml").write_text(
        yaml.safe_dump({"homeforge_services": {"ollama": body}})
    )
    return checks.check(inventory.load(root))


def _consumer(**kw):
    def change(body):
        body["consumers"][0].update(kw)

    return change


def _exposure(value):
    def change(body):
        body["exposure"] = {
            "mode": "bind",
            "unit": "ollama.service",
            "variable": "OLLAMA_HOST",
            "value": value,
        }

    return change


DECLARATIONS = {
    "suffix with a newline": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/v1\nExecStartPre=/bin/x"}}),
        "variables.U.suffix",
    ),
    "suffix with a backtick": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/`id`"}}),
        "suffix",
    ),
    "suffix with a percent": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/a%2F"}}),
        "suffix",
    ),
    "suffix with a dollar": (
        _consumer(variables={"U": {"host": "gpu-a", "suffix": "/$HOME"}}),
        "suffix",
    ),
    "bind value with a newline": (_exposure("{address}:{port}\nExecStartPre=/x"), "exposure.value"),
    "bind value with an unknown placeholder": (
        _exposure("{address}:{port}:{x}"),
        "unknown placeholder {x}",
    ),
    "unit starting with a dash": (_consumer(restart="-Hroot@h.service"), "consumers[0].restart"),
    "env file with ..": (_consumer(env_file="/etc/../root/.profile"), "must not contain '..'"),
    "run with a newline": (_consumer(run="systemctl restart api\nrm -rf /"), "must be one line"),
    "legacy URL with a quote": (
        lambda b: b["hosts"].update({"gpu-a": {"legacy": 'http://a:1/"x'}}),
        "hosts.gpu-a.legacy",
    ),
}


@pytest.mark.parametrize("change, expected", list(DECLARATIONS.values()), ids=list(DECLARATIONS))
def test_declaration_values_are_checked_by_the_shared_rules(tmp_path, change, expected):
    found = _declared(tmp_path, change)
    assert any(expected in line and "homeforge_services.ollama" in line for line in found), found


def test_a_good_bind_value_and_suffix_pass(tmp_path):
    def change(body):
        _exposure("[{address}]:{port}")(body)
        body["consumers"][0]["variables"] = {"U": {"host": "gpu-a", "suffix": "/v1/chat?x=1&y=2"}}

    assert _declared(tmp_path, change) == []


# --------------------------------------------------------------------------- state and journal


def test_the_journal_belongs_to_the_inventory_not_the_current_directory(tmp_path, monkeypatch):
    from homeforge import cutover

    monkeypatch.delenv("HOMEFORGE_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    inv = tmp_path / "inv" / "hosts.yml"
    inv.parent.mkdir()
    inv.write_text("all: {}\n")
    paths_seen = set()
    for cwd in (tmp_path, tmp_path / "inv"):
        monkeypatch.chdir(cwd)
        paths_seen.add(cutover.Journal.path_for("svc", inv))
    (path,) = paths_seen
    assert path.is_relative_to(tmp_path / "xdg" / "homeforge" / "cutover")
    with cutover.exclusive("cutover", "svc", inv):
        monkeypatch.chdir(tmp_path)
        other = tmp_path / "inv" / ".." / "inv" / "hosts.yml"
        with pytest.raises(cutover.Busy), cutover.exclusive("cutover", "svc", other):
            pass


def test_a_shared_state_directory_is_not_chmodded(tmp_path, monkeypatch):
    from homeforge import paths

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    paths.private_dir(shared)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    inside = paths.private_dir(shared / "homeforge")
    assert inside.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "data, why",
    [
        ([1, 2], "not a mapping"),
        ({"service": "svc"}, "inventory: missing"),
        (
            {
                "service": "s",
                "inventory": "/i",
                "phase": "cut-over",
                "updated": "t",
                "history": [],
                "changes": [{}],
            },
            "changes[0]",
        ),
        (
            {
                "service": "s",
                "inventory": "/i",
                "phase": "weird",
                "updated": "t",
                "history": [],
                "changes": [],
            },
            "unknown phase",
        ),
    ],
)
def test_a_journal_of_the_wrong_shape_is_one_line_not_a_traceback(tmp_path, data, why):
    from homeforge import cutover

    path = cutover.Journal.path_for("svc", tmp_path)
    path.write_text(json.dumps(data))
    with pytest.raises(cutover.BadInput, match=rf"unreadable cutover journal: .*{re.escape(why)}"):
        cutover.Journal.load("svc", tmp_path)


def test_journal_saves_use_a_fresh_private_temporary_file(tmp_path):
    from homeforge import cutover

    journal = cutover.Journal.new("svc", tmp_path)
    stale = journal.path.parent / "svc.tmp"  # the old fixed name, left world-readable
    stale.write_text("x")
    stale.chmod(0o644)
    journal.save()
    assert journal.path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in journal.path.parent.iterdir()) == ["svc.json", "svc.tmp"]


# --------------------------------------------------------------------------- leases on the hosts


class _Direct:
    """A remote that runs host operations in this process, each host with its own lease
    directory under ``base``."""

    def __init__(self, base):
        self.base = base

    def call(self, host, fn, **kwargs):
        hostops.LEASE_DIR = str(self.base / host)
        return fn(**kwargs)


def _leases(base, force=False, report=None):
    from homeforge.cutover.lease import HostLeases

    return HostLeases(
        _Direct(base),
        "ollama",
        ["gpu-b", "gpu-a"],
        "/inv/hosts.yml",
        "cutover",
        report or print,
        force,
    )


@pytest.fixture
def lease_base(tmp_path, monkeypatch):
    monkeypatch.setattr(hostops, "LEASE_DIR", hostops.LEASE_DIR)  # restored afterwards
    return tmp_path / "hosts"


def test_a_live_lease_keeps_a_second_controller_out(lease_base):
    from homeforge.cutover.journal import Busy

    first = _leases(lease_base)
    first.acquire(None)
    path = lease_base / "gpu-a" / "ollama.json"
    lease = json.loads(path.read_text())
    assert lease["owner"] == first.owner and lease["inventory"] == "/inv/hosts.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    second = _leases(lease_base)
    with pytest.raises(Busy, match=r"being changed elsewhere: gpu-a: cutover by .* held until"):
        second.acquire(None)
    first.release(None)
    second.acquire(None)  # free again
    assert second.taken == ["gpu-a", "gpu-b"]


def test_a_stale_lease_is_reported_and_broken_only_on_request(lease_base):
    from homeforge.cutover.journal import Busy

    _leases(lease_base).acquire(None)  # its controller dies without releasing
    path = lease_base / "gpu-a" / "ollama.json"
    lease = json.loads(path.read_text())
    lease["expires_at"] = 1.0
    path.write_text(json.dumps(lease))
    with pytest.raises(Busy, match=r"stale \(expired .*run again with --break-lease"):
        _leases(lease_base).acquire(None)
    said = []
    breaker = _leases(lease_base, force=True, report=said.append)
    breaker.acquire(None)
    assert said and said[0].startswith("broke the lease: gpu-a: cutover by")
    assert json.loads(path.read_text())["token"] == breaker.token
    breaker.release(None)
    assert not path.exists()


def test_a_refused_lease_releases_the_ones_already_taken(lease_base):
    from homeforge.cutover.journal import Busy

    hostops.LEASE_DIR = str(lease_base / "gpu-b")
    assert hostops.lease_take("ollama", "t-other", "x@y", "/inv", "cutover")["taken"]
    leases = _leases(lease_base)
    with pytest.raises(Busy, match="gpu-b: cutover by x@y"):
        leases.acquire(None)  # gpu-a taken first, then gpu-b refused
    assert leases.taken == [] and not (lease_base / "gpu-a" / "ollama.json").exists()
    assert json.loads((lease_base / "gpu-b" / "ollama.json").read_text())["token"] == "t-other"


def test_rollback_force_restores_verifies_values_and_does_not_fail_on_dead_legacy(tmp_path):
    from homeforge.cutover.journal import Journal
    from homeforge.cutover.rollback import RollbackSteps
    from homeforge.cutover.targets import StepFailed

    consumer = Consumer("api-1", "env_file", "/etc/api.env", [Variable("URL", "gpu-a")])
    events, written, probed = [], {}, []

    class Exposure:
        def write(self, host, state):
            return True

        def describe(self, host, state):
            return "reopened"

    class Stub(RollbackSteps):
        service = Service("ollama", 1, {"gpu-a": "http://192.0.2.1:1"}, [consumer])
        exposure = Exposure()

        def _checkpoint(self):
            pass

        def _event(self, step, status, message, host=""):
            events.append((step, status, message))

        def _switch(self, c, values, step, settle=False):
            written.update(values)

        def _verify_consumer(self, c, expected, step, probe=True):
            assert written == expected
            if probe:
                probed.append(c.host)
                raise StepFailed("legacy endpoint does not answer")

        def _probe_legacy(self, consumers):
            raise StepFailed("legacy endpoint does not answer")

    journal = Journal.new("ollama", tmp_path)
    entry = journal.intend(
        consumer.ident, "api-1", "consumer", {"values": {"URL": "http://192.0.2.1:1"}}, {}
    )
    journal.mark(entry, "applied")
    with pytest.raises(StepFailed):
        Stub()._restore(journal, verify_legacy=True)
    Stub()._restore(journal, verify_legacy=True, force=True)  # no exception: exit 0
    assert written == {"URL": "http://192.0.2.1:1"} and probed == []
    assert ("rollback", "warn", "legacy endpoints not probed (--force)") in events
    assert journal.entry(consumer.ident)["state"] == "restored"


# --------------------------------------------------------------------------- IPv6


class _V6Remote:
    def __init__(self, reply):
        self.reply = reply

    def call(self, host, fn, **kwargs):
        assert fn is hostops.ipv6_exposure
        return self.reply


def _firewall(reply, address="127.0.0.1", port=1):
    from homeforge.cutover.targets import Context, FirewallExposure

    inv = type("Inv", (), {"address": lambda self, host: address})()
    service = Service("svc", port, {"h1": ""}, [])
    return FirewallExposure(Context(inv, _V6Remote(reply), service, "wg0", "10.77.0.0/24"))


def test_ipv6_addresses_without_closing_rules_fail_verify():
    exposure = _firewall({"addresses": ["2001:db8::5"], "ip6tables": False, "active": False})
    with pytest.raises(
        StepFailed, match=r"IPv6 addresses \(2001:db8::5\) but no IPv6 closing rules"
    ):
        exposure.verify("h1")


def test_a_port_answering_on_an_ipv6_address_fails_verify():
    import socket

    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        port = server.getsockname()[1]
        exposure = _firewall({"addresses": ["::1"], "ip6tables": True, "active": True}, port=port)
        with pytest.raises(StepFailed, match=r"::1:\d+ still answers outside the mesh"):
            exposure.verify("h1")
    closed = _firewall({"addresses": ["::1"], "ip6tables": True, "active": True}, port=port)
    assert f"::1:{port} closed" in closed.verify("h1")


# --------------------------------------------------------------------------- testinfra's connection


@pytest.fixture
def ssh_server():
    """An SSH server on loopback (paramiko, server mode) that only shows its host key."""
    import socket
    import threading

    import paramiko

    key = paramiko.ECDSAKey.generate()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(key)
            try:
                transport.start_server(server=paramiko.ServerInterface())
                transport.accept(timeout=5)  # lets the client try (and fail) to log in
            except (paramiko.SSHException, EOFError, OSError):
                pass
            finally:
                transport.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], key
    listener.close()


@pytest.mark.parametrize(
    "known, refused",
    [
        ("changed", "BadHostKeyException"),
        ("unknown", "not found in known_hosts"),
        ("right", None),  # control: the key is accepted, and only login fails after it
    ],
)
def test_testinfra_connection_refuses_a_changed_or_unknown_host_key(
    ssh_server, tmp_path, monkeypatch, known, refused
):
    import paramiko

    from homeforge.verify.backend import HomeforgeBackend

    port, key = ssh_server
    shown = {"changed": paramiko.ECDSAKey.generate(), "right": key}.get(known)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        f"[127.0.0.1]:{port} {key.get_name()} {shown.get_base64()}\n" if shown else ""
    )
    spare = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(spare)], check=True)
    inv = tmp_path / "hosts.yml"
    hostvars = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_ssh_private_key_file": str(spare),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
    }
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"h1": hostvars}}}))
    monkeypatch.setenv("HOMEFORGE_INVENTORY", str(inv))
    with pytest.raises((paramiko.SSHException, OSError)) as failed:
        HomeforgeBackend("h1", timeout=5).client  # noqa: B018 - connecting is the point
    said = f"{type(failed.value).__name__}: {failed.value}"
    if refused:
        assert refused in said
    else:
        assert isinstance(failed.value, paramiko.AuthenticationException), said


def test_a_lease_of_a_dead_run_on_this_controller_is_taken_over_at_once(lease_base):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    first = _leases(lease_base)
    first.owner = first.owner.rsplit(" pid ", 1)[0] + f" pid {dead.pid}"  # killed mid-run
    first.acquire(None)
    said = []
    again = _leases(lease_base, report=said.append)
    again.acquire(None)  # the same controller, the holder's process gone: no waiting
    assert said and "broke the lease" in said[0]
    assert json.loads((lease_base / "gpu-a" / "ollama.json").read_text())["token"] == again.token


# --------------------------------------------------------------------------- the engine


class _Recorder:
    """A remote that records host operations and answers like converged hosts."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def call(self, host, fn, **kwargs):
        self.calls.append((fn.__name__, kwargs))
        if fn is hostops.env_write:
            return {"changed": False}  # the file already holds the mesh value
        return {"changed": True}


def _engine(tmp_path, exposure="none"):
    from homeforge.cutover.engine import Engine
    from homeforge.cutover.model import Exposure
    from homeforge.cutover.targets import Context, consumer_target, exposure_target

    consumer = Consumer("api-1", "env_file", "/etc/api.env", [Variable("URL", "gpu-a")])
    consumer.after = ("restart", "api.service")
    service = Service("svc", 1, {"gpu-a": ""}, [consumer], exposure=Exposure(exposure))
    engine = object.__new__(Engine)  # no inventory, no SSH: the steps alone
    engine.service, engine.remote = service, _Recorder()
    inv = type("Inv", (), {"path": tmp_path / "hosts.yml"})()
    engine.inv = inv
    engine.ctx = Context(inv, engine.remote, service, "wg0", "10.77.0.0/24")
    engine.exposure = exposure_target(engine.ctx)
    engine.targets = {consumer.ident: consumer_target(engine.ctx, consumer)}
    engine.report, engine.leases, engine.journal = (lambda e: None), None, None
    engine._stop = __import__("threading").Event()
    engine._started = 0.0
    engine._verify_consumer = lambda *a, **k: None
    return engine, consumer


def _plan(consumer):
    from homeforge.cutover.model import Plan

    plan = Plan(addresses={"gpu-a": "10.77.0.2"})
    plan.current[consumer.ident] = {"values": {"URL": "http://legacy:1"}}
    plan.desired[consumer.ident] = {"URL": "http://10.77.0.2:1"}
    return plan


def test_resume_restarts_a_consumer_whose_switch_stayed_at_intent(tmp_path):
    from homeforge.cutover.journal import Journal

    engine, consumer = _engine(tmp_path)
    journal = Journal.new("svc", tmp_path / "hosts.yml")
    # the interrupted run: file rewritten, then stopped before the restart
    journal.intend(consumer.ident, "api-1", "consumer", {"values": {"URL": "http://legacy:1"}}, {})
    engine._apply(journal, _plan(consumer))
    assert ("unit_action", {"unit": "api.service", "action": "restart"}) in engine.remote.calls
    assert journal.entry(consumer.ident)["state"] == "applied"
    # a consumer journaled as applied, already switched: nothing to restart
    engine.remote.calls.clear()
    engine._apply(journal, _plan(consumer))
    assert [name for name, _ in engine.remote.calls] == ["env_write"]


def test_exposure_none_changes_and_checks_nothing_on_the_service_hosts(tmp_path):
    from homeforge.cutover.journal import Journal

    engine, consumer = _engine(tmp_path, exposure="none")
    assert engine.exposure.mode == "none" and engine.exposure.read("gpu-a") == {}
    journal = Journal.new("svc", tmp_path / "hosts.yml")
    engine._apply(journal, _plan(consumer))
    assert not [name for name, _ in engine.remote.calls if name.startswith(("firewall", "dropin"))]


# --------------------------------------------------------------------------- Ollama and K3s values


def test_ollama_and_k3s_values_go_through_the_shared_rules(write):
    path = write(
        "hosts.yml",
        yaml.safe_dump(
            {
                "all": {
                    "children": {"server": {"hosts": {"s1": {"ansible_host": "192.0.2.1"}}}},
                    "hosts": {
                        "o1": {
                            "ansible_host": "192.0.2.2",
                            "ollama_host": "0.0.0.0:11434\nExecStartPre=/x",
                            "ollama_models_dir": "/var/lib/../etc",
                            "ollama_user": "Root",
                            "ollama_extra_env": {"BAD NAME": "1", "OK": "a\nb"},
                            "ollama_models": ["llama3.2:1b", "Bad Name"],
                        },
                        "s1": {"k3s_api_endpoint": "10.0.0.1\ntls-san: evil"},
                    },
                }
            }
        ),
    )
    code, output = check_cli(path)
    assert code == 2
    for expected in (
        "host o1: ollama_host:",
        "host o1: ollama_models_dir:",
        "host o1: ollama_user:",
        "host o1: ollama_extra_env: BAD NAME:",
        "host o1: ollama_extra_env: OK: an environment value must be one line",
        "host o1: ollama_models: 'Bad Name' is not a model name",
        "host s1: k3s_api_endpoint:",
    ):
        assert expected in output, (expected, output)


def test_a_secret_of_the_wrong_type_is_reported_without_its_value(write):
    path = write(
        "hosts.yml",
        "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, k3s_token: [hunter2secret]}\n",
    )
    code, output = check_cli(path)
    assert code == 2 and "host h1: k3s_token: must be a str (value not shown" in output
    assert "hunter2secret" not in output
