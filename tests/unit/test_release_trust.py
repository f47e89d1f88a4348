"""Release downloads and install paths: versions, install roots and download URLs pass the
shared rules in ``homeforge inventory check`` and again in the roles; a download is
checked against a SHA-256 pinned in the role or given by the inventory, never against a
checksum list fetched from where the release comes from; the stand-in releases of the
lab and molecule have versions of their own, so the pinned digests never meet them."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from homeforge.cli import main
from homeforge.lab import cluster as lab_cluster
from homeforge.validation import version_problem
from tests.unit.plugins.support import COLLECTIONS
from tests.unit.test_lab_cluster import _lab, planted  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "")
HEX = "ab" * 32


def check_cli(write, hostvars: dict) -> tuple[int, list[str]]:
    path = write("inv/hosts.yml", yaml.safe_dump({"all": {"hosts": {"h1": hostvars}}}))
    result = CliRunner().invoke(main, ["inventory", "check", "-i", str(path)])
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if ": host h1: " in line]
    return result.exit_code, lines


# ------------------------------------------------------------------ inventory check

VERSIONS = (
    "k3s_version",
    "ollama_version",
    "ollama_k8s_chart_version",
    "eks_node_nodeadm_version",
    "ebs_csi_chart_version",
    "nvidia_container_toolkit_version",
    "nvidia_device_plugin_chart_version",
    "ingress_traefik_cert_manager_chart_version",
)


@pytest.mark.parametrize("key", VERSIONS)
@pytest.mark.parametrize("version", ["../../etc", "../../../../etc", "1.0\n", "1.0/x"])
def test_a_hostile_version_is_one_line_naming_the_key(write, key, version):
    code, lines = check_cli(write, {"ansible_host": "192.0.2.1", key: version})
    assert code == 2
    assert len([line for line in lines if f"host h1: {key}:" in line]) == 1, lines


URLS = {
    "k3s_release_url": "http://github.com/k3s-io/k3s/releases/download/v1.31.4+k3s1",
    "ollama_release_url": "http://github.com/ollama/ollama/releases/download/v0.12.3",
    "ollama_k8s_chart_repo": "http://otwld.github.io/ollama-helm/",
    "ebs_csi_chart_repo": "http://kubernetes-sigs.github.io/aws-ebs-csi-driver",
    "nvidia_device_plugin_repo": "http://nvidia.github.io/k8s-device-plugin",
    "ingress_traefik_cert_manager_repo": "http://charts.jetstack.io",
    "eks_node_nodeadm_url": "http://hybrid-assets.eks.amazonaws.com/releases/v1.0.19/bin/linux/{arch}/nodeadm",
}


@pytest.mark.parametrize("key", sorted(URLS))
def test_a_plain_http_download_url_is_refused(write, key):
    code, lines = check_cli(write, {"ansible_host": "192.0.2.1", key: URLS[key]})
    assert code == 2
    assert [line for line in lines if f"host h1: {key}:" in line and "https URL" in line], lines


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ollama_install_root", "usr/local/lib/ollama"),
        ("ollama_install_root", "/usr/local/lib/../../etc"),
        ("ollama_artifacts_dir", "releases/ollama"),
        ("k3s_artifacts_dir", "/srv/../etc"),
        ("eks_node_artifacts_dir", "nodeadm"),
        ("k3s_sha256", {"amd64": "not-a-digest"}),
        ("k3s_sha256", {"x86_64": HEX}),
        ("k3s_sha256", HEX),
        ("ollama_sha256", {"arm64": HEX[:-1]}),
        ("eks_node_nodeadm_sha256", "abc"),
        ("eks_node_kubernetes_version", 1.30),  # read as 1.3
    ],
)
def test_install_roots_and_digests_pass_their_rules(write, key, value):
    code, lines = check_cli(write, {"ansible_host": "192.0.2.1", key: value})
    assert code == 2
    assert len([line for line in lines if f"host h1: {key}:" in line]) == 1, lines


def test_good_release_settings_pass(write):
    code, lines = check_cli(
        write,
        {
            "ansible_host": "192.0.2.1",
            "k3s_version": "v1.34.3+k3s1",
            "k3s_sha256": {"amd64": HEX, "arm64": HEX.upper()},
            "k3s_release_url": "https://mirror.example.org/k3s/v1.34.3+k3s1",
            "k3s_artifacts_dir": "",
            "ollama_version": "0.35.1-standin",
            "ollama_sha256": {"amd64": HEX},
            "ollama_install_root": "/opt/ollama",
            "ollama_artifacts_dir": "/srv/releases/ollama",
            "eks_node_nodeadm_version": "v1.0.19",
            "eks_node_kubernetes_version": "1.31",
            "eks_node_nodeadm_sha256": HEX,
            "eks_node_nodeadm_url": "https://mirror.example.org/nodeadm/{arch}/nodeadm",
            "nvidia_container_toolkit_version": "1.17.8-1",
        },
    )
    assert (code, lines) == (0, [])


# ------------------------------------------------------------------ the pinned digests


def _pinned(role: str) -> dict:
    data = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text())
    return data[f"_{role}_release_sha256"]


@pytest.mark.parametrize("role", ["k3s_common", "ollama"])
def test_pinned_digests_are_sha256_of_named_release_files(role):
    files = {
        "k3s_common": r"k3s(-arm64)?|k3s-airgap-images-(amd64|arm64)\.tar\.(gz|zst)",
        "ollama": r"ollama-linux-(amd64|arm64)\.(tgz|tar\.zst)",
    }[role]
    table = _pinned(role)
    assert table
    for version, digests in table.items():
        assert isinstance(version, str) and version_problem(version) is None, version
        assert digests
        for name, digest in digests.items():
            assert re.fullmatch(files, name), name
            assert re.fullmatch(r"[0-9a-f]{64}", digest), (version, name)


def test_the_default_ollama_release_is_pinned_for_both_architectures():
    default = yaml.safe_load((ROOT / "roles/ollama/defaults/main.yml").read_text())
    assert set(_pinned("ollama")[str(default["ollama_version"])]) == {
        "ollama-linux-amd64.tar.zst",  # every release from 0.14.0 ships these only
        "ollama-linux-arm64.tar.zst",
    }


def test_stand_in_releases_have_versions_the_roles_do_not_pin():
    """A stand-in's archive has its own digest: under a pinned version it would fail."""
    standin = (ROOT / "tests/standins/ollama").read_text()
    version = re.search(r'^VERSION = "([^"]+)"$', standin, re.M)[1]
    assert version == lab_cluster.OLLAMA_STANDIN_VERSION and version not in _pinned("ollama")
    assert version_problem(version) is None
    scenario = yaml.safe_load((ROOT / "molecule/ollama/molecule.yml").read_text())
    assert scenario["provisioner"]["inventory"]["group_vars"]["all"]["ollama_version"] == version
    # the K3s stand-in is packed under the versions the lab and the scenarios run
    k3s_versions = {lab_cluster.K3S_STANDIN_VERSION}
    for path in (ROOT / "molecule").glob("*/*.yml"):
        k3s_versions.update(re.findall(r"k3s_version: (\S+)", path.read_text()))
    assert k3s_versions and not k3s_versions & set(_pinned("k3s_common"))


def test_the_k3s_stand_in_is_the_pinned_minor_under_a_version_the_roles_do_not_pin():
    """The lab, the stand-in's own default and every molecule scenario run one K3s
    stand-in version: the default's minor (so flags, schemas and gates are the pinned
    minor's), not the pinned version (whose digest the stand-in's binary lacks)."""
    default = yaml.safe_load((ROOT / "roles/k3s_server/defaults/main.yml").read_text())[
        "k3s_version"
    ]
    standin = re.search(r'^VERSION = "([^"]+)"$', (ROOT / "tests/standins/k3s").read_text(), re.M)[
        1
    ]
    base = yaml.safe_load((ROOT / "molecule/_shared/base.yml").read_text())
    molecule = base["provisioner"]["inventory"]["group_vars"]["all"]["k3s_version"]
    assert standin == lab_cluster.K3S_STANDIN_VERSION == molecule
    assert standin != default and standin.split(".")[:2] == default.split(".")[:2]
    assert default in _pinned("k3s_common") and standin not in _pinned("k3s_common")
    assert set(_pinned("k3s_common")[default]) == {"k3s", "k3s-arm64"}


def test_the_lab_installs_the_stand_in_ollama_under_its_own_version(planted):  # noqa: F811
    tmp_path, _copies = planted
    groups = lab_cluster.prepare(_lab(2), tmp_path / "state", log=lambda *_: None)
    assert groups["ollama"]["vars"]["ollama_version"] == lab_cluster.OLLAMA_STANDIN_VERSION


# ------------------------------------------------------------------ the roles (point of use)


def play(tmp_path: Path, role: str, tasks_from: str, variables: dict) -> dict[str, dict]:
    """Run one role's tasks on this host in check mode: {task name: this host's result}."""
    return plays(tmp_path, role, tasks_from, {"localhost": variables})["localhost"]


def plays(
    tmp_path: Path, role: str, tasks_from: str, cases: dict[str, dict]
) -> dict[str, dict[str, dict]]:
    """Run one role's tasks in check mode in one ansible-playbook, on one host per case:
    each a connection to this machine named after its case, in group ``server``, with the
    case's variables as its inventory host variables (as a user sets them).
    Returns {case: {task name: that host's result}}."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {
        "all": {
            "hosts": {name: {**local, **variables} for name, variables in cases.items()},
            "children": {"server": {"hosts": dict.fromkeys(cases)}},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    playbook = [
        {
            "hosts": "all",
            "gather_facts": True,
            "gather_subset": ["min"],
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": f"homeforge.homelab.{role}",
                        "tasks_from": tasks_from,
                    }
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
    done = subprocess.run(
        [ansible_playbook, "-i", "hosts.yml", "play.yml", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        },
    )
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    return {
        case: {t["task"]["name"].rpartition(" : ")[2]: t["hosts"].get(case, {}) for t in tasks}
        for case in cases
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """``hostile(role, tasks_from, cases, case)``: the role's results for ``case``, one of
    ``cases`` (each a dict of variables, or a tuple whose first item is one). Every case
    of a role's tasks runs in one ansible-playbook, a host per case (``plays``): the
    first test of a role runs them all."""
    ran: dict[tuple, dict] = {}

    def variables(case) -> dict:
        return case[0] if isinstance(case, tuple) else case

    def results(role: str, tasks_from: str, cases: list, case) -> dict[str, dict]:
        key = (role, tasks_from)
        if key not in ran:
            hosts = {f"case-{i}": variables(each) for i, each in enumerate(cases)}
            ran[key] = plays(tmp_path_factory.mktemp(role), role, tasks_from, hosts)
        return ran[key][f"case-{cases.index(case)}"]

    return results


def _failed(results: dict[str, dict]) -> tuple[str, str]:
    failed = [(name, r.get("msg", "")) for name, r in results.items() if r.get("failed")]
    assert len(failed) == 1, failed
    return failed[0]


K3S_DIGEST_CHECK = (
    "Check there is a digest to download against, and that k3s_sha256 agrees with a pinned one"
)
OLLAMA_DIGEST_CHECK = (
    "Check there is a digest to download against, and that ollama_sha256 agrees with a pinned one"
)
needs_arch = pytest.mark.skipif(not ARCH, reason="the roles install on amd64 and arm64 only")


@needs_arch
def test_k3s_downloads_a_version_it_does_not_pin_only_with_k3s_sha256(tmp_path):
    name, msg = _failed(
        play(tmp_path, "k3s_server", "upgrade.yml", {"k3s_version": "v1.31.4+k3s1"})
    )
    assert name == K3S_DIGEST_CHECK and "\n" not in msg
    binary = "k3s" if ARCH == "amd64" else "k3s-arm64"
    assert msg == (
        "k3s: k3s_sha256: K3s v1.31.4+k3s1 is not pinned in this collection: give k3s_sha256"
        f" {{{ARCH}: <the {binary} line of the release's sha256sum-{ARCH}.txt>}}"
        " (or install from k3s_artifacts_dir)"
    )
    given = play(
        tmp_path,
        "k3s_server",
        "upgrade.yml",
        {"k3s_version": "v1.31.4+k3s1", "k3s_sha256": {ARCH: HEX}},
    )
    assert not given[K3S_DIGEST_CHECK].get("failed")
    installed = given[
        "Install the binary once its sha256 matches the pinned (or the airgap list's) digest"
    ]
    assert installed.get("changed") and installed.get("sha256") == HEX  # check mode: predicted
    airgap = play(
        tmp_path,
        "k3s_server",
        "upgrade.yml",
        {"k3s_version": "v1.31.4+k3s1", "k3s_artifacts_dir": str(tmp_path)},
    )
    assert not airgap[K3S_DIGEST_CHECK].get("failed")


@needs_arch
def test_k3s_installs_from_the_airgap_directory_named_by_its_version_when_there_is_one(tmp_path):
    """An airgap directory holds one release, or one per version in a directory named by
    it (what `apply upgrade` goes through): the install copies that version's files."""
    root = tmp_path / "k3s-releases"
    for version in ("v1.31.4+k3s1", "v1.32.13+k3s1"):
        release = ["release", "--out", str(root / version), "--version", version, "--arch", ARCH]
        subprocess.run(
            [sys.executable, str(ROOT / "tests/standins/k3s"), *release],
            check=True,
            capture_output=True,
        )
    variables = {"k3s_version": "v1.32.13+k3s1", "k3s_artifacts_dir": str(root)}
    copied = play(tmp_path, "k3s_server", "upgrade.yml", variables)[
        "Copy the release from the controller's artifacts directory (airgap)"
    ]
    sources = [r["invocation"]["module_args"]["src"] for r in copied["results"]]
    assert sources and all(s.startswith(f"{root}/v1.32.13+k3s1/") for s in sources), sources


@needs_arch
def test_k3s_refuses_a_directory_of_releases_without_this_one(tmp_path):
    """Files at the top of a directory of releases name no version: an install of a
    version the directory has no directory for stops, rather than take them."""
    root = tmp_path / "k3s-releases"
    (root / "v1.31.4+k3s1").mkdir(parents=True)
    (root / "k3s").write_text("an older release's binary")
    variables = {"k3s_version": "v1.32.13+k3s1", "k3s_artifacts_dir": str(root)}
    name, msg = _failed(play(tmp_path, "k3s_server", "upgrade.yml", variables))
    assert name == "Check the airgap directory holds this release"
    assert msg == (
        f"k3s: k3s_artifacts_dir {root} holds releases v1.31.4+k3s1"
        f" but no {root}/v1.32.13+k3s1/ for k3s_version v1.32.13+k3s1"
    )


@needs_arch
def test_k3s_holds_a_pinned_version_to_its_pinned_digest(tmp_path):
    variables = {"k3s_version": "v1.34.3+k3s1", "k3s_sha256": {ARCH: HEX}}
    name, msg = _failed(play(tmp_path, "k3s_server", "upgrade.yml", variables))
    assert name == K3S_DIGEST_CHECK
    assert "differs from the SHA-256 this collection pins" in msg


K3S_HOSTILE = [
    (
        {"k3s_version": "v1.31.4+k3s1\n"},
        "Check the version, the architecture and the servers",
        "k3s_version",
    ),
    (
        {"k3s_version": "../../etc"},
        "Check the version, the architecture and the servers",
        "k3s_version",
    ),
    (
        {"k3s_release_url": "http://github.com/k3s-io/k3s/releases/download/v1.31.4+k3s1"},
        "Check where the release comes from (https, or the controller's directory)",
        "https URL",
    ),
    (
        {"k3s_artifacts_dir": "releases/k3s"},
        "Check where the release comes from (https, or the controller's directory)",
        "absolute path",
    ),
    (
        {"k3s_sha256": {ARCH: "xyz"}},
        "Check k3s_sha256 (architecture to published SHA-256)",
        "SHA-256",
    ),
]


@needs_arch
@pytest.mark.parametrize(("variables", "task", "why"), K3S_HOSTILE)
def test_k3s_refuses_a_hostile_release_setting_before_anything(hostile, variables, task, why):
    results = hostile("k3s_server", "upgrade.yml", K3S_HOSTILE, (variables, task, why))
    name, msg = _failed(results)
    assert name == task and why in msg


OLLAMA_HOSTILE = [
    {"ollama_version": "../../../../etc", "ollama_artifacts_dir": "/srv/releases"},
    {"ollama_version": "0.12.3/../../x"},
    {"ollama_install_root": "lib/ollama"},
    {"ollama_release_url": "http://github.com/ollama/ollama/releases/download/v0.12.3"},
    {"ollama_sha256": {ARCH: "0" * 63}},
]


@needs_arch
@pytest.mark.parametrize("variables", OLLAMA_HOSTILE)
def test_ollama_refuses_a_hostile_release_setting_before_anything(hostile, variables):
    name, msg = _failed(hostile("ollama", "main.yml", OLLAMA_HOSTILE, variables))
    assert name == "Check the release settings by the collection's rules"
    assert msg.startswith("ollama: ollama_version must be a release version")


@needs_arch
def test_ollama_downloads_only_against_a_pinned_or_given_digest(tmp_path):
    name, msg = _failed(play(tmp_path, "ollama", "main.yml", {"ollama_version": "0.13.0"}))
    assert name == OLLAMA_DIGEST_CHECK and "\n" not in msg
    assert msg.startswith(
        f"ollama: ollama_sha256: Ollama 0.13.0 (ollama-linux-{ARCH}.tgz) is not pinned"
    )
    # from 0.14.0 Ollama ships .tar.zst only, and the role names that archive by itself
    name, msg = _failed(play(tmp_path, "ollama", "main.yml", {"ollama_version": "0.20.0"}))
    assert f"Ollama 0.20.0 (ollama-linux-{ARCH}.tar.zst) is not pinned" in msg
    pinned = _pinned("ollama")["0.35.1"][f"ollama-linux-{ARCH}.tar.zst"]
    default = play(tmp_path, "ollama", "main.yml", {})
    assert not default[OLLAMA_DIGEST_CHECK].get("failed")
    installed = default[
        "Install the release once its sha256 matches the pinned (or the airgap list's) digest"
    ]
    assert installed.get("sha256") == pinned and installed.get("changed")  # check mode
    name, msg = _failed(play(tmp_path, "ollama", "main.yml", {"ollama_sha256": {ARCH: HEX}}))
    assert name == OLLAMA_DIGEST_CHECK and "differs from the SHA-256 this collection pins" in msg


EKS = {
    "eks_node_cluster_name": "ml-hybrid",
    "eks_node_region": "eu-west-1",
    "eks_node_nodeadm_sha256": HEX,
    "eks_node_ssm_activation_id": "5b9e0074-65d3-4587-8620-3e0b0938db9e",
    "eks_node_ssm_activation_code": "Zqr175DJ+sPQRHsmbzzf",
}


NODEADM_HOSTILE = [
    ({"eks_node_nodeadm_version": "../../etc"}, '"../../etc"'),
    ({"eks_node_nodeadm_version": "v1.0.19\n"}, '"v1.0.19\\n"'),
    ({"eks_node_nodeadm_url": "http://hybrid-assets.example/{arch}/nodeadm"}, "https URL ("),
    ({"eks_node_artifacts_dir": "nodeadm"}, "absolute path"),
]


@needs_arch
@pytest.mark.parametrize(("variables", "why"), NODEADM_HOSTILE)
def test_eks_node_refuses_a_hostile_nodeadm_source_before_anything(hostile, variables, why):
    cases = [{**EKS, **case} for case, _why in NODEADM_HOSTILE]
    name, msg = _failed(hostile("eks_node", "main.yml", cases, {**EKS, **variables}))
    assert name == "Check where nodeadm comes from by the collection's rules"
    assert why in msg and "\n" not in msg


CHART_HOSTILE = [
    ({"ollama_k8s_chart_repo": "http://otwld.github.io/ollama-helm/"}, "an https URL"),
    ({"ollama_k8s_chart_version": "1.77.0/../x"}, "release versions"),
    ({"ollama_version": "0.12.3\n"}, "release versions"),
]


@pytest.mark.parametrize(("variables", "why"), CHART_HOSTILE)
def test_ollama_in_kubernetes_refuses_a_hostile_chart_source(hostile, variables, why):
    cases = [{"ollama_mode": "kubernetes", **case} for case, _why in CHART_HOSTILE]
    variables = {"ollama_mode": "kubernetes", **variables}
    name, msg = _failed(hostile("ollama", "kubernetes.yml", cases, variables))
    assert name == "Check the settings by the collection's rules" and why in msg


def test_resetting_the_last_server_skips_the_drain_instead_of_failing(tmp_path):
    """With no other server left there is nobody to drain through: the drain and the node's
    deletion are skipped (ansible-core templates delegate_to before when, so an empty
    delegate used to fail the reset)."""
    results = play(tmp_path, "k3s_server", "reset.yml", {})
    drain = results["Drain this node (its pods move to other nodes)"]
    assert drain.get("skipped") and not drain.get("failed"), drain
    # (the steps after it need systemd as PID 1, which a test machine may lack)
    assert not any("delegate_to" in str(r.get("msg", "")) for r in results.values())
