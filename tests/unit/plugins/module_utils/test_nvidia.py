"""module_utils/nvidia.py: nvidia-smi's CSV and XML as the real tool prints them (fixtures
adapted from published outputs, see fixtures/nvidia-smi/README.md), and the PCI scan of a
fake sysfs tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.plugins.support import load_plain

nvidia = load_plain("plugins/module_utils/nvidia.py")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-smi"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_one_gpu_csv():
    assert nvidia.parse_query_csv(fixture("query-gpu-1.csv")) == [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 3090",
            "memory_total_mib": 24576,
            "driver_version": "525.147.05",
            "pci_bus_id": "0000:00:10.0",
        }
    ]


def test_two_gpu_csv():
    gpus = nvidia.parse_query_csv(fixture("query-gpu-2.csv"))
    assert [g["index"] for g in gpus] == [0, 1]
    assert [g["pci_bus_id"] for g in gpus] == ["0000:06:00.0", "0000:07:00.0"]
    assert {g["name"] for g in gpus} == {"Quadro RTX 4000"}
    assert {g["memory_total_mib"] for g in gpus} == {8192}
    assert {g["driver_version"] for g in gpus} == {"535.129.03"}


def test_not_available_memory_is_none_and_hex_bus_is_lower_case():
    (gpu,) = nvidia.parse_query_csv(fixture("query-gpu-na.csv"))
    assert gpu["memory_total_mib"] is None
    assert gpu["pci_bus_id"] == "0000:0a:00.0"


@pytest.mark.parametrize("marker", ["[N/A]", "N/A", "[Not Supported]"])
def test_every_not_available_marker_is_none(marker):
    (gpu,) = nvidia.parse_query_csv(f"0, {marker}, {marker}, {marker}, {marker}\n")
    assert gpu == {
        "index": 0,
        "name": None,
        "memory_total_mib": None,
        "driver_version": None,
        "pci_bus_id": None,
    }


def test_csv_with_units_still_reads_mib():
    (gpu,) = nvidia.parse_query_csv("0, NVIDIA A40, 46068 MiB, 550.127.05, 00000000:4F:00.0\n")
    assert gpu["memory_total_mib"] == 46068 and gpu["pci_bus_id"] == "0000:4f:00.0"


@pytest.mark.parametrize(
    "smi, sysfs",
    [
        ("00000000:01:00.0", "0000:01:00.0"),
        ("00000000:E3:00.0", "0000:e3:00.0"),
        ("00000001:B0:00.0", "0001:b0:00.0"),  # a second PCI domain
        ("00010000:01:00.0", "10000:01:00.0"),  # VMD domains have 5 digits in sysfs
        ("0000:03:00.0", "0000:03:00.0"),  # old drivers printed a 4-digit domain
        ("00000000:00:10.0", "0000:00:10.0"),
    ],
)
def test_bus_ids_in_sysfs_form(smi, sysfs):
    assert nvidia.normalise_bus_id(smi) == sysfs


@pytest.mark.parametrize(
    "bad", ["", "01:00.0", "0000:01:00", "0000:01:00.8", "GPU-1234", "x:y:z.0"]
)
def test_not_a_bus_id(bad):
    with pytest.raises(nvidia.NvidiaSmiParseError, match="not a PCI bus id"):
        nvidia.normalise_bus_id(bad)


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("NVIDIA-SMI has failed because it couldn't communicate\n", "line 1"),
        ("0, GPU, 24576, 550.127.05, 00000000:01:00.0\ngarbage\n", "line 2"),
        ("zero, GPU, 24576, 550.127.05, 00000000:01:00.0\n", "index 'zero' is not a number"),
        ("0, GPU, 24 GiB, 550.127.05, 00000000:01:00.0\n", "memory.total '24 GiB' is not MiB"),
        ("0, GPU, 24576, 550.127.05, 01:00.0\n", "not a PCI bus id"),
        ("0, GPU, 24576, five-fifty, 00000000:01:00.0\n", "driver_version 'five-fifty'"),
        ("0, A, B, 24576, 550.127.05, 00000000:01:00.0\n", "6 values where 5 were asked for"),
    ],
)
def test_unreadable_csv_is_an_error_naming_the_line(text, complaint):
    with pytest.raises(nvidia.NvidiaSmiParseError, match=complaint) as caught:
        nvidia.parse_query_csv(text)
    assert "line " in str(caught.value)


def test_empty_csv_is_no_gpus():
    assert nvidia.parse_query_csv("") == [] and nvidia.parse_query_csv("\n\n") == []


def test_xml_report_versions_and_gpus():
    report = nvidia.parse_xml_report(fixture("q-x-rtx3090-v12.xml"))
    assert report == {
        "driver_version": "525.147.05",
        "cuda_version": "12.0",
        "gpus": [
            {
                "pci_bus_id": "0000:00:10.0",
                "name": "NVIDIA GeForce RTX 3090",
                "memory_total_mib": 24576,
            }
        ],
    }


def test_xml_and_csv_of_the_same_gpu_agree():
    (csv_gpu,) = nvidia.parse_query_csv(fixture("query-gpu-1.csv"))
    (xml_gpu,) = nvidia.parse_xml_report(fixture("q-x-rtx3090-v12.xml"))["gpus"]
    assert {k: csv_gpu[k] for k in xml_gpu} == xml_gpu


def test_a_report_without_cuda_version_gives_none():
    text = fixture("q-x-no-cuda-390.xml")
    assert "<cuda_version>" not in text
    report = nvidia.parse_xml_report(text)
    assert report["driver_version"] == "390.157" and report["cuda_version"] is None
    assert report["gpus"] == [
        {"pci_bus_id": "0000:01:00.0", "name": "GeForce 410M", "memory_total_mib": 512}
    ]


@pytest.mark.parametrize("marker", ["N/A", "[N/A]", "[Not Supported]"])
def test_a_cuda_version_not_available_gives_none(marker):
    text = fixture("q-x-rtx3090-v12.xml").replace(
        "<cuda_version>12.0</cuda_version>", f"<cuda_version>{marker}</cuda_version>"
    )
    assert nvidia.parse_xml_report(text)["cuda_version"] is None


def test_the_doctype_dtd_is_never_fetched(tmp_path):
    # The DTD named does not exist anywhere (nvidia-smi ships none), and one that did would
    # not be read: a DTD whose content would break parsing changes nothing.
    (tmp_path / "nvsmi_device_v12.dtd").write_text("<!ENTITY broken SYSTEM 'file:///etc/passwd'")
    text = fixture("q-x-rtx3090-v12.xml").replace(
        "nvsmi_device_v12.dtd", str(tmp_path / "nvsmi_device_v12.dtd")
    )
    assert nvidia.parse_xml_report(text)["cuda_version"] == "12.0"
    web = fixture("q-x-rtx3090-v12.xml").replace(
        '"nvsmi_device_v12.dtd"', '"http://192.0.2.1/nvsmi_device_v12.dtd"'
    )
    assert nvidia.parse_xml_report(web)["driver_version"] == "525.147.05"


def test_a_report_declaring_entities_is_refused():
    text = fixture("q-x-rtx3090-v12.xml").replace(
        '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">',
        '<!DOCTYPE nvidia_smi_log [<!ENTITY a "aaaaaaaaaa">]>',
    )
    with pytest.raises(nvidia.NvidiaSmiParseError, match="entities"):
        nvidia.parse_xml_report(text)


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("NVIDIA-SMI has failed because it couldn't communicate", "not an XML report"),
        ('<?xml version="1.0" ?>\n<nvidia_smi_log>\n<driver_version>', "not an XML report"),
        ("<other><driver_version>1</driver_version></other>", "not <nvidia_smi_log>"),
        (
            '<nvidia_smi_log><gpu id="00000000:01:00.0"><fb_memory_usage>'
            "<total>24 GB</total></fb_memory_usage></gpu></nvidia_smi_log>",
            "is not MiB",
        ),
        ('<nvidia_smi_log><gpu id="GPU-1"></gpu></nvidia_smi_log>', "not a PCI bus id"),
    ],
)
def test_garbage_xml_is_a_clear_error(text, complaint):
    with pytest.raises(nvidia.NvidiaSmiParseError, match=complaint):
        nvidia.parse_xml_report(text)


def test_first_line_of_the_no_driver_text():
    text = fixture("no-driver.txt")
    assert nvidia.first_line("", "\n" + text) == text.strip()
    assert nvidia.first_line("", "") == ""


def test_summary_and_no_device_messages():
    two = [{}, {}]
    assert (
        nvidia.summary(two, "550.127.05", "12.4") == "2 NVIDIA GPUs, driver 550.127.05, CUDA 12.4"
    )
    assert nvidia.summary([{}], "390.157", None) == "1 NVIDIA GPU, driver 390.157"
    assert nvidia.no_device_message() == "no NVIDIA GPU (PCI vendor 10de) on this host"
    assert nvidia.no_device_message("/x", where=True) == (
        "no NVIDIA GPU (PCI vendor 10de) found under /x/bus/pci/devices"
    )


def make_device(root: Path, bus_id: str, vendor: str, device: str, pci_class: str, driver=None):
    """One device directory as sysfs shows it (one hex word per file, newline-terminated)."""
    path = root / "bus" / "pci" / "devices" / bus_id
    path.mkdir(parents=True)
    (path / "vendor").write_text(vendor + "\n")
    (path / "device").write_text(device + "\n")
    (path / "class").write_text(pci_class + "\n")
    if driver:
        target = root / "bus" / "pci" / "drivers" / driver
        target.mkdir(parents=True, exist_ok=True)
        (path / "driver").symlink_to(target)
    return path


def fake_sysfs(root: Path) -> Path:
    make_device(root, "0000:00:02.0", "0x8086", "0x3e92", "0x030000", "i915")  # Intel VGA
    make_device(root, "0000:01:00.0", "0x10de", "0x2204", "0x030000", "nvidia")  # VGA
    make_device(root, "0000:01:00.1", "0x10de", "0x1aef", "0x040300", "snd_hda_intel")  # audio
    make_device(root, "0000:41:00.0", "0x10de", "0x20b5", "0x030200")  # 3D, no driver bound
    make_device(root, "0000:40:01.0", "0x10de", "0x1ad8", "0x060400")  # an NVIDIA bridge
    return root


def test_pci_scan_counts_nvidia_display_controllers_only(tmp_path):
    assert nvidia.scan_pci(str(fake_sysfs(tmp_path))) == [
        {"bus_id": "0000:01:00.0", "device_id": "0x2204", "class": "0x030000", "driver": "nvidia"},
        {"bus_id": "0000:41:00.0", "device_id": "0x20b5", "class": "0x030200", "driver": None},
    ]


def test_pci_scan_of_a_host_without_pci_is_empty(tmp_path):
    assert nvidia.scan_pci(str(tmp_path)) == []
    assert nvidia.scan_pci(str(tmp_path / "missing")) == []


def test_pci_scan_skips_a_device_without_readable_files(tmp_path):
    fake_sysfs(tmp_path)
    (tmp_path / "bus" / "pci" / "devices" / "0000:99:00.0").mkdir()  # removed while read
    assert len(nvidia.scan_pci(str(tmp_path))) == 2
