# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Validation rules for values that reach a command line, a file name or a config file.

One rule per kind, shared by the modules (at the point of use) and by
``homeforge inventory check`` (before any run). Standard library only, so the CLI
can load this file as plain Python, as it does ``mesh.py``.
"""

from __future__ import annotations

import re

# Linux interface names: at most IFNAMSIZ - 1 = 15 bytes. wg-quick's own rule is
# [a-zA-Z0-9_=+.-]{1,15}; a leading '-' is refused as well, so a name can never be
# read as an option by wg, ip or sysctl, and '.'/'..' are not names but directories.
# The whole rule as one pattern (for fullmatch), for callers that want a regex.
INTERFACE_NAME_RE = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9_=+.][A-Za-z0-9_=+.-]{0,14}")

# Peer (host) names, used in file names such as ``PEER.psk`` (never on a command line).
PEER_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,253}")


def interface_name_problem(value: object) -> str | None:
    """Why ``value`` is not a usable network interface name, or None when it is."""
    if not isinstance(value, str) or not value:
        return "an interface name must be a non-empty string"
    if not re.fullmatch(r"[A-Za-z0-9_=+.-]+", value):
        return "an interface name uses only letters, digits and _=+.-"
    if value.startswith("-"):
        return "an interface name must not start with '-'"
    if len(value) > 15:
        return "an interface name has at most 15 characters"
    if value in (".", ".."):
        return "'.' and '..' are not interface names"
    return None


def is_interface_name(value: object) -> bool:
    return interface_name_problem(value) is None


def is_peer_name(value: object) -> bool:
    """A mesh peer's name, safe to use in a file name (no '/', no whitespace)."""
    return isinstance(value, str) and PEER_NAME_RE.fullmatch(value) is not None


# Kernel parameter names as sysctl shows them (dotted). Each part becomes a path
# component under /proc/sys, so no part may be empty or hold a '/'.
SYSCTL_NAME_RE = re.compile(r"[A-Za-z0-9_:@+=-]+(\.[A-Za-z0-9_:@+=-]+)*")


def is_sysctl_name(value: object) -> bool:
    return isinstance(value, str) and SYSCTL_NAME_RE.fullmatch(value) is not None


# ---------------------------------------------------------------------------------
# Values that reach config files (wg.conf, systemd units, env files) and command lines.
# Each rule returns why a value is unusable, or None. Control characters are refused
# everywhere: a newline in a value is a new line in the file it lands in.

_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME_RE = re.compile(rf"(?=.{{1,253}}\Z){_DNS_LABEL}(\.{_DNS_LABEL})*\.?")

# Inventory host names: also the peer's name in wg.conf comments and in file names,
# so letters, digits, '_', '.', '-' (or an IP address); never a leading '-' or '.'.
INVENTORY_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")

# systemd unit names: the characters systemd allows, a known type suffix, no leading '-'.
UNIT_NAME_RE = re.compile(
    r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*"
    r"\.(service|socket|target|timer|mount|path|slice|scope|device|swap|automount)"
)

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# A URL path (and query) safe everywhere a URL goes: an env file sourced by sh, a systemd
# Environment= line, kubectl's argv. No '$', '`', '%', quotes, backslash or spaces.
URL_SUFFIX_RE = re.compile(r"(/[A-Za-z0-9._~!*+,;=:@&?-]*)*")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: object, what: str) -> str | None:
    """None when ``value`` is a non-empty string without control characters."""
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if _CONTROL.search(value):
        return f"{what} must not contain control characters (newline, tab, ...)"
    return None


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def address_problem(value: object) -> str | None:
    """An IP address or a DNS name (``ansible_host``, ``wireguard_endpoint``)."""
    problem = _text(value, "an address")
    if problem:
        return problem
    if _is_ip(value):
        return None
    if re.fullmatch(r"[0-9.]+", value):
        return "not a valid IPv4 address"
    if not DNS_NAME_RE.fullmatch(value):
        return "not an IP address or DNS name (letters, digits, '-' and '.')"
    return None


def inventory_name_problem(value: object) -> str | None:
    """An inventory host name: it names the peer in configs and file names."""
    problem = _text(value, "a host name")
    if problem:
        return problem
    if _is_ip(value) or INVENTORY_NAME_RE.fullmatch(value):
        return None
    return "a host name uses only letters, digits, '_', '.' and '-' (or is an IP address)"


def cidr_problem(value: object) -> str | None:
    """A network in CIDR form, host bits zero (``10.77.0.0/24``)."""
    import ipaddress

    problem = _text(value, "a CIDR")
    if problem:
        return problem
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        return f"not a valid CIDR ({exc})"
    return None


def port_problem(value: object) -> str | None:
    """A TCP/UDP port 1-65535 (an int, or its decimal digits as INI inventories give)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return "a port must be a whole number 1-65535"
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        return "a port must be a whole number 1-65535"
    return None


def unit_name_problem(value: object) -> str | None:
    """A systemd unit name such as ``api.service`` (never read as an option)."""
    problem = _text(value, "a unit name")
    if problem:
        return problem
    if not UNIT_NAME_RE.fullmatch(value):
        return "must be a systemd unit such as api.service (letters, digits, :_.@-; not starting with '-')"
    return None


def env_name_problem(value: object) -> str | None:
    if not isinstance(value, str) or not ENV_NAME_RE.fullmatch(value):
        return (
            "not a valid environment variable name (letters, digits, _; not starting with a digit)"
        )
    return None


def url_suffix_problem(value: object) -> str | None:
    """What follows ``host:port`` in a URL: a path (and query) starting with '/'."""
    if value == "":
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        return "must start with /"
    if not URL_SUFFIX_RE.fullmatch(value):
        return "may use only letters, digits and /._~!*+,;=:@&?- (no spaces, quotes, $, %, ` or \\)"
    return None


def absolute_path_problem(value: object) -> str | None:
    """An absolute file path without control characters, '..' or shell-special characters."""
    problem = _text(value, "a path")
    if problem:
        return problem
    if not value.startswith("/"):
        return "must be an absolute path"
    if ".." in value.split("/"):
        return "must not contain '..'"
    if not re.fullmatch(r"[A-Za-z0-9/._+@:,=-]+", value):
        return "may use only letters, digits and /._+@:,=-"
    return None


BIND_PLACEHOLDERS = ("address", "port")


def bind_value_problem(value: object) -> str | None:
    """A listen value with ``{address}`` and optionally ``{port}`` (``{address}:{port}``)."""
    problem = _text(value, "a bind value")
    if problem:
        return problem
    names = re.findall(r"\{([^{}]*)\}", value)
    unknown = [n for n in names if n not in BIND_PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}} (known: {{address}}, {{port}})"
    if "address" not in names:
        return "must contain {address}"
    filled = value.replace("{address}", "10.0.0.1").replace("{port}", "1")
    if not re.fullmatch(r"[A-Za-z0-9._:/\[\]-]+", filled):
        return "may use only letters, digits, the placeholders and ._:/[]-"
    return None


# Ansible's boolean rules (ansible.module_utils.parsing.convert_bool), as INI inventories
# give every value as a string: "false" must be false.
BOOLEANS_TRUE = frozenset(("y", "yes", "on", "1", "true", "t"))
BOOLEANS_FALSE = frozenset(("n", "no", "off", "0", "false", "f"))


def as_bool(value: object) -> bool:
    """The boolean Ansible reads from ``value``; ValueError when it reads none."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in BOOLEANS_TRUE:
            return True
        if text in BOOLEANS_FALSE:
            return False
    raise ValueError(f"{value!r} is not a boolean (true/false, yes/no, on/off, 1/0)")


def listen_problem(value: object) -> str | None:
    """``ADDRESS:PORT`` a service listens on (``[IPv6]:PORT`` for IPv6)."""
    problem = _text(value, "a listen address")
    if problem:
        return problem
    address, sep, port = value.rpartition(":")
    if not sep:
        return "must be ADDRESS:PORT"
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
        if not _is_ip(address):
            return "not an IPv6 address in brackets"
    return address_problem(address) or port_problem(port)


def env_value_problem(value: object) -> str | None:
    """A value for an environment variable: one line (it lands in a unit or env file)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return "an environment value must be a string or a number"
    if _CONTROL.search(str(value)):
        return "an environment value must be one line, without control characters"
    return None


def user_name_problem(value: object) -> str | None:
    """A system user or group name (useradd's portable rule)."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        return "a user name is lowercase letters, digits, _ and - (at most 32, not starting with a digit or -)"
    return None


def device_list_problem(value: object) -> str | None:
    """A device list such as ``CUDA_VISIBLE_DEVICES`` (indexes or UUIDs, comma-separated)."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z,-]*", value):
        return "a device list is indexes or UUIDs separated by commas"
    return None


def apt_source_problem(value: object) -> str | None:
    """One apt source line (``deb [options] URI SUITE [COMPONENT...]``); empty is none. It is
    written into sources.list.d: a second line would add a source nobody declared."""
    if value == "":
        return None
    problem = _text(value, "an apt source line")
    if problem:
        return problem
    match = re.fullmatch(r"deb(-src)? (\[([^\]\n]*)\] )?(\S+) \S+( \S+)*", str(value))
    if not match:
        return "must be one line: deb [options] URI SUITE [COMPONENT...]"
    options, uri = (match.group(3) or "").split(), match.group(4)
    if not uri.startswith(("https://", "file:")):
        return "the URI must be https:// (or file: for a directory on the host)"
    # Options that turn off apt's signature checks (sources.list(5)): only for a directory on
    # the host itself, never for a source reached over the network.
    unsafe = [o for o in options if o.split("=")[0].rstrip("+-") in _APT_UNSAFE_OPTIONS]
    if unsafe and not uri.startswith("file:"):
        return (
            f"option {unsafe[0]} turns off apt's signature checks (allowed only for file: sources)"
        )
    return None


_APT_UNSAFE_OPTIONS = ("trusted", "allow-insecure", "allow-weak", "allow-downgrade-to-insecure")


# Kubernetes names (RFC 1123): what a Certificate's dnsNames, an IngressRoute's Host()
# rule, a namespace or a Service accept. Lowercase only: the API server refuses upper case.
_K8S_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
K8S_DNS_NAME_RE = re.compile(rf"(?=.{{1,253}}\Z){_K8S_LABEL}(\.{_K8S_LABEL})*")
K8S_NAME_RE = re.compile(_K8S_LABEL)


def dns_name_problem(value: object) -> str | None:
    """A host name a certificate is issued for and a route matches (``ollama.lab.example``):
    lowercase letters, digits, '-' and '.', labels of 1-63, at most 253 in all, no wildcard."""
    problem = _text(value, "a DNS name")
    if problem:
        return problem
    if _is_ip(value):
        return "must be a DNS name, not an IP address"
    if not K8S_DNS_NAME_RE.fullmatch(value):
        return (
            "not a DNS name (lowercase letters, digits, '-' and '.'; labels of 1-63"
            " not starting or ending with '-'; at most 253 in all)"
        )
    return None


def kube_name_problem(value: object) -> str | None:
    """A Kubernetes namespace, Service or object name (an RFC 1123 label)."""
    problem = _text(value, "a Kubernetes name")
    if problem:
        return problem
    if not K8S_NAME_RE.fullmatch(value):
        return (
            "not a Kubernetes name (1-63 lowercase letters, digits and '-',"
            " starting and ending with a letter or digit)"
        )
    return None


def email_problem(value: object) -> str | None:
    """A mail address such as an ACME account's contact (``ops@example.org``)."""
    problem = _text(value, "an email address")
    if problem:
        return problem
    local, at, domain = value.rpartition("@")
    if not at or not re.fullmatch(r"[A-Za-z0-9._%+-]{1,64}", local):
        return "not an email address (name@domain)"
    if not DNS_NAME_RE.fullmatch(domain) or "." not in domain.strip("."):
        return "not an email address: the part after '@' must be a domain such as example.org"
    return None


def https_url_problem(value: object) -> str | None:
    """An https URL (``https://HOST[:PORT][/PATH]``), such as an ACME directory."""
    problem = _text(value, "an https URL")
    if problem:
        return problem
    match = re.fullmatch(r"https://([^/:?#]+)(?::([^/?#]*))?(.*)", value)
    if not match:
        return "must be an https URL (https://HOST[:PORT][/PATH])"
    host, port, rest = match.groups()
    host_problem = address_problem(host)
    if host_problem:
        return f"host {host!r}: {host_problem}"
    if port is not None and port_problem(port):
        return f"port {port!r}: {port_problem(port)}"
    return url_suffix_problem(rest) if rest else None


# AWS names. Partitions: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ... IAM names and
# paths use letters, digits and +=,.@_- (IAM's own rule); a role name has at most 64.
_PARTITION = r"aws(-[a-z]+)*"
IAM_ROLE_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:iam::[0-9]{{12}}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{{1,64}}"
)
KMS_KEY_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:kms:[a-z]{{2}}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]:[0-9]{{12}}:"
    r"(key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})"
)
AWS_REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
# EKS: 1-100 characters, a letter or digit first, then letters, digits, '-' and '_'.
EKS_CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def iam_role_arn_problem(value: object) -> str | None:
    """An IAM role's ARN (``arn:aws:iam::123456789012:role/NAME``)."""
    problem = _text(value, "an IAM role ARN")
    if problem:
        return problem
    if not IAM_ROLE_ARN_RE.fullmatch(value):
        return "not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME, a 12-digit account)"
    return None


def kms_key_arn_problem(value: object) -> str | None:
    """A KMS key's or alias's full ARN (the EBS CSI driver's ``kmsKeyId`` wants the ARN)."""
    problem = _text(value, "a KMS key ARN")
    if problem:
        return problem
    if not KMS_KEY_ARN_RE.fullmatch(value):
        return "not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID or :alias/NAME)"
    return None


def aws_region_problem(value: object) -> str | None:
    """An AWS region name such as ``eu-west-1``."""
    problem = _text(value, "an AWS region")
    if problem:
        return problem
    if not AWS_REGION_RE.fullmatch(value):
        return "not an AWS region (such as eu-west-1)"
    return None


def eks_cluster_name_problem(value: object) -> str | None:
    """An EKS cluster name (EKS's own rule)."""
    problem = _text(value, "an EKS cluster name")
    if problem:
        return problem
    if not EKS_CLUSTER_NAME_RE.fullmatch(value):
        return "an EKS cluster name is 1-100 letters, digits, '-' and '_', starting with a letter or digit"
    return None


EKS_ADDON_VERSION_RE = re.compile(r"default|latest|v[0-9]+\.[0-9]+\.[0-9]+-eksbuild\.[0-9]+")


def eks_addon_version_problem(value: object) -> str | None:
    """``default``, ``latest`` or an EKS add-on version such as ``v1.46.0-eksbuild.1``."""
    if not isinstance(value, str) or not EKS_ADDON_VERSION_RE.fullmatch(value):
        return "must be default, latest or an add-on version such as v1.46.0-eksbuild.1"
    return None


# EKS Hybrid Nodes: what nodeadm itself refuses in its NodeConfig (aws/eks-hybrid,
# internal/node/hybrid/validator.go: ssmActivationIDPattern, ssmActivationCodePattern,
# validateRolesAnywhereNode, hostnameOverrideFlag), checked before nodeadm runs. nodeadm
# repeats a bad activation code in its error; these rules never repeat it.
SSM_ACTIVATION_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
IAM_RA_NODE_NAME_MAX = 64


def ssm_activation_id_problem(value: object) -> str | None:
    """An SSM hybrid activation's id: a UUID in lower-case hex (8-4-4-4-12)."""
    if not isinstance(value, str) or not SSM_ACTIVATION_ID_RE.fullmatch(value):
        return (
            "not an SSM activation id (a UUID in lower-case hex, 8-4-4-4-12, as"
            " aws ssm create-activation gives it)"
        )
    return None


def ssm_activation_code_problem(value: object) -> str | None:
    """An SSM hybrid activation's code: 20 to 250 characters, one line. A secret: the
    problem never repeats it."""
    if not isinstance(value, str) or _CONTROL.search(value):
        return "an SSM activation code is one line of text (value not shown: it is secret)"
    if not 20 <= len(value) <= 250:
        return (
            f"an SSM activation code has 20 to 250 characters, this one {len(value)}"
            " (value not shown: it is secret)"
        )
    return None


def iam_ra_node_name_problem(value: object) -> str | None:
    """A hybrid node's name with IAM Roles Anywhere: at most 64 characters."""
    problem = _text(value, "a node name")
    if problem:
        return problem
    if len(value) > IAM_RA_NODE_NAME_MAX:
        return (
            f"nodeadm takes a node name of at most {IAM_RA_NODE_NAME_MAX} characters with"
            f" IAM Roles Anywhere, this one has {len(value)}"
        )
    return None


def kubelet_flag_problem(value: object) -> str | None:
    """A kubelet flag for a hybrid node's NodeConfig: one line, never --hostname-override
    (the node's name is its SSM managed instance id or its IAM Roles Anywhere node name)."""
    problem = _text(value, "a kubelet flag")
    if problem:
        return problem
    if value == "--hostname-override" or value.startswith("--hostname-override="):
        return "nodeadm refuses --hostname-override on a hybrid node (it names the node itself)"
    return None


def base64_problem(value: object) -> str | None:
    """Base64 text that decodes strictly: the standard alphabet, padded, nothing else."""
    import base64
    import binascii

    problem = _text(value, "base64 data")
    if problem:
        return problem
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "not base64 (A-Z, a-z, 0-9, + and /, padded with = to a multiple of 4)"
    return None


# Release versions (K3s ``v1.31.4+k3s1``, Ollama ``0.12.3``, nodeadm ``v1.0.8``, chart
# ``40.1.0``, Debian ``1.17.8-1``): digits and dots, then pre-release/build parts of letters
# and digits joined by '.', '-', '+' or '~'. Anchored at both ends: a version becomes a
# directory name and part of a URL, so '/', '..' and anything after a newline never pass.
VERSION_RE = re.compile(r"v?[0-9]+(\.[0-9]+)*([-+~][0-9A-Za-z]+(\.[0-9A-Za-z]+)*)*")


def version_problem(value: object) -> str | None:
    """A release version such as ``v1.31.4+k3s1`` or ``0.12.3`` (never a path)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return "a version must be a string such as 1.2.3 or v1.31.4+k3s1"
    text = str(value)
    if _CONTROL.search(text) or not VERSION_RE.fullmatch(text):
        return (
            "not a release version (digits and dots, optionally v first and -/+/~ parts of"
            " letters and digits, such as 0.12.3 or v1.31.4+k3s1)"
        )
    return None


def sha256_problem(value: object) -> str | None:
    """A SHA-256 digest in hex (64 characters)."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return "a sha256 is 64 hexadecimal characters"
    return None


# A container image pinned by its content (the OCI distribution spec's reference grammar,
# simplified: an optional registry host[:port], lowercase path components, an optional
# tag, then @sha256: and the manifest's 64 hex digits). A tag alone moves; a digest does not.
IMAGE_DIGEST_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64}"
)


def image_digest_problem(value: object) -> str | None:
    """A container image pinned by digest: ``ghcr.io/berriai/litellm:v1.108.7@sha256:<64 hex>``."""
    if not isinstance(value, str) or _CONTROL.search(value) or not IMAGE_DIGEST_RE.fullmatch(value):
        return (
            "not an image pinned by digest (REGISTRY/NAME[:TAG]@sha256: and 64 lowercase hex"
            " digits, as `crane digest` or `skopeo inspect` gives it)"
        )
    return None


# A Kubernetes quantity for a volume's size: a whole number with a binary or decimal suffix.
QUANTITY_RE = re.compile(r"[1-9][0-9]{0,5}(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)")


def quantity_problem(value: object) -> str | None:
    """A storage size as Kubernetes reads it (``1Gi``, ``500Mi``)."""
    if not isinstance(value, str) or not QUANTITY_RE.fullmatch(value):
        return "not a storage size (a whole number and a unit such as 512Mi or 10Gi)"
    return None


RULES = {
    "address": address_problem,
    "inventory_name": inventory_name_problem,
    "interface_name": interface_name_problem,
    "cidr": cidr_problem,
    "port": port_problem,
    "unit_name": unit_name_problem,
    "env_name": env_name_problem,
    "env_value": env_value_problem,
    "url_suffix": url_suffix_problem,
    "absolute_path": absolute_path_problem,
    "bind_value": bind_value_problem,
    "listen": listen_problem,
    "user_name": user_name_problem,
    "device_list": device_list_problem,
    "apt_source": apt_source_problem,
    "dns_name": dns_name_problem,
    "kube_name": kube_name_problem,
    "email": email_problem,
    "https_url": https_url_problem,
    "iam_role_arn": iam_role_arn_problem,
    "kms_key_arn": kms_key_arn_problem,
    "aws_region": aws_region_problem,
    "eks_cluster_name": eks_cluster_name_problem,
    "eks_addon_version": eks_addon_version_problem,
    "ssm_activation_id": ssm_activation_id_problem,
    "ssm_activation_code": ssm_activation_code_problem,
    "iam_ra_node_name": iam_ra_node_name_problem,
    "kubelet_flag": kubelet_flag_problem,
    "base64": base64_problem,
    "version": version_problem,
    "sha256": sha256_problem,
    "image_digest": image_digest_problem,
    "quantity": quantity_problem,
}
