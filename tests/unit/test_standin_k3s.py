"""The K3s STAND-IN fails where K3s fails (tests/standins/k3s): the roles' tests rely on it
refusing what K3s refuses, so these pin that down (run here with this Python)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parents[2] / "tests" / "standins" / "k3s"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, name, kind, text, wait=True):
    config = tmp_path / f"{name}.yaml"
    config.write_text(text + f"\nnode-name: {name}\ndata-dir: {tmp_path / name}\n")
    env = {**os.environ, "K3S_CONFIG_FILE": str(config)}
    cmd = [sys.executable, str(STANDIN), kind]
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _start(tmp_path, port, extra=""):
    """A server, once it says it is up: its API answers before it has staged its packaged
    manifests and applied the directory, as K3s's does; tests that write manifests wait
    for what follows (a loaded machine showed the gap)."""
    text = (
        f"cluster-init: true\ntoken: sekrit\nhttps-listen-port: {port}\ncluster-cidr: 10.42.0.0/16"
    )
    server = _run(tmp_path, "s1", "server", text + extra, wait=False)
    deadline = time.monotonic() + 30
    said = ""
    while "is up as" not in said:
        left = deadline - time.monotonic()
        assert left > 0 and server.poll() is None, said + server.stderr.read()
        ready, _, _ = select.select([server.stderr], [], [], min(left, 0.5))
        if ready:
            said += os.read(server.stderr.fileno(), 65536).decode(errors="replace")
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    server.said = said  # what it logged until then (read from its stderr here)
    return server


@pytest.fixture
def cluster(tmp_path):
    port = _port()
    server = _start(tmp_path, port)
    yield tmp_path, port, server
    server.terminate()


def _nodes(tmp_path):
    env = {**os.environ, "K3S_STANDIN_DATA_DIR": str(tmp_path / "s1")}
    out = subprocess.run(
        [sys.executable, str(STANDIN), "kubectl", "get", "nodes"],
        env=env,
        capture_output=True,
        text=True,
    )
    return out.stdout


def test_join_needs_the_right_token_and_never_makes_a_second_cluster(cluster):
    tmp_path, port, _server = cluster
    wrong = _run(tmp_path, "a1", "agent", f"server: https://127.0.0.1:{port}\ntoken: wrong")
    assert wrong.returncode == 1 and "token is not valid" in wrong.stderr
    nowhere = _run(tmp_path, "a2", "agent", "token: sekrit")
    assert nowhere.returncode == 1 and "--server is required" in nowhere.stderr
    assert "a1" not in _nodes(tmp_path) and "a2" not in _nodes(tmp_path)
    agent = _run(
        tmp_path, "a1", "agent", f"server: https://127.0.0.1:{port}\ntoken: sekrit", wait=False
    )
    try:
        deadline = time.monotonic() + 10
        while "a1 Ready" not in _nodes(tmp_path):
            assert time.monotonic() < deadline, _nodes(tmp_path)
            time.sleep(0.2)
    finally:
        agent.terminate()
    token = tmp_path / "s1" / "server" / "token"
    assert token.stat().st_mode & 0o777 == 0o600 and token.read_text().startswith("K10")


def test_unknown_keys_fatal_on_agents_skipped_with_a_warning_on_servers(cluster):
    tmp_path, port, server = cluster
    agent = _run(
        tmp_path,
        "a1",
        "agent",
        f"server: https://127.0.0.1:{port}\ntoken: sekrit\ndisable: [traefik]",
    )
    assert agent.returncode == 1 and "flag provided but not defined: -disable" in agent.stderr
    server.terminate()
    logged = server.said + server.stderr.read()
    assert "is up as" in logged and "Unknown flag --" not in logged  # the fixture's has none
    bogus = _run(
        tmp_path,
        "s9",
        "server",
        f"cluster-init: true\ntoken: x\nhttps-listen-port: {_port()}\nbogus-key: 1",
        wait=False,
    )
    time.sleep(1)
    bogus.terminate()
    assert "Unknown flag --bogus-key found in config.yaml, skipping" in bogus.stderr.read()


def test_a_server_with_different_critical_flags_is_refused(cluster):
    tmp_path, port, _server = cluster
    joined = _run(
        tmp_path,
        "s2",
        "server",
        f"server: https://127.0.0.1:{port}\ntoken: sekrit\nhttps-listen-port: {_port()}\ncluster-cidr: 10.99.0.0/16",
    )
    assert joined.returncode == 1
    assert "critical configuration value mismatch between servers" in joined.stderr


def _kubectl(tmp_path, *args):
    env = {**os.environ, "K3S_STANDIN_DATA_DIR": str(tmp_path / "s1")}
    return subprocess.run(
        [sys.executable, str(STANDIN), "kubectl", *args], env=env, capture_output=True, text=True
    )


def _allocatable(tmp_path, node):
    import json

    done = _kubectl(tmp_path, "get", "node", node, "-o", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["status"]["allocatable"].get("nvidia.com/gpu")


def test_gpus_are_allocatable_only_through_the_device_plugin_with_the_nvidia_runtime(
    cluster, tmp_path_factory
):
    """As on K3s: the runtime detected at start, the chart with runtimeClassName nvidia, a
    label the chart's affinity matches. Each missing piece leaves the GPUs unallocatable."""
    tmp_path, port, _server = cluster
    bin_dir = tmp_path_factory.mktemp("gpu-bin")
    (bin_dir / "nvidia-container-runtime").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "nvidia-container-runtime").chmod(0o755)
    (bin_dir / "nvidia-smi").symlink_to(STANDIN.with_name("nvidia-smi"))
    gpus = tmp_path / "gpus.json"
    gpus.write_text(
        '{"driver_version": "550.127.05", "cuda_version": "12.4", "gpus": ['
        '{"name": "NVIDIA GeForce RTX 3090", "memory_total_mib": 24576, "pci_bus_id": "0000:01:00.0"},'
        '{"name": "NVIDIA GeForce RTX 3090", "memory_total_mib": 24576, "pci_bus_id": "0000:02:00.0"}]}'
    )
    config = tmp_path / "g1.yaml"
    config.write_text(
        f"server: https://127.0.0.1:{port}\ntoken: sekrit\nnode-name: g1\ndata-dir: {tmp_path / 'g1'}\n"
    )
    env = {
        **os.environ,
        "K3S_CONFIG_FILE": str(config),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "NVIDIA_SMI_STANDIN_GPUS": str(gpus),
    }
    agent = subprocess.Popen(
        [sys.executable, str(STANDIN), "agent"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while "g1 Ready" not in _nodes(tmp_path):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        manifests = tmp_path / "s1" / "server" / "manifests"
        assert (manifests / "runtimes.yaml").is_file()  # K3s's bundled RuntimeClasses
        containerd = (tmp_path / "g1" / "agent" / "etc" / "containerd" / "config.toml").read_text()
        # found at start; containerd config version 3 (K3s v1.32.2 on), as the pinned minor writes it
        assert "version = 3" in containerd and "runtimes.'nvidia']" in containerd
        assert str(bin_dir) in containerd
        plain = (tmp_path / "s1" / "agent" / "etc" / "containerd" / "config.toml").read_text()
        assert "nvidia" not in plain  # the server started without the runtime on its PATH
        chart = manifests / "plugin.yaml"
        helm_chart = (
            "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: p, namespace: kube-system}\n"
            "spec: {chart: nvidia-device-plugin, valuesContent: '%s'}\n"
        )
        assert _allocatable(tmp_path, "g1") is None  # no device plugin
        chart.write_text(helm_chart % "{}")
        label = _kubectl(tmp_path, "label", "node", "g1", "nvidia.com/gpu.present=true")
        assert label.stdout.strip() == "node/g1 labeled"
        assert _allocatable(tmp_path, "g1") is None  # plugin pods without the nvidia runtime
        chart.write_text(helm_chart % "{runtimeClassName: nvidia}")
        assert _allocatable(tmp_path, "g1") == "2"
        refused = _kubectl(tmp_path, "label", "node", "g1", "nvidia.com/gpu.present=false")
        assert refused.returncode == 1 and "--overwrite is false" in refused.stderr
        again = _kubectl(
            tmp_path, "label", "node", "g1", "nvidia.com/gpu.present=true", "--overwrite"
        )
        assert again.stdout.strip() == "node/g1 not labeled"
        _kubectl(tmp_path, "label", "node", "g1", "nvidia.com/gpu.present=false", "--overwrite")
        assert _allocatable(tmp_path, "g1") is None  # the chart's affinity no longer matches
        runtime = _kubectl(tmp_path, "get", "runtimeclass", "nvidia", "-o", "json")
        assert runtime.returncode == 0 and '"handler": "nvidia"' in runtime.stdout  # v1.31 ships it
    finally:
        agent.terminate()


def test_objects_from_the_manifests_directory_are_listed_and_annotated(cluster):
    """What the deploy controller applied is listed by kind, name and namespace; K3s's own
    local-path class is the default until it is annotated otherwise; nothing is installed;
    a custom object waits for its CRD (here cert-manager's chart with its CRDs) and its
    namespace, and is applied on the controller's next try."""
    import json

    tmp_path, _, _ = cluster
    manifests = tmp_path / "s1" / "server" / "manifests"
    deadline = time.monotonic() + 10
    while not (manifests / "local-storage.yaml").is_file():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (manifests / "mine.yaml").write_text(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: nfs}\nprovisioner: nfs.csi.k8s.io\n"
        "---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c, namespace: ml}\n"
        "spec: {secretName: c, issuerRef: {name: ca, kind: ClusterIssuer}, dnsNames: [a.lan]}\n"
    )
    classes = json.loads(_kubectl(tmp_path, "get", "storageclass", "-o", "json").stdout)["items"]
    assert sorted(c["metadata"]["name"] for c in classes) == ["local-path", "nfs"]
    local = json.loads(_kubectl(tmp_path, "get", "sc", "local-path", "-o", "json").stdout)
    assert local["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    key = "storageclass.kubernetes.io/is-default-class"
    refused = _kubectl(tmp_path, "annotate", "storageclass", "local-path", f"{key}=false")
    assert refused.returncode == 1 and "--overwrite is false" in refused.stderr
    done = _kubectl(
        tmp_path, "annotate", "storageclass", "local-path", f"{key}=false", "--overwrite"
    )
    assert done.returncode == 0, done.stderr
    local = json.loads(_kubectl(tmp_path, "get", "sc", "local-path", "-o", "json").stdout)
    assert local["metadata"]["annotations"][key] == "false"
    missing = _kubectl(tmp_path, "get", "sc", "nope", "-o", "json")
    assert missing.returncode == 1 and '"nope" not found' in missing.stderr
    # no cert-manager CRD and no namespace ml yet: the API server refuses the Certificate
    early = _kubectl(tmp_path, "get", "certificate", "c", "-n", "ml", "-o", "json")
    assert early.returncode == 1 and "NotFound" in early.stderr
    (manifests / "cm.yaml").write_text(
        "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: cert-manager, namespace: kube-system}\n"
        "spec: {chart: cert-manager, targetNamespace: cert-manager, createNamespace: true,"
        " valuesContent: 'crds: {enabled: true}'}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ml}\n"
    )
    assert json.loads(_kubectl(tmp_path, "get", "certificates", "-o", "json").stdout)["items"] == []
    in_ml = _kubectl(tmp_path, "get", "certificate", "c", "-n", "ml", "-o", "json")
    assert json.loads(in_ml.stdout)["spec"]["dnsNames"] == ["a.lan"]  # the retry applied it
    everywhere = json.loads(_kubectl(tmp_path, "get", "certificates", "-A", "-o", "json").stdout)
    assert [c["metadata"]["name"] for c in everywhere["items"]] == ["c"]


def test_resources_by_their_full_names_and_an_unknown_one_as_kubectl_says(cluster):
    import json

    tmp_path, _, _ = cluster
    manifests = tmp_path / "s1" / "server" / "manifests"
    deadline = time.monotonic() + 10
    while not (manifests / "local-storage.yaml").is_file():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    listed = _kubectl(tmp_path, "get", "storageclasses.storage.k8s.io", "-A", "-o", "json")
    assert [c["metadata"]["name"] for c in json.loads(listed.stdout)["items"]] == ["local-path"]
    unknown = _kubectl(tmp_path, "get", "widgets.example.com", "-A", "-o", "json")
    assert unknown.returncode == 1
    assert "the server doesn't have a resource type" in unknown.stderr


def _standin():
    """The stand-in as a module (it runs nothing on import)."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("k3s_standin", str(STANDIN))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("k3s_standin", loader))
    loader.exec_module(module)
    return module


def test_the_stand_in_accepts_exactly_the_flags_homeforge_checks_against():
    """One list of K3s's flags (the pinned minor's), in the inventory check and the stand-in:
    a flag K3s takes and homeforge refused (etcd-s3-session-token, a secret flag the
    check knew of but refused) or the reverse shows up here."""
    from homeforge.module_utils import load

    k3s = load("k3s")

    aliases, standin = set(k3s.ALIASES), _standin()
    assert standin.SERVER_FLAGS - aliases == set(k3s.SERVER_FLAGS)
    assert standin.AGENT_FLAGS - aliases == set(k3s.AGENT_FLAGS)
    assert set(k3s.SECRET_FLAGS) <= set(k3s.SERVER_FLAGS)
    for flag in ("etcd-s3-session-token", "etcd-s3-bucket-lookup-type", "etcd-s3-retention"):
        assert k3s.config_key_problems({flag: "x"}, "server") == [], flag


def test_a_first_server_restarted_with_another_token_is_refused_as_k3s_refuses_it(cluster):
    """The datastore is encrypted with the cluster's token: K3s will not start on it with
    another one (k3s-io/k3s#3888, #4640), the same token or its full K10 form starts."""
    tmp_path, port, server = cluster
    server.terminate()
    server.wait(timeout=10)
    kept = (tmp_path / "s1" / "server" / "token").read_text().strip()
    assert kept.startswith("K10") and kept.endswith("::server:sekrit")
    text = f"cluster-init: true\nhttps-listen-port: {port}\ncluster-cidr: 10.42.0.0/16\n"
    refused = _run(tmp_path, "s1", "server", text + "token: another")
    assert refused.returncode != 0
    assert "bootstrap data already found and encrypted with different token" in refused.stderr
    for token in ("sekrit", kept):
        again = _run(tmp_path, "s1", "server", text + f"token: {token}", wait=False)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and again.poll() is None, again.stderr
                time.sleep(0.05)
        again.terminate()
        again.wait(timeout=10)


def _restart(tmp_path, port, server, extra=""):
    server.terminate()
    server.wait(timeout=10)
    return _start(tmp_path, port, extra)


def _get(tmp_path, kind, name):
    import json

    found = _kubectl(tmp_path, "get", kind, name, "-o", "json")
    return json.loads(found.stdout) if found.returncode == 0 else None


DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def test_k3s_makes_local_path_the_default_again_at_start_unless_its_file_is_skipped(cluster):
    """K3s rewrites and applies its packaged local-storage.yaml at every start (k3s-io/k3s
    #3441, #11936): an annotation set through the API is gone after a restart. With
    local-storage.yaml.skip the file is rewritten but not applied, and the annotation
    stays; --disable local-storage deletes the class."""
    tmp_path, port, server = cluster
    _kubectl(tmp_path, "annotate", "sc", "local-path", f"{DEFAULT_CLASS}=false", "--overwrite")
    assert _get(tmp_path, "sc", "local-path")["metadata"]["annotations"][DEFAULT_CLASS] == "false"
    server = _restart(tmp_path, port, server)
    assert _get(tmp_path, "sc", "local-path")["metadata"]["annotations"][DEFAULT_CLASS] == "true"
    manifests = tmp_path / "s1" / "server" / "manifests"
    (manifests / "local-storage.yaml.skip").write_text("")
    _kubectl(tmp_path, "annotate", "sc", "local-path", f"{DEFAULT_CLASS}=false", "--overwrite")
    server = _restart(tmp_path, port, server)
    assert _get(tmp_path, "sc", "local-path")["metadata"]["annotations"][DEFAULT_CLASS] == "false"
    (manifests / "local-storage.yaml.skip").unlink()
    server = _restart(tmp_path, port, server, "\ndisable: [local-storage]")
    try:
        assert _get(tmp_path, "sc", "local-path") is None
        assert not (manifests / "local-storage.yaml").exists()
    finally:
        server.terminate()


def test_objects_stay_when_their_file_goes_and_come_back_only_when_it_is_applied(cluster):
    """A deleted manifest file leaves its objects in the cluster; an object deleted with
    kubectl comes back when its file changes, not before; one dropped from a file that
    changes is deleted (the AddOn owns it)."""
    tmp_path, port, server = cluster
    manifests = tmp_path / "s1" / "server" / "manifests"
    sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: %s}\nprovisioner: p\n"
    (manifests / "mine.yaml").write_text(sc % "a" + "---\n" + sc % "b")
    assert _get(tmp_path, "sc", "a") and _get(tmp_path, "sc", "b")
    deleted = _kubectl(tmp_path, "delete", "storageclass", "a")
    assert deleted.returncode == 0 and '"a" deleted' in deleted.stdout
    assert _get(tmp_path, "sc", "a") is None
    again = _kubectl(tmp_path, "delete", "storageclass", "a")
    assert again.returncode == 1 and "NotFound" in again.stderr
    assert _kubectl(tmp_path, "delete", "sc", "a", "--ignore-not-found").returncode == 0
    (manifests / "mine.yaml").write_text(sc % "a")  # changed: applied again, b dropped
    assert _get(tmp_path, "sc", "a") and _get(tmp_path, "sc", "b") is None
    (manifests / "mine.yaml").unlink()
    assert _get(tmp_path, "sc", "a")  # the file is gone, its object stays
    server = _restart(tmp_path, port, server)
    try:
        assert _get(tmp_path, "sc", "a")
    finally:
        server.terminate()


def test_a_change_to_an_immutable_field_is_refused_and_the_object_stays_as_it_was(cluster):
    """The API server refuses a StorageClass update that changes parameters (kubernetes
    ValidateStorageClassUpdate); K3s logs the error and the old class stays."""
    tmp_path, _, _ = cluster
    manifests = tmp_path / "s1" / "server" / "manifests"
    sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3%s}\nprovisioner: ebs.csi.aws.com\nparameters: {type: %s}\n"
    (manifests / "ebs.yaml").write_text(sc % ("", "gp3"))
    assert _get(tmp_path, "sc", "gp3")["parameters"] == {"type": "gp3"}
    (manifests / "ebs.yaml").write_text(sc % ("", "io2") + "---\n" + sc % ("-b", "io2"))
    assert _get(tmp_path, "sc", "gp3")["parameters"] == {"type": "gp3"}  # refused
    assert _get(tmp_path, "sc", "gp3-b")["parameters"] == {"type": "io2"}  # the rest applied
    _kubectl(tmp_path, "delete", "sc", "gp3")
    (manifests / "ebs.yaml").write_text(sc % ("", "io2"))  # deleted first: made anew
    assert _get(tmp_path, "sc", "gp3")["parameters"] == {"type": "io2"}


def test_readyz_etcd_answers_while_a_quorum_of_servers_runs(cluster):
    """Each server of an embedded-etcd cluster is a member; /readyz/etcd is ok with more
    than half of them running, fails without a quorum, and cannot be asked of a server
    that is down."""
    tmp_path, port, _ = cluster
    text = f"server: https://127.0.0.1:{port}\ntoken: sekrit\ncluster-cidr: 10.42.0.0/16"
    second = _run(tmp_path, "s2", "server", text, wait=False)
    try:
        deadline = time.monotonic() + 10
        while "s2" not in _nodes(tmp_path):
            assert time.monotonic() < deadline and second.poll() is None
            time.sleep(0.1)
        healthy = _kubectl(tmp_path, "get", "--raw", "/readyz/etcd")
        assert healthy.returncode == 0 and healthy.stdout.strip() == "ok"
        second.terminate()
        second.wait(timeout=10)
        standin = _standin()
        now = time.time()
        state = {
            "nodes": {
                name: {"labels": {"node-role.kubernetes.io/etcd": "true"}, "seen": seen}
                for name, seen in (("s1", now), ("s2", now - 60), ("s3", now))
            }
        }
        assert standin.readyz_etcd(state, "s1") == 0  # two of three: a quorum
        state["nodes"]["s3"]["seen"] = now - 60
        with pytest.raises(SystemExit):  # one of three: none
            standin.readyz_etcd(state, "s1")
        with pytest.raises(SystemExit):  # asked of a server that is down
            standin.readyz_etcd(state, "s2")
        assert standin.readyz_etcd({"nodes": {"s1": {"labels": {}}}}, "s1") == 0  # sqlite
    finally:
        second.terminate()


def test_a_token_file_left_empty_by_an_interrupted_start_is_written_again(cluster):
    """A server stopped while it wrote DATA/server/token once left it empty, and kubectl
    then failed with "token is not valid"; the token is now written whole or not at all."""
    tmp_path, port, server = cluster
    token = tmp_path / "s1" / "server" / "token"
    server.terminate()
    server.wait(timeout=10)
    token.write_text("")
    server = _start(tmp_path, port)
    try:
        assert token.read_text().startswith("K10") and token.stat().st_mode & 0o777 == 0o600
        assert "s1" in _nodes(tmp_path)
    finally:
        server.terminate()
