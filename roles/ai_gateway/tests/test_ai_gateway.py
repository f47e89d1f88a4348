"""testinfra suite for the ai_gateway role (molecule verify and `homeforge verify`).

LiteLLM is the real release from PyPI; the Ollama behind it is the stand-in in the lab
(tests/standins/ollama). These check the role's work: the install, the service and its
sandbox, where it listens, the files and their modes, and that the gateway refuses a
request without a key and reaches no management route.
"""

from __future__ import annotations

import json
import re

ETC = "/etc/homeforge-gateway"
STATE = "/var/lib/homeforge-gateway"


def _bind(host) -> tuple[str, str]:
    start = host.check_output(
        "systemctl show --property=ExecStart --value homeforge-gateway.service"
    )
    address = re.search(r"--host (\S+)", start).group(1)
    port = re.search(r"--port (\d+)", start).group(1)
    return address, port


def _status(host, path: str, key: str = "") -> int:
    address, port = _bind(host)
    address = "127.0.0.1" if address == "0.0.0.0" else address
    address = f"[{address}]" if ":" in address else address
    ask = (
        "import sys, urllib.request, urllib.error\n"
        "req = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]} if sys.argv[2] else {})\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=30).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    return int(
        host.check_output(f"python3 -c {_quote(ask)} http://{address}:{port}{path} {_quote(key)}")
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def test_the_pinned_release_is_installed_in_its_own_environment(host, hf_vars):
    venv = f"{hf_vars['ai_gateway_install_root']}/litellm-{hf_vars['ai_gateway_version']}"
    assert host.file(f"{venv}/.homeforge-complete").exists
    found = host.check_output(f"ls {venv}/lib/").split()
    assert any(
        host.file(
            f"{venv}/lib/{py}/site-packages/litellm-{hf_vars['ai_gateway_version']}.dist-info"
        ).is_directory
        for py in found
    )
    assert not host.file("/var/cache/homeforge/ai-gateway").listdir()  # the wheelhouse copy went


def test_service_runs_as_its_own_user_sandboxed_and_enabled(host, hf_vars):
    service = host.service("homeforge-gateway")
    assert service.is_running and service.is_enabled
    user = hf_vars["ai_gateway_user"]
    assert host.user(user).shell == "/usr/sbin/nologin"
    pid = host.check_output("systemctl show --property=MainPID --value homeforge-gateway.service")
    assert host.check_output(f"ps -o user= -p {pid}") == user
    props = host.check_output(
        "systemctl show --property=ProtectSystem,NoNewPrivileges,ReadWritePaths homeforge-gateway.service"
    )
    assert "ProtectSystem=strict" in props and "NoNewPrivileges=yes" in props
    assert f"ReadWritePaths={STATE}" in props


def test_listening_only_where_configured(host, hf_vars):
    address, port = _bind(host)
    if hf_vars["ai_gateway_listen"]:
        assert f"{address}:{port}" == hf_vars["ai_gateway_listen"].replace("[", "").replace("]", "")
    sockets = host.socket.get_listening_sockets()
    assert f"tcp://{address}:{port}" in sockets
    if address not in ("0.0.0.0", "::"):
        assert f"tcp://0.0.0.0:{port}" not in sockets


def test_secrets_and_keys_are_the_gateway_users_alone(host, hf_vars):
    user = hf_vars["ai_gateway_user"]
    master = host.file(f"{ETC}/master.env")
    assert (master.user, master.mode) == ("root", 0o600)
    keys = host.file(f"{STATE}/keys.json")
    assert (keys.user, keys.group, keys.mode) == (user, user, 0o600)
    state = host.file(STATE)
    assert (state.user, state.mode) == (user, 0o700)
    for name in ("config.yaml", "consumers.json"):
        f = host.file(f"{ETC}/{name}")
        assert (f.user, f.group, f.mode) == ("root", user, 0o640)
    usage = host.file(f"{STATE}/usage.jsonl")
    assert not usage.exists or usage.mode == 0o600


def test_the_keys_file_holds_digests_only(host):
    data = json.loads(host.file(f"{STATE}/keys.json").content_string)
    for name, entry in data["keys"].items():
        assert set(entry) == {"sha256", "issued_at"}, name
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])


def test_consumers_are_the_inventorys_and_their_models_are_served(host, hf_vars):
    consumers = json.loads(host.file(f"{ETC}/consumers.json").content_string)
    assert sorted(consumers) == sorted(c["name"] for c in hf_vars["ai_gateway_consumers"])
    config = host.file(f"{ETC}/config.yaml").content_string
    served = set(re.findall(r"model_name: (\S+)", config))
    for name, consumer in consumers.items():
        assert set(consumer["models"]) <= served, name


def test_no_key_is_refused_and_no_management_route_is_open(host):
    assert _status(host, "/health/liveliness") == 200
    assert _status(host, "/v1/models") == 401
    assert _status(host, "/v1/models", "sk-hf-not-a-key") == 401
    assert _status(host, "/key/list", "sk-hf-not-a-key") == 401
