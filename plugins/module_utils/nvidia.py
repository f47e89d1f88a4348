# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""NVIDIA GPUs on a host: the PCI scan and nvidia-smi's output, as pure functions.

Used by the ``nvidia_gpu_facts`` module (on the host, python3 3.7 and later) and loadable
as plain Python by the tests. Standard library only.

What is read, and in which form:

- sysfs: ``<root>/bus/pci/devices/<bus id>/{vendor,device,class}``, one hex word each
  (``0x10de``, ``0x2204``, ``0x030000``); the ``driver`` link names the bound kernel driver.
- ``nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id
  --format=csv,noheader,nounits``: one line per GPU, values separated by ``", "``, e.g.
  ``0, NVIDIA GeForce RTX 3090, 24576, 550.127.05, 00000000:01:00.0`` (an 8-digit PCI
  domain and upper-case hex digits); a value the GPU does not report reads ``[N/A]``.
- ``nvidia-smi -q -x``: the XML report, root ``<nvidia_smi_log>`` with ``<driver_version>``
  and, since about driver 410, ``<cuda_version>`` (absent before). It starts with a
  DOCTYPE naming a DTD file (``nvsmi_device_v12.dtd``) that is not shipped; the parser
  here never fetches it.
"""

from __future__ import annotations

import os
import re

NVIDIA_VENDOR = "0x10de"
# PCI base class 0x03: display controllers (0x0300 VGA, 0x0302 3D, 0x0380 other). An
# NVIDIA GPU's HDMI audio function (0x0403) and NVIDIA bridges are other classes.
DISPLAY_CLASS_PREFIX = "0x03"

QUERY_FIELDS = ("index", "name", "memory.total", "driver_version", "pci.bus_id")
QUERY_ARGS = ("--query-gpu=" + ",".join(QUERY_FIELDS), "--format=csv,noheader,nounits")
XML_ARGS = ("-q", "-x")

# What nvidia-smi prints for a value a GPU or driver does not report.
NOT_AVAILABLE = frozenset(
    ("N/A", "[N/A]", "Not Supported", "[Not Supported]", "Unknown Error", "[Unknown Error]")
)

_BUS_ID = re.compile(r"([0-9A-Fa-f]{1,8}):([0-9A-Fa-f]{1,2}):([0-9A-Fa-f]{1,2})\.([0-7])\Z")
_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*\Z")
_MIB = re.compile(r"([0-9]+)(\s*MiB)?\Z")


class NvidiaSmiParseError(ValueError):
    """Output from nvidia-smi that is not in the form this module reads."""


def available(value: str | None) -> str | None:
    """``value`` stripped, or None for nvidia-smi's not-available markers and empty text."""
    if value is None:
        return None
    value = value.strip()
    if not value or value in NOT_AVAILABLE:
        return None
    return value


def normalise_bus_id(value: str) -> str:
    """nvidia-smi's ``00000000:01:00.0`` in sysfs's form ``0000:01:00.0`` (lower case, a
    domain of at least 4 hex digits, as the kernel names the device directory)."""
    match = _BUS_ID.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise NvidiaSmiParseError(f"{value!r} is not a PCI bus id (domain:bus:device.function)")
    domain, bus, device, function = match.groups()
    return f"{int(domain, 16):04x}:{int(bus, 16):02x}:{int(device, 16):02x}.{function}"


def first_line(*texts: str) -> str:
    """The first non-empty line of the first text that has one ("" when none has)."""
    for text in texts:
        for line in (text or "").splitlines():
            if line.strip():
                return line.strip()
    return ""


def parse_query_csv(text: str) -> list[dict]:
    """The GPUs in the output of ``nvidia-smi`` run with QUERY_ARGS.

    Each: ``index`` (int), ``name``, ``memory_total_mib`` (int, or None for ``[N/A]``),
    ``driver_version`` and ``pci_bus_id`` (sysfs form). NvidiaSmiParseError names the line
    that is not in that form.
    """
    gpus = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        values = [v.strip() for v in line.split(",")]
        where = f"line {number} ({line.strip()[:120]!r})"
        if len(values) != len(QUERY_FIELDS):
            raise NvidiaSmiParseError(
                f"{where}: {len(values)} values where {len(QUERY_FIELDS)} were asked for "
                f"({', '.join(QUERY_FIELDS)})"
            )
        index, name, memory, driver, bus_id = values
        if not index.isdigit():
            raise NvidiaSmiParseError(f"{where}: index {index!r} is not a number")
        memory = available(memory)
        memory_match = _MIB.match(memory) if memory is not None else None
        if memory is not None and not memory_match:
            raise NvidiaSmiParseError(f"{where}: memory.total {memory!r} is not MiB")
        driver = available(driver)
        if driver is not None and not _VERSION.match(driver):
            raise NvidiaSmiParseError(f"{where}: driver_version {driver!r} is not a version")
        bus_id = available(bus_id)
        try:
            bus_id = normalise_bus_id(bus_id) if bus_id is not None else None
        except NvidiaSmiParseError as exc:
            raise NvidiaSmiParseError(f"{where}: {exc}") from None
        gpus.append(
            {
                "index": int(index),
                "name": available(name),
                "memory_total_mib": int(memory_match.group(1)) if memory_match else None,
                "driver_version": driver,
                "pci_bus_id": bus_id,
            }
        )
    return gpus


def parse_xml_report(text: str) -> dict:
    """``driver_version``, ``cuda_version`` (None when the report has none, as before
    driver 410, or says N/A) and ``gpus`` (``pci_bus_id``, ``name``, ``memory_total_mib``)
    from ``nvidia-smi -q -x``.

    The DOCTYPE's external DTD is not loaded (ElementTree never fetches one); a report
    that declares entities of its own is refused rather than expanded.
    """
    from xml.etree import ElementTree

    if "<!ENTITY" in text:
        raise NvidiaSmiParseError("the XML report declares entities; nvidia-smi's never does")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise NvidiaSmiParseError(f"not an XML report: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiParseError(f"the XML root is <{root.tag}>, not <nvidia_smi_log>")
    gpus = []
    for gpu in root.findall("gpu"):
        memory = available(gpu.findtext("fb_memory_usage/total"))
        memory_match = _MIB.match(memory) if memory is not None else None
        if memory is not None and not memory_match:
            raise NvidiaSmiParseError(f"fb_memory_usage/total {memory!r} is not MiB")
        bus_id = available(gpu.get("id"))
        gpus.append(
            {
                "pci_bus_id": normalise_bus_id(bus_id) if bus_id else None,
                "name": available(gpu.findtext("product_name")),
                "memory_total_mib": int(memory_match.group(1)) if memory_match else None,
            }
        )
    return {
        "driver_version": available(root.findtext("driver_version")),
        "cuda_version": available(root.findtext("cuda_version")),
        "gpus": gpus,
    }


def _read_word(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip().lower()
    except OSError:
        return None


def scan_pci(sysfs_root: str = "/sys") -> list[dict]:
    """NVIDIA display controllers under ``<sysfs_root>/bus/pci/devices``, by bus id.

    Each: ``bus_id`` (``0000:01:00.0``), ``device_id`` (``0x2204``), ``class``
    (``0x030000``) and ``driver`` (the bound kernel driver, e.g. ``nvidia``, ``nouveau``,
    ``vfio-pci``; None when none is bound). Audio functions and bridges are left out.
    """
    base = os.path.join(sysfs_root, "bus", "pci", "devices")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    devices = []
    for name in names:
        path = os.path.join(base, name)
        if _read_word(os.path.join(path, "vendor")) != NVIDIA_VENDOR:
            continue
        pci_class = _read_word(os.path.join(path, "class"))
        if not pci_class or not pci_class.startswith(DISPLAY_CLASS_PREFIX):
            continue
        driver_link = os.path.join(path, "driver")
        driver = None
        if os.path.islink(driver_link):
            driver = os.path.basename(os.readlink(driver_link).rstrip("/")) or None
        devices.append(
            {
                "bus_id": name,
                "device_id": _read_word(os.path.join(path, "device")),
                "class": pci_class,
                "driver": driver,
            }
        )
    return devices


def no_device_message(sysfs_root: str = "/sys", where: bool = False) -> str:
    if where:
        return "no NVIDIA GPU (PCI vendor 10de) found under " + os.path.join(
            sysfs_root, "bus", "pci", "devices"
        )
    return "no NVIDIA GPU (PCI vendor 10de) on this host"


def summary(gpus: list, driver_version: str | None, cuda_version: str | None) -> str:
    """``2 NVIDIA GPUs, driver 550.127.05, CUDA 12.4`` (parts not reported are left out)."""
    count = len(gpus)
    text = f"{count} NVIDIA GPU{'' if count == 1 else 's'}"
    if driver_version:
        text += f", driver {driver_version}"
    if cuda_version:
        text += f", CUDA {cuda_version}"
    return text
