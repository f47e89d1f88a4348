"""The cutover's declaration, bad input, journal, lock and on-host operations (no lab needed)."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
import yaml
from click.testing import CliRunner

from homeforge import cutover, inventory
from homeforge.cli import main
from homeforge.cutover import declaration as services
from homeforge.remote import BOOTSTRAP, envops, meshops, probeops, program_text

SERVICE = {
    "port": 11434,
    "health": "/api/tags",
    "hosts": {
        "gpu-a": {"legacy": "http://192.168.0.110:11435"},
        "gpu-b": "http://192.168.0.110:11436",
    },
    "consumers": [
        {
            "host": "api-1",
            "env_file": "/etc/api/ollama.env",
            "restart": "api.service",
            "variables": {
                "OLLAMA_URL": "gpu-a",
                "OLLAMA_SECONDARY_URL": {"host": "gpu-b", "suffix": "/v1"},
            },
        },
        {"host": "api-1", "systemd": "worker.service", "variables": {"OLLAMA_URL": "gpu-b"}},
        {"host": "k3s-1", "deployment": "prod/api", "variables": {"OLLAMA_URL": "gpu-a"}},
    ],
}


@pytest.fixture
def inv_dir(tmp_path):
    """An inventory directory; declare() writes group_vars/all.yml."""
    root = tmp_path / "inv"
    (root / "group_vars").mkdir(parents=True)
    hosts = {"gpu-a": "10.0.0.21", "gpu-b": "10.0.0.22", "api-1": "10.0.0.31", "k3s-1": "10.0.0.41"}
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"hosts": {h: {"ansible_host": a} for h, a in hosts.items()}}})
    )
    return root


def declare(root, body):
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump({"homeforge_services": body}))


def run(*args):
    return CliRunner().invoke(main, list(args))


# --------------------------------------------------------------------------- declaration


def test_a_full_declaration_parses(inv_dir, inventory_problems):
    declare(inv_dir, {"ollama": SERVICE})
    assert inventory_problems(inv_dir) == []
    service = services.get(inventory.load(inv_dir), "ollama")
    assert service.port == 11434 and service.health_path == "/api/tags" and service.probes == 5
    assert service.exposure.mode == "firewall"
    assert service.hosts == {
        "gpu-a": "http://192.168.0.110:11435",
        "gpu-b": "http://192.168.0.110:11436",
    }
    env, unit, deploy = service.consumers
    assert (env.kind, env.target, env.after) == (
        "env_file",
        "/etc/api/ollama.env",
        ("restart", "api.service"),
    )
    assert {(v.name, v.host, v.suffix) for v in env.variables} == {
        ("OLLAMA_URL", "gpu-a", ""),
        ("OLLAMA_SECONDARY_URL", "gpu-b", "/v1"),
    }
    assert (unit.kind, deploy.kind, deploy.target) == ("systemd", "deployment", "prod/api")
    assert service.mesh_url("10.77.0.5", "/v1") == "http://10.77.0.5:11434/v1"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s["consumers"][0]["variables"].update(OLLAMA_URL="gpu-c"),
            "ollama.consumers[0].variables.OLLAMA_URL: points at 'gpu-c', which does not serve ollama (serving: gpu-a, gpu-b)",
        ),
        (
            lambda s: s["consumers"][1].update(host="nowhere"),
            "ollama.consumers[1].host: no host 'nowhere' in",
        ),
        (lambda s: s["hosts"].update({"gpu-z": {}}), "ollama.hosts.gpu-z: no host 'gpu-z' in"),
        (lambda s: s.update(port=70000), "ollama.port: must be a TCP port 1-65535, not 70000"),
        (
            lambda s: s["consumers"][1].update(env_file="/etc/x.env"),
            "ollama.consumers[1]: give exactly one of env_file, systemd, deployment",
        ),
        (
            lambda s: s["consumers"][1].update(restart="worker.service"),
            "ollama.consumers[1].restart: only for env_file consumers",
        ),
        (
            lambda s: s.update(exposure="open"),
            "ollama.exposure.mode: must be one of firewall, bind, none",
        ),
        (
            lambda s: s.update(exposure={"mode": "bind", "variable": "OLLAMA_HOST"}),
            "ollama.exposure.unit: bind needs the service's systemd unit",
        ),
        (
            lambda s: s["hosts"].update({"gpu-a": {"legacy": "192.168.0.110:11435"}}),
            "ollama.hosts.gpu-a.legacy: must be a URL",
        ),
        (
            lambda s: s["consumers"].append(
                {"host": "api-1", "systemd": "worker.service", "variables": {"OLLAMA_URL": "gpu-a"}}
            ),
            "ollama.consumers[3].variables.OLLAMA_URL: already set by ollama.consumers[1].variables.OLLAMA_URL",
        ),
        (
            lambda s: s["consumers"][0].update(env_file="etc/api.env"),
            "ollama.consumers[0].env_file: must be an absolute path",
        ),
        (lambda s: s.update(health={"path": "api/tags"}), "ollama.health.path: must start with /"),
        (lambda s: s.update(probes=0), "ollama.probes: must be a whole number 1-1000"),
        (lambda s: s.update(consumers=[]), "ollama.consumers: must be a non-empty list"),
        (
            lambda s: s["consumers"][2].update(deployment="api"),
            "ollama.consumers[2].deployment: must be NAMESPACE/NAME",
        ),
    ],
)
def test_bad_declarations_name_the_file_and_key(inv_dir, change, expected, inventory_problems):
    body = json.loads(json.dumps(SERVICE))
    change(body)
    declare(inv_dir, {"ollama": body})
    found = inventory_problems(inv_dir)
    where = f"{inv_dir / 'group_vars' / 'all.yml'}: homeforge_services."
    assert any(p.startswith(where) and expected in p for p in found), found


def test_a_consumer_outside_the_mesh_is_reported(inv_dir, inventory_problems):
    (inv_dir / "groups.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {"mesh": {"hosts": {"gpu-a": None, "gpu-b": None, "k3s-1": None}}}
                }
            }
        )
    )
    (inv_dir / "group_vars" / "all.yml").write_text(
        yaml.safe_dump({"homeforge_services": {"ollama": SERVICE}, "wireguard_group": "mesh"})
    )
    found = inventory_problems(inv_dir)
    assert any("ollama.consumers[0].host: host 'api-1' is not in the mesh" in p for p in found), (
        found
    )


def test_inventory_check_cli_reports_a_consumer_pointing_nowhere(inv_dir):
    body = json.loads(json.dumps(SERVICE))
    body["consumers"][0]["variables"]["OLLAMA_URL"] = "api-1"
    declare(inv_dir, {"ollama": body})
    out = run("inventory", "check", "-i", str(inv_dir))
    assert out.exit_code == 2
    assert "points at 'api-1', which does not serve ollama" in out.output


def test_cutover_of_an_unknown_service_is_bad_input(inv_dir, isolated_state):
    declare(inv_dir, {"ollama": SERVICE})
    out = run("mesh", "cutover", "olama", "-i", str(inv_dir))
    assert out.exit_code == 2
    assert (
        f"{inv_dir / 'group_vars' / 'all.yml'}: homeforge_services: no service 'olama' (declared: ollama)"
        in out.output
    )
    assert not (isolated_state / "cutover" / "olama.json").exists()


def test_services_lists_declarations_and_their_cutover_state(inv_dir, isolated_state):
    declare(inv_dir, {"ollama": SERVICE})
    out = run("mesh", "services", "-i", str(inv_dir), "--json")
    assert out.exit_code == 0
    (row,) = json.loads(out.output)["services"]
    assert row["state"] == "legacy (never cut over)" and row["exposure"] == "firewall"
    assert row["consumers"][0] == "api-1 env_file /etc/api/ollama.env"
    journal = cutover.Journal.new("ollama", inv_dir)
    journal.set_phase("cut-over")
    (row,) = json.loads(run("mesh", "services", "-i", str(inv_dir), "--json").output)["services"]
    assert row["state"] == "cut-over" and row["journal"].endswith("ollama.json")


def test_rollback_with_no_journal_is_bad_input(inv_dir, isolated_state):
    declare(inv_dir, {"ollama": SERVICE})
    out = run("mesh", "rollback", "ollama", "-i", str(inv_dir))
    assert out.exit_code == 2
    assert "no cutover journal for ollama, so nothing to roll back" in out.output


def test_a_journal_of_another_inventory_is_refused(inv_dir, isolated_state, tmp_path):
    declare(inv_dir, {"ollama": SERVICE})
    # journals live per inventory; one copied over from another inventory is still refused
    journal = cutover.Journal.new("ollama", inv_dir)
    journal.data["inventory"] = str(tmp_path / "other-inventory")
    journal.save()
    out = run("mesh", "rollback", "ollama", "-i", str(inv_dir))
    assert out.exit_code == 2 and "belongs to inventory" in out.output


# --------------------------------------------------------------------------- journal and lock


def test_journal_keeps_the_first_previous_value_and_is_private(isolated_state, tmp_path):
    journal = cutover.Journal.new("svc", tmp_path)
    journal.intend("consumer:a", "a", "consumer", {"values": {"URL": "legacy"}}, {"URL": "mesh"})
    # a resumed run reads the consumer again, already switched: the journal keeps "legacy"
    entry = journal.intend(
        "consumer:a", "a", "consumer", {"values": {"URL": "mesh"}}, {"URL": "mesh"}
    )
    assert entry["previous"] == {"values": {"URL": "legacy"}} and entry["state"] == "intent"
    journal.mark(entry, "applied")
    loaded = cutover.Journal.load("svc", tmp_path)
    assert loaded.data["changes"][0]["state"] == "applied"
    assert stat.S_IMODE(os.stat(loaded.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(loaded.path.parent).st_mode) == 0o700


def test_lock_refuses_a_second_holder_and_says_who_holds_it(isolated_state, tmp_path):
    with (
        cutover.exclusive("cutover", "svc", tmp_path),
        pytest.raises(cutover.Busy, match=rf"pid {os.getpid()}: cutover svc since"),
        cutover.exclusive("rollback", "svc", tmp_path),
    ):
        pass
    with cutover.exclusive("rollback", "svc", tmp_path):  # released
        pass


def test_a_corrupt_journal_is_reported_not_guessed(isolated_state, tmp_path):
    path = cutover.Journal.path_for("svc", tmp_path)
    path.write_text("{not json")
    with pytest.raises(cutover.BadInput, match="unreadable cutover journal"):
        cutover.Journal.load("svc", tmp_path)


# --------------------------------------------------------------------------- on-host operations


def test_env_file_edit_keeps_other_lines_mode_and_is_idempotent(tmp_path):
    path = tmp_path / "app.env"
    path.write_text('# settings\nexport URL="http://old:1"\nTOKEN=abc\nURL=dup\n')
    os.chmod(path, 0o640)
    assert envops.env_read(str(path), ["URL", "MISSING"]) == {
        "exists": True,
        "values": {"URL": "dup", "MISSING": None},
    }
    assert envops.env_write(str(path), {"URL": "http://new:2/v1", "EXTRA": "a b"})["changed"]
    assert path.read_text() == '# settings\nexport URL=http://new:2/v1\nTOKEN=abc\nEXTRA="a b"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert envops.env_write(str(path), {"URL": "http://new:2/v1", "EXTRA": "a b"}) == {
        "changed": False
    }
    assert envops.env_read(str(path), ["EXTRA"])["values"] == {"EXTRA": "a b"}
    assert envops.env_write(str(path), {"EXTRA": None})["changed"]
    assert "EXTRA" not in path.read_text()
    assert not [
        p for p in os.listdir(tmp_path) if p.startswith(".homeforge-")
    ]  # no temp files left


def test_env_file_that_does_not_exist_is_not_created_by_the_switch(tmp_path):
    with pytest.raises(envops.OpError, match="no such file"):
        envops.env_write(str(tmp_path / "missing.env"), {"URL": "x"})


def test_dropin_text_round_trips_values():
    text = envops._dropin_text({"URL": 'http://x:1/"q"', "B": "2"})
    assert text.splitlines()[1] == "[Service]"
    assert envops._dropin_values(text) == {"URL": 'http://x:1/"q"', "B": "2"}


def test_peer_for_picks_the_most_specific_network():
    peers = [
        {"allowed_ips": ["10.77.0.1/32"], "handshake": 1},
        {"allowed_ips": ["10.77.0.0/24"], "handshake": 2},  # a relay
    ]
    assert meshops._peer_for(peers, "10.77.0.1")["handshake"] == 1
    assert meshops._peer_for(peers, "10.77.0.9")["handshake"] == 2
    assert meshops._peer_for(peers, "10.78.0.1") is None


@pytest.fixture
def http_server(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "tags").write_text("{}")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_probe_needs_consecutive_successes_and_reports_failures(http_server):
    result = probeops.probe(
        [http_server + "/api/tags", http_server + "/missing"], count=3, interval=0
    )["urls"]
    good, bad = result[http_server + "/api/tags"], result[http_server + "/missing"]
    assert good["ok"] and good["consecutive"] == 3 and good["tries"] == 3
    assert not bad["ok"] and bad["error"] == "HTTP 404" and bad["tries"] == 6
    only_404 = probeops.probe([http_server + "/missing"], expect=[404], count=2, interval=0)["urls"]
    assert only_404[http_server + "/missing"]["ok"]


def test_operations_run_as_a_host_runs_them(tmp_path):
    """python3 -c BOOTSTRAP with the request and the program on stdin: one JSON line back,
    and nothing of the request in the command line (where ps and sudo's log see it)."""
    path = tmp_path / "a.env"
    path.write_text("URL=x\n")
    source = program_text(envops)

    def host_run(request: dict) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-I", "-S", "-c", BOOTSTRAP]  # the standard library only
        assert str(tmp_path) not in " ".join(argv)
        stdin = json.dumps(request) + "\n" + source
        return subprocess.run(argv, input=stdin, capture_output=True, text=True)

    done = host_run({"op": "env_read", "args": {"path": str(path), "names": ["URL"]}})
    assert json.loads(done.stdout) == {
        "ok": True,
        "result": {"exists": True, "values": {"URL": "x"}},
    }
    bad = {
        "op": "env_write",
        "args": {"path": str(tmp_path / "no" / "b.env"), "values": {"U": "1"}},
    }
    done = host_run(bad)
    assert done.returncode == 1 and json.loads(done.stdout)["ok"] is False
    assert "no such file" in json.loads(done.stdout)["error"]


def test_host_operations_are_typed_functions_checked_before_sending(tmp_path):
    from homeforge.remote import Remote

    remote = Remote(inventory.Inventory(tmp_path, {}, {}))  # never connects: refused before
    with pytest.raises(TypeError, match="not a host operation"):
        remote.call("h", print, x=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        remote.call("h", envops.env_read, path="/x", names=[], bogus=1)
