"""How host programs are sent: one text per program (the prelude, the shared parts it
builds on, then the program), run as a host runs it, with python3's standard library
only. The integration tests send these texts over SSH; here they run on this machine
through :class:`homeforge.remote.Remote` itself, with only its SSH step replaced."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from homeforge.inventory.model import Inventory
from homeforge.remote import (
    BOOTSTRAP,
    PARTS,
    PROGRAMS,
    Completed,
    Remote,
    RemoteError,
    clusterops,
    envops,
    firewallops,
    kubeops,
    leaseops,
    meshops,
    modelops,
    offerops,
    prelude,
    probeops,
    program_text,
    stampops,
)

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "standins" / "ollama"
REL = "manifests/registry.ollama.ai/library/tiny/1b"
# python3 as a host has it: the standard library, nothing of homeforge (-S: no site-packages)
HOST_PYTHON = [sys.executable, "-I", "-S"]
GUARD = '__name__ != "homeforge_program"'


def _texts(program) -> list:
    """The modules whose sources make up ``program``'s text, in order."""
    return [prelude, *PARTS.get(program.__name__, ()), program]


def _is_guard(node: ast.stmt) -> bool:
    guard = ast.dump(ast.parse(GUARD, mode="eval").body)
    return isinstance(node, ast.If) and ast.dump(node.test) == guard


def _defined(source: str) -> set[str]:
    """The names a text binds at its top level, its imports of other modules aside."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _source(module) -> str:
    return Path(module.__file__).read_text()


# --------------------------------------------------------------------------- the texts


def test_the_definition_finder_sees_functions_classes_and_assignments():
    text = "import os\ndef _walk(): pass\nclass OpError: pass\nA, (B, C) = 1, (2, 3)\nD: int = 4\n"
    assert _defined(text) == {"_walk", "OpError", "A", "B", "C", "D"}


def test_the_prelude_holds_the_dispatch_and_the_safe_path_primitives():
    shared = {"BOOTSTRAP", "OpError", "serve", "_run", "_one_line", "_atomic_write", "_read"}
    shared |= {"DIR_FLAGS", "FILE_FLAGS", "_root_only", "_open_root", "_walk", "_open_file"}
    shared |= {"_write_all", "_replace_at"}
    assert shared <= _defined(_source(prelude))
    assert "'__name__':'homeforge_program'" in BOOTSTRAP and prelude.BOOTSTRAP == BOOTSTRAP


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_no_program_or_part_defines_a_name_of_a_text_sent_before_it(name):
    """On a host the texts share one namespace: a later definition would replace the
    prelude's (a serve, an OpError or a _walk of its own) for every text before it too."""
    seen: dict[str, str] = {}
    for module in _texts(PROGRAMS[name]):
        mine = _defined(_source(module))
        again = sorted(n for n in mine if n in seen)
        assert again == [], f"{module.__name__} defines {again} again (from {seen[again[0]]})"
        seen.update(dict.fromkeys(mine, module.__name__))
    assert "OPS" in _defined(_source(PROGRAMS[name]))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_sent_text_is_the_prelude_then_the_parts_then_the_program(name):
    program = PROGRAMS[name]
    assert program_text(program) == "".join(_source(m) for m in _texts(program))
    assert program_text(program).startswith(_source(prelude))
    assert program_text(program).endswith(_source(program))


@pytest.mark.parametrize(
    "name", sorted(PROGRAMS) + sorted({p.__name__ for ps in PARTS.values() for p in ps})
)
def test_each_text_imports_names_of_homeforge_only_on_the_controller(name):
    """A program or part takes the names of the texts sent before it from their modules
    in one block the host skips; every such name is defined there."""
    module = sys.modules[name]
    before = {m.__name__: m for m in [prelude, *PARTS.get(name, ())] if m is not module}
    if name not in PROGRAMS:  # a part: the prelude comes before it
        before = {prelude.__name__: prelude}
    body = ast.parse(_source(module)).body
    guards = [node for node in body if _is_guard(node)]
    assert len(guards) == 1
    for node in guards[0].body:
        assert isinstance(node, ast.ImportFrom) and node.module in before, ast.unparse(node)
        missing = {a.name for a in node.names} - _defined(_source(before[node.module]))
        assert not missing, f"{node.module} does not define {sorted(missing)}"
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            assert not ast.unparse(node).split()[1].startswith("homeforge"), ast.unparse(node)


# Imports of homeforge inside a function, reached only on the controller.
CONTROLLER_ONLY = {("homeforge.remote.offerops", "_own_text")}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_sent_text_uses_the_standard_library_only_and_python_3_7_syntax(name):
    text = program_text(PROGRAMS[name])
    ast.parse(text, feature_version=(3, 7))
    futures = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom)]
    assert [n for n in futures if n.module == "__future__"] == []  # mid-script: an error
    for module in _texts(PROGRAMS[name]):
        tree = ast.parse(_source(module))
        skipped = {id(n) for g in tree.body if _is_guard(g) for n in ast.walk(g)}
        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and (module.__name__, fn.name) in CONTROLLER_ONLY:
                skipped |= {id(n) for n in ast.walk(fn)}
        for node in ast.walk(tree):
            if id(node) in skipped or not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            tops = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for top in tops:
                assert top.split(".")[0] in sys.stdlib_module_names, f"{module.__name__}: {top}"


# --------------------------------------------------------------------------- run as a host runs them


class LocalHost(Remote):
    """A :class:`Remote` whose every host is this machine: the command it would send over
    SSH runs here, python3 being the host's (the standard library only)."""

    def __init__(self, tmp_path: Path, path: str):
        super().__init__(Inventory(tmp_path / "hosts.yml", {}, {}))
        self.env = dict(os.environ, PATH=path)
        self.sent: list[str] = []

    def run(self, host, argv, stdin="", timeout=300):
        assert argv[:2] == ["python3", "-c"] and str(self.inv.path.parent) not in str(argv)
        self.sent.append(stdin)
        done = subprocess.run(
            [*HOST_PYTHON, *argv[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        return Completed(done.returncode, done.stdout, done.stderr)


WG_DUMP = "PRIVATE-KEY\tPUBLIC-KEY\t51820\toff\npeer-key\t(none)\t192.0.2.7:51820\t10.77.0.2/32\t0\t1\t2\toff"


@pytest.fixture
def host(tmp_path):
    """This machine as a host, with ``wg``, ``ip`` and ``kubectl`` stand-ins first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {
        "wg": f'case "$3" in public-key) echo PUBLIC-KEY;; dump) printf "{WG_DUMP}\\n";; esac',
        "ip": 'case "$*" in *-6*) ;; *) echo "5: wg0    inet 10.77.0.1/24 scope global wg0";; esac',
        "kubectl": "echo '"
        + json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "api", "env": [{"name": "URL", "value": "http://a:1"}]}
                            ]
                        }
                    }
                }
            }
        )
        + "'",
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return LocalHost(tmp_path, f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")


def test_the_host_python_here_cannot_import_homeforge():
    done = subprocess.run([*HOST_PYTHON, "-c", "import homeforge"], capture_output=True)
    assert done.returncode != 0 and b"ModuleNotFoundError" in done.stderr


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_program_loads_as_sent_and_answers_an_unknown_operation_cleanly(name):
    request = json.dumps({"op": "no_such_op", "args": {}})
    done = subprocess.run(
        [*HOST_PYTHON, "-c", BOOTSTRAP],
        input=request + "\n" + program_text(PROGRAMS[name]),
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (1, "")
    assert json.loads(done.stdout) == {"ok": False, "error": "'no_such_op'"}


def test_remote_call_sends_the_request_then_the_program_text(host, tmp_path):
    env = tmp_path / "app.env"
    env.write_text("URL=http://old:1\n")
    reply = host.call("h", envops.env_read, path=str(env), names=["URL"])
    assert reply == {"exists": True, "values": {"URL": "http://old:1"}}
    request = json.dumps({"op": "env_read", "args": {"path": str(env), "names": ["URL"]}})
    assert host.sent == [request + "\n" + program_text(envops)]


def test_the_cutover_programs_run_as_sent(host, tmp_path):
    env = tmp_path / "app.env"
    env.write_text("URL=http://old:1\n")
    assert host.call("h", envops.env_write, path=str(env), values={"URL": "http://a b:2"})
    assert env.read_text() == 'URL="http://a b:2"\n'
    with pytest.raises(RemoteError, match="h: not a systemd unit name"):
        host.call("h", envops.unit_exists, unit="-H evil")
    where = {"kubectl": "kubectl", "namespace": "prod", "name": "api", "names": ["URL"]}
    assert host.call("h", kubeops.deployment_read, **where)["values"] == {"URL": "http://a:1"}
    status = host.call("h", meshops.wireguard_status, iface="wg0")
    assert status["public_key"] == "PUBLIC-KEY" and status["address"] == "10.77.0.1"
    assert status["peers"][0]["allowed_ips"] == ["10.77.0.2/32"]
    assert "PRIVATE-KEY" not in json.dumps(status)
    exposure = host.call("h", firewallops.ipv6_exposure, service="svc")
    assert exposure == {"addresses": [], "ip6tables": False, "active": False}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert host.call("h", probeops.tcp_open, address="127.0.0.1", port=port)["open"]
    assert host.call("h", leaseops.lease_read, service="hf-test-none") == {"lease": None}
    with pytest.raises(RemoteError, match="h: not a service name"):
        host.call("h", leaseops.lease_read, service="../x")


def test_the_cluster_and_stamp_programs_run_as_sent(host):
    with pytest.raises(RemoteError, match="h: k3s_list: bogus is not one of"):
        host.call("h", clusterops.k3s_list, resource="bogus")
    with pytest.raises(RemoteError, match=r"h: bad playbook name '\.\./site'"):
        host.call("h", stampops.stamp_check, playbook="../site", inputs={}, clear=False)


def test_a_model_is_seeded_by_the_programs_as_sent(host, tmp_path):
    """The seed server is started from the text the offer was sent as (``__source__``)."""
    source, target = tmp_path / "src", tmp_path / "dst"
    make = ["make-model", "--root", str(source), "--name", "library/tiny:1b", "--size", "5000"]
    subprocess.run([sys.executable, str(STANDIN), *make], check=True, capture_output=True)
    target.mkdir()
    path = "/run/homeforge-ollama-pull-hf-test-none.json"
    assert host.call("h", modelops.pull_progress, path=path) == {}
    offer = host.call(
        "h", offerops.seed_offer, models_dir=str(source), manifest_rel=REL, listen="127.0.0.1"
    )
    try:
        done = host.call(
            "h",
            modelops.seed_fetch,
            models_dir=str(target),
            url=offer["url"],
            token=offer["token"],
            manifest_rel=REL,
            manifest_digest=offer["digest"],
            blobs=offer["blobs"],
        )
    finally:
        assert host.call("h", offerops.seed_stop, pid=offer["pid"]) == {"stopped": True}
    assert done["changed"] and done["fetched"] == len(offer["blobs"])
    assert (target / REL).read_bytes() == (source / REL).read_bytes()
