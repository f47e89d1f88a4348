# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The EBS CSI driver's StorageClasses: the rules an inventory's classes must keep.

One place for what ``homeforge inventory check`` reports and what the ``ebs_csi`` role
asserts before it applies anything (through the ``ebs_storage_class_problems`` filter).
Standard library only, so the CLI loads this file as plain Python.

Facts it relies on (checked against upstream, see roles/ebs_csi/README.md):

- The parameters are the driver's CreateVolume parameters (kubernetes-sigs/aws-ebs-csi-driver
  docs/parameters.md and pkg/driver/controller.go): keys are matched case-insensitively
  (the driver lower-cases them) except ``csi.storage.k8s.io/fstype`` and the
  ``tagSpecification_N`` prefix; any other key fails provisioning with "Invalid parameter
  key". Booleans count only when they are exactly ``"true"`` (the driver compares the
  string), so ``"True"`` would silently mean false: refused here.
- IOPS and throughput ranges are EC2's CreateVolume limits (AWS EC2 API reference, 2025:
  gp3 3,000-80,000 IOPS and 125-2,000 MiB/s since September 2025; io1 100-64,000;
  io2 100-256,000); the driver passes them through. gp3 throughput is at most 0.25 MiB/s
  per provisioned IOPS; IOPS per GiB at most 500 (gp3), 50 (io1), 1,000 (io2).
- ``parameters``, ``provisioner``, ``reclaimPolicy`` and ``volumeBindingMode`` of a
  StorageClass cannot be changed in place (the API server refuses the update): a class
  whose immutable fields differ is replaced (:func:`replacements`). Volumes already
  provisioned keep their own settings.
"""

from __future__ import annotations

import contextlib
import difflib
import re

try:
    from ansible_collections.homeforge.homelab.plugins.module_utils import validation as rules
except ImportError:  # loaded as plain Python by the homeforge CLI (homeforge.module_utils)
    import homeforge_module_utils_validation as rules  # type: ignore[no-redef]

PROVISIONER = "ebs.csi.aws.com"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"

VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "st1", "sc1", "standard", "sbp1", "sbg1")
FS_TYPES = ("ext4", "xfs", "ext3", "ext2")

# volume type -> (min IOPS, max IOPS, max IOPS per GiB)
IOPS_LIMITS = {
    "gp3": (3000, 80000, 500),
    "io1": (100, 64000, 50),
    "io2": (100, 256000, 1000),
}
GP3_THROUGHPUT = (125, 2000)  # MiB/s
GP3_THROUGHPUT_PER_IOPS = 0.25  # MiB/s
GP3_DEFAULT_IOPS = 3000
INITIALIZATION_RATE = (100, 300)  # MiB/s, volumes created from a snapshot

# The driver's parameters, by their lower-case key (the driver matches them so).
_NUMBERS = ("iops", "iopsPerGB", "throughput", "volumeInitializationRate")
_BOOLEANS = ("encrypted", "allowAutoIOPSPerGBIncrease", "blockExpress", "ext4BigAlloc")
_FORMAT = ("blockSize", "inodeSize", "bytesPerInode", "numberOfInodes", "ext4ClusterSize")
PARAMETERS = {key.lower(): key for key in ("type", "kmsKeyId", *_NUMBERS, *_BOOLEANS, *_FORMAT)}
FSTYPE_KEY = "csi.storage.k8s.io/fstype"  # case-sensitive (read by the external-provisioner)
TAG_KEY_RE = re.compile(r"tagSpecification_[0-9]+")

# Keys of one class in the inventory, with what the role does when one is left out.
CLASS_KEYS = {
    "name": None,
    "parameters": {},
    "default": False,
    "reclaim_policy": "Delete",
    "volume_binding_mode": "WaitForFirstConsumer",
    "allow_volume_expansion": True,
}
RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("WaitForFirstConsumer", "Immediate")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def parameter_value(value: object) -> str:
    """What a StorageClass parameter holds: a string (YAML true -> "true", 4000 -> "4000")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value):
        return int(value)
    return None


def _is_true(value: object) -> bool:
    return parameter_value(value) == "true"


def parameter_problems(parameters: object) -> list[str]:
    """Everything wrong with one class's parameters, each as ``KEY: what``."""
    if not isinstance(parameters, dict):
        return [f"parameters must be a mapping, not {type(parameters).__name__}"]
    found: list[str] = []
    known: dict[str, object] = {}  # canonical key -> value
    for key, value in parameters.items():
        key = str(key)
        canonical = PARAMETERS.get(key.lower())
        if key == FSTYPE_KEY or TAG_KEY_RE.fullmatch(key):
            canonical = key
        elif key.lower() in ("fstype", FSTYPE_KEY):
            found.append(
                f"{key}: use {FSTYPE_KEY} (fsType is deprecated; the key is case-sensitive)"
            )
            continue
        elif canonical is None:
            near = difflib.get_close_matches(key.lower(), PARAMETERS, n=1)
            hint = (
                f"did you mean {PARAMETERS[near[0]]}?"
                if near
                else "its parameters: roles/ebs_csi/README.md"
            )
            found.append(f"{key}: not a parameter of the EBS CSI driver ({hint})")
            continue
        if canonical in known:
            found.append(f"{key}: given twice (the driver reads parameter keys case-insensitively)")
            continue
        if isinstance(value, (dict, list)) or value is None:
            found.append(f"{key}: must be a single value, not {type(value).__name__}")
            continue
        if _CONTROL.search(parameter_value(value)):
            found.append(f"{key}: must not contain control characters")
            continue
        known[canonical] = value
    return found + _value_problems(known)


def _value_problems(p: dict[str, object]) -> list[str]:
    found: list[str] = []
    volume_type = parameter_value(p.get("type", "gp3"))
    if volume_type not in VOLUME_TYPES:
        found.append(f"type: {volume_type!r} is not an EBS volume type ({', '.join(VOLUME_TYPES)})")
    for key in _NUMBERS:
        if key in p and (_number(p[key]) is None or _number(p[key]) <= 0):
            found.append(f"{key}: {p[key]!r} is not a whole number above 0")
    for key in _BOOLEANS:
        if key in p and parameter_value(p[key]) not in ("true", "false"):
            found.append(
                f"{key}: {p[key]!r} must be true or false (the driver reads anything else as false)"
            )
    for key in _FORMAT:
        if key in p and not re.fullmatch(r"[A-Za-z0-9]+", parameter_value(p[key])):
            found.append(f"{key}: {p[key]!r} must be letters and digits (a size such as 4096)")
    if FSTYPE_KEY in p and parameter_value(p[FSTYPE_KEY]) not in FS_TYPES:
        found.append(f"{FSTYPE_KEY}: {p[FSTYPE_KEY]!r} is not one of {', '.join(FS_TYPES)}")
    for key in [k for k in p if TAG_KEY_RE.fullmatch(k)]:
        if "=" not in parameter_value(p[key]):
            found.append(f"{key}: {p[key]!r} must be KEY=VALUE")
    if "kmsKeyId" in p:
        problem = rules.kms_key_arn_problem(parameter_value(p["kmsKeyId"]))
        if problem:
            found.append(f"kmsKeyId: {problem}")
        elif not _is_true(p.get("encrypted", True)):  # the role encrypts unless told not to
            found.append("kmsKeyId: needs encrypted: true (EBS encrypts with the key only then)")
    return found + _performance_problems(volume_type, p) + _format_problems(p)


def _performance_problems(volume_type: str, p: dict[str, object]) -> list[str]:
    found: list[str] = []
    iops, per_gb, throughput = (_number(p.get(k)) for k in ("iops", "iopsPerGB", "throughput"))
    if "iops" in p and "iopsPerGB" in p:
        found.append(
            "iops and iopsPerGB: give one of them, not both (the driver refuses the class)"
        )
    limits = IOPS_LIMITS.get(volume_type)
    if limits is None:
        found += [
            f"{k}: {volume_type} volumes take no provisioned IOPS (only {', '.join(IOPS_LIMITS)})"
            for k in ("iops", "iopsPerGB")
            if k in p
        ]
    else:
        low, high, per_gib = limits
        if iops is not None and not low <= iops <= high:
            found.append(f"iops: {iops} is outside {volume_type}'s range {low}-{high}")
        if per_gb is not None and per_gb > per_gib:
            found.append(
                f"iopsPerGB: {per_gb} is above {volume_type}'s maximum of {per_gib} IOPS per GiB"
            )
        if volume_type in ("io1", "io2") and "iops" not in p and "iopsPerGB" not in p:
            found.append(f"iops: {volume_type} volumes need iops or iopsPerGB")
    if "throughput" in p and volume_type != "gp3":
        found.append(
            f"throughput: only gp3 volumes take a throughput (this class is {volume_type})"
        )
    elif throughput is not None:
        low, high = GP3_THROUGHPUT
        if not low <= throughput <= high:
            found.append(f"throughput: {throughput} MiB/s is outside gp3's range {low}-{high}")
        elif per_gb is None:
            ceiling = int((iops or GP3_DEFAULT_IOPS) * GP3_THROUGHPUT_PER_IOPS)
            if throughput > ceiling:
                found.append(
                    f"throughput: {throughput} MiB/s needs at least {int(throughput / GP3_THROUGHPUT_PER_IOPS)}"
                    f" IOPS (gp3 gives at most {GP3_THROUGHPUT_PER_IOPS} MiB/s per IOPS; this class has"
                    f" {iops or GP3_DEFAULT_IOPS})"
                )
    if "blockExpress" in p and volume_type != "io2":
        found.append(
            f"blockExpress: only io2 volumes are Block Express (this class is {volume_type})"
        )
    rate = _number(p.get("volumeInitializationRate"))
    if rate is not None and not INITIALIZATION_RATE[0] <= rate <= INITIALIZATION_RATE[1]:
        found.append(
            f"volumeInitializationRate: {rate} MiB/s is outside EBS's range"
            f" {INITIALIZATION_RATE[0]}-{INITIALIZATION_RATE[1]}"
        )
    return found


def _format_problems(p: dict[str, object]) -> list[str]:
    found: list[str] = []
    fstype = parameter_value(p.get(FSTYPE_KEY, "ext4"))
    if "ext4ClusterSize" in p and not _is_true(p.get("ext4BigAlloc", False)):
        found.append("ext4ClusterSize: needs ext4BigAlloc: true")
    if fstype != "ext4":
        found += [
            f"{k}: only for ext4 (this class formats {fstype})"
            for k in ("ext4BigAlloc", "ext4ClusterSize")
            if k in p
        ]
    if fstype == "xfs":
        found += [f"{k}: not for xfs" for k in ("bytesPerInode", "numberOfInodes") if k in p]
    return found


def _class_problems(entry: dict, where: str) -> list[str]:
    found = [
        f"{where}: {key}: unknown key (a class has {', '.join(CLASS_KEYS)})"
        for key in entry
        if key not in CLASS_KEYS
    ]
    for key in ("default", "allow_volume_expansion"):
        if key in entry and not isinstance(entry[key], bool):
            try:
                rules.as_bool(entry[key])
            except ValueError as exc:
                found.append(f"{where}: {key}: {exc}")
    if entry.get("reclaim_policy", "Delete") not in RECLAIM_POLICIES:
        found.append(
            f"{where}: reclaim_policy: {entry['reclaim_policy']!r} is not Delete or Retain"
        )
    if entry.get("volume_binding_mode", "WaitForFirstConsumer") not in BINDING_MODES:
        found.append(
            f"{where}: volume_binding_mode: {entry['volume_binding_mode']!r} is not"
            f" WaitForFirstConsumer or Immediate"
        )
    found += [f"{where}: parameters: {p}" for p in parameter_problems(entry.get("parameters", {}))]
    return found


def storage_class_problems(classes: object) -> list[str]:
    """Everything wrong with the inventory's list of classes, one line per problem."""
    if not isinstance(classes, list):
        return [f"must be a list of classes, not {type(classes).__name__}"]
    found: list[str] = []
    names: list[str] = []
    defaults = 0
    for index, entry in enumerate(classes):
        if not isinstance(entry, dict):
            found.append(f"[{index}]: a class is a mapping with name and parameters")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            found.append(
                f"[{index}]: name: {name!r} is not a Kubernetes name (lowercase letters, digits, '-', '.')"
            )
            where = f"[{index}]"
        else:
            where = name
            if name in names:
                found.append(f"{name}: name: two classes have this name")
            names.append(name)
        found += _class_problems(entry, where)
        with contextlib.suppress(ValueError):  # reported above
            defaults += rules.as_bool(entry.get("default", False))
    if defaults > 1:
        found.append(f"default: {defaults} classes are marked default; at most one may be")
    return found


def replacements(existing: object, desired: object) -> list[str]:
    """Names of the StorageClasses the cluster has whose immutable fields differ from the
    desired objects': they are deleted before being applied again."""
    current = {
        (obj.get("metadata") or {}).get("name"): obj
        for obj in (existing or [])
        if isinstance(obj, dict) and obj.get("kind", "StorageClass") == "StorageClass"
    }
    names = []
    for want in desired or []:
        have = current.get(want["metadata"]["name"])
        if have is None:
            continue
        same = (
            have.get("provisioner") == want.get("provisioner")
            and (have.get("parameters") or {}) == (want.get("parameters") or {})
            and have.get("reclaimPolicy", "Delete") == want.get("reclaimPolicy", "Delete")
            and have.get("volumeBindingMode", "Immediate")
            == want.get("volumeBindingMode", "Immediate")
        )
        if not same:
            names.append(want["metadata"]["name"])
    return names
