"""Property tests: random structures (wrong types, nulls, nesting, unicode, control
characters, templates) in every variable homeforge reads and in ``homeforge_services``.

Whatever the inventory holds, ``inventory check`` never raises past its one-line
reporting: it ends with exit 0 or 2, and every problem line names the file it is in
and the host or declaration path and key.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from homeforge import checks, inventory
from homeforge.cli import main
from homeforge.errors import BadInput
from homeforge.roles import role_specs, shared_variables

TEMPLATES = [
    "{{ 51820 + 1 }}",
    "{{ undefined_thing }}",
    "{{ '10.77.0.0/24' }} $(touch /tmp/x)",
    "{% if %}",
    "{{ 1 / 0 }}",
    "{{ ansible_default_ipv4.address }}",
    "{{ [1, 2] }}",
    "{{ {'a': 1} }}",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from("\n\r\t\x00\x1b`$%;&|\"' {}[]#\\"), max_size=6),
    st.sampled_from(TEMPLATES),
    st.sampled_from(["wg0", "10.77.0.0/24", "51820", "false", "yes", "-Hx.service", "/v1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)

READ_KEYS = sorted(
    {key for spec in role_specs() for key in spec.options}
    | set(shared_variables())
    | {
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_ssh_common_args",
        "wireguard_facts",
        "homeforge_services",
    }
)

host_names = st.one_of(
    st.sampled_from(["h1", "gpu-a", "10.0.0.9", "node_7", "a.example.org"]),
    st.text(min_size=1, max_size=12).filter(lambda s: s.strip() and s[0] not in "#[;"),
)

VALID_SERVICE = {
    "port": 11434,
    "health": "/api/tags",
    "hosts": {"h1": {"legacy": "http://192.0.2.1:11434"}},
    "consumers": [{"host": "h2", "env_file": "/etc/app.env", "variables": {"URL": "h1"}}],
}


def _check_lines(root: Path, hosts: dict, group_vars: dict) -> tuple[int, list[str]]:
    (root / "group_vars").mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}, allow_unicode=True))
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars, allow_unicode=True))
    try:
        return 0, checks.check(inventory.load(root / "hosts.yml"))
    except BadInput as exc:  # InventoryInvalid included: exit 2 with its lines
        return 2, getattr(exc, "problems", None) or [str(exc)]


def _assert_named(root: Path, lines: list[str]) -> None:
    for line in lines:
        assert line.startswith(("hosts.yml", "group_vars", str(root))), line
        rest = line.split(": ", 1)[1] if ": " in line else ""
        assert rest, line


SETTINGS = settings(
    database=None,  # nothing written into the checkout (it would land in the collection)
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(
    key=st.sampled_from(READ_KEYS),
    value=values,
    where=st.sampled_from(["host", "group"]),
    name=host_names,
)
@example(key="ansible_host", value=None, where="host", name="\x00")  # crashed Ansible's cache
def test_any_value_in_any_variable_is_reported_not_raised(key, value, where, name):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hosts = {name: {"ansible_host": "192.0.2.10"}, "h2": {"ansible_host": "192.0.2.11"}}
        group_vars = {}
        if where == "host":
            hosts[name][key] = value
        else:
            group_vars[key] = value
        code, lines = _check_lines(root, hosts, group_vars)
        assert code in (0, 2)
        _assert_named(root, lines)


def _mutate(data, path: list, value):
    if not path:
        return value
    head, *rest = path
    if isinstance(data, dict) and data:
        key = list(data)[head % len(data)]
        return {**data, key: _mutate(data[key], rest, value)}
    if isinstance(data, list) and data:
        index = head % len(data)
        return [*data[:index], _mutate(data[index], rest, value), *data[index + 1 :]]
    return value


@SETTINGS
@given(path=st.lists(st.integers(min_value=0, max_value=7), max_size=5), value=values)
def test_any_change_to_a_services_declaration_is_reported_not_raised(path, value):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hosts = {"h1": {"ansible_host": "192.0.2.10"}, "h2": {"ansible_host": "192.0.2.11"}}
        declared = {"homeforge_services": {"svc": _mutate(VALID_SERVICE, path, value)}}
        code, lines = _check_lines(root, hosts, declared)
        assert code in (0, 2)
        _assert_named(root, lines)
        if code == 0 and lines:
            assert all("homeforge_services" in line or ": host " in line for line in lines), lines


def test_the_valid_declaration_the_mutations_start_from_is_valid(tmp_path):
    hosts = {"h1": {"ansible_host": "192.0.2.10"}, "h2": {"ansible_host": "192.0.2.11"}}
    assert _check_lines(tmp_path, hosts, {"homeforge_services": {"svc": VALID_SERVICE}}) == (0, [])


@settings(max_examples=15, deadline=None, database=None)
@given(key=st.sampled_from(READ_KEYS), value=values)
def test_the_cli_exits_0_or_2_with_one_line_per_problem(key, value):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "hosts.yml").write_text(
            yaml.safe_dump({"all": {"hosts": {"h1": {"ansible_host": "192.0.2.10", key: value}}}})
        )
        result = CliRunner().invoke(main, ["inventory", "check", "-i", str(root / "hosts.yml")])
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
