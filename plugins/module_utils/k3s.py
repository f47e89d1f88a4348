# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What K3s accepts in /etc/rancher/k3s/config.yaml, as data (standard library only).

Keys are K3s's CLI flags without ``--`` (server: ``k3s server --help``, agent:
``k3s agent --help``; docs.k3s.io/cli/server and /cli/agent), hidden ones included, as
K3s's pkg/cli/cmds/server.go and agent.go declare them on the release-1.36 branch
(v1.36.1 and later, the pinned minor; the flag names are the same on 1.33-1.36):
etcd-s3-session-token (v1.32), etcd-s3-bucket-lookup-type and etcd-s3-retention (v1.33),
and the hidden supervisor-port, apiserver-port, apiserver-bind-address,
kube-controller-arg and kube-cloud-controller-arg.
K3s itself skips an unknown key on a server with only a warning and refuses to
start an agent with one; homeforge refuses both before any run. The critical flags
must be equal on every server (K3s's CriticalControlArgs), or a server's join is
refused ("critical configuration value mismatch between servers").
"""

from __future__ import annotations

import re

_COMMON = """
config debug v vmodule log alsologtostderr token token-file server data-dir node-name with-node-id
node-label node-taint image-credential-provider-bin-dir image-credential-provider-config selinux
lb-server-port protect-kernel-defaults container-runtime-endpoint default-runtime
image-service-endpoint pause-image snapshotter private-registry disable-default-registry-endpoint
nonroot-devices node-ip bind-address node-external-ip node-internal-dns node-external-dns resolv-conf
flannel-iface flannel-conf flannel-cni-conf kubelet-arg kube-proxy-arg enable-pprof rootless
prefer-bundled-bin docker vpn-auth vpn-auth-file airgap-extra-registry
"""
AGENT_FLAGS = frozenset((_COMMON + " disable-apiserver-lb").split())
SERVER_FLAGS = frozenset(
    (
        _COMMON
        + """
https-listen-port advertise-address advertise-port tls-san tls-san-security cluster-cidr service-cidr
service-node-port-range cluster-dns cluster-domain flannel-backend flannel-ipv6-masq
flannel-external-ip egress-selector-mode servicelb-namespace write-kubeconfig write-kubeconfig-mode
write-kubeconfig-group helm-job-image agent-token agent-token-file cluster-init cluster-reset
cluster-reset-restore-path datastore-endpoint datastore-cafile datastore-certfile datastore-keyfile
etcd-expose-metrics etcd-disable-snapshots etcd-snapshot-name etcd-snapshot-schedule-cron
etcd-snapshot-retention etcd-snapshot-dir etcd-snapshot-compress etcd-snapshot-reconcile-interval
etcd-s3 etcd-s3-endpoint etcd-s3-endpoint-ca etcd-s3-skip-ssl-verify etcd-s3-access-key
etcd-s3-secret-key etcd-s3-bucket etcd-s3-region etcd-s3-folder etcd-s3-proxy etcd-s3-config-secret
etcd-s3-insecure etcd-s3-timeout kube-apiserver-arg etcd-arg kube-controller-manager-arg
kube-scheduler-arg kube-cloud-controller-manager-arg default-local-storage-path disable
disable-scheduler disable-cloud-controller disable-kube-proxy disable-network-policy
disable-helm-controller embedded-registry supervisor-metrics system-default-registry
secrets-encryption secrets-encryption-provider disable-agent kine-tls disable-apiserver
disable-controller-manager disable-etcd
etcd-s3-session-token etcd-s3-bucket-lookup-type etcd-s3-retention supervisor-port apiserver-port
apiserver-bind-address kube-controller-arg kube-cloud-controller-arg
"""
    ).split()
)
ALIASES = {"c": "config", "l": "log", "o": "write-kubeconfig", "t": "token", "s": "server",
           "d": "data-dir", "i": "node-ip"}  # fmt: skip
CRITICAL = (
    "cluster-cidr",
    "cluster-dns",
    "cluster-domain",
    "disable-cloud-controller",
    "disable-helm-controller",
    "disable-network-policy",
    "secrets-encryption",
    "secrets-encryption-provider",
    "embedded-registry",
    "flannel-backend",
    "flannel-ipv6-masq",
    "flannel-external-ip",
    "egress-selector-mode",
    "service-cidr",
    "supervisor-metrics",
    "agent-token",
)
# Set by the roles themselves (a value in k3s_*_config would fight them). The kubeconfig K3s
# writes holds the cluster admin's key: its mode is the role's (0600), never an inventory's.
MANAGED = ("token", "token-file", "server", "cluster-init", "node-name", "write-kubeconfig-mode")
# Flags whose values are secrets (k3s server --help): never shown, logged or diffed. The
# datastore endpoint carries a database password in its URL.
SECRET_FLAGS = (
    "token",
    "agent-token",
    "etcd-s3-access-key",
    "etcd-s3-secret-key",
    "etcd-s3-session-token",
    "datastore-endpoint",
    "vpn-auth",
)


VERSION_RE = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+\Z")


def config_key_problems(settings: object, kind: str) -> list[tuple[str, str]]:
    """(key, why) for each key of a K3s config mapping that K3s or the role would not take."""
    if not isinstance(settings, dict):
        return [("", "must be a mapping of K3s flags (without --) to values")]
    valid = SERVER_FLAGS if kind == "server" else AGENT_FLAGS
    problems = []
    for raw in settings:
        key = ALIASES.get(str(raw).rstrip("+"), str(raw).rstrip("+"))
        if key in MANAGED:
            problems.append(
                (
                    str(raw),
                    "is set by the role (token: k3s_token; server: k3s_api_endpoint;"
                    " write-kubeconfig-mode: always 0600)",
                )
            )
        elif key not in valid:
            other = SERVER_FLAGS if kind == "agent" else AGENT_FLAGS
            hint = f" (a {'server' if kind == 'agent' else 'agent'} flag)" if key in other else ""
            problems.append((str(raw), f"is not a K3s {kind} flag{hint}"))
    return problems


def critical_values(settings: dict) -> dict:
    """The critical flags as K3s compares them (``disable: servicelb`` included)."""
    out = {key: settings.get(key) for key in CRITICAL}
    disabled = settings.get("disable") or []
    disabled = disabled if isinstance(disabled, list) else [disabled]
    out["disable=servicelb"] = "servicelb" in [str(d) for d in disabled]
    return out


# The first release of each minor whose packaged manifests carry runtimes.yaml, the
# RuntimeClasses nvidia, nvidia-experimental, crun, ... (k3s-io/k3s#8936, in v1.28.5+k3s1
# and every minor from 1.29 on; backported in December 2023 by #9013 to v1.27.9+k3s1 and by
# #9014 to v1.26.12+k3s1; 1.25 had no release after its backport #9024). The K3s stand-in
# keeps the same table (tests/standins/k3s), and a unit test keeps the two equal.
RUNTIMECLASS_SINCE = {(1, 26): (1, 26, 12), (1, 27): (1, 27, 9), (1, 28): (1, 28, 5)}
RUNTIMECLASS_EVERY_MINOR_FROM = (1, 29)


def ships_nvidia_runtimeclass(version: str) -> bool:
    """Whether K3s release ``version`` (``v1.27.9+k3s1``) applies the nvidia RuntimeClass."""
    found = re.match(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)", str(version))
    if not found:
        raise ValueError(f"not a K3s release version: {version!r}")
    release = tuple(int(part) for part in found.groups())
    if release[:2] >= RUNTIMECLASS_EVERY_MINOR_FROM:
        return True
    since = RUNTIMECLASS_SINCE.get(release[:2])
    return since is not None and release >= since
