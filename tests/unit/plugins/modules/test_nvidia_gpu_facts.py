"""nvidia_gpu_facts against a fake sysfs tree and the nvidia-smi STAND-IN
(tests/standins/nvidia-smi). Results here are the module's behaviour against the stand-in's
contract and against fixtures adapted from published nvidia-smi outputs; nothing here is
verified against a real GPU, driver or nvidia-smi."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.homeforge.homelab.plugins.modules import nvidia_gpu_facts

from tests.unit.plugins.module_utils.test_nvidia import fake_sysfs, make_device
from tests.unit.plugins.support import load_plain

nvidia = load_plain("plugins/module_utils/nvidia.py")

ROOT = Path(__file__).resolve().parents[4]
STANDIN = ROOT / "tests" / "standins" / "nvidia-smi"
FIXTURES = ROOT / "tests" / "unit" / "plugins" / "fixtures" / "nvidia-smi"

GPUS = {
    "driver_version": "550.127.05",
    "cuda_version": "12.4",
    "gpus": [
        {
            "name": "NVIDIA GeForce RTX 3090",
            "memory_total_mib": 24576,
            "pci_bus_id": "0000:01:00.0",
        },
        {"name": "NVIDIA RTX A4000", "memory_total_mib": 16376, "pci_bus_id": "0000:41:00.0"},
    ],
}
EXPECTED_GPUS = [
    {
        "index": 0,
        "name": "NVIDIA GeForce RTX 3090",
        "memory_total_mib": 24576,
        "driver_version": "550.127.05",
        "pci_bus_id": "0000:01:00.0",
    },
    {
        "index": 1,
        "name": "NVIDIA RTX A4000",
        "memory_total_mib": 16376,
        "driver_version": "550.127.05",
        "pci_bus_id": "0000:41:00.0",
    },
]
NO_DRIVER = (FIXTURES / "no-driver.txt").read_text().strip()


@pytest.fixture
def gpus_file(tmp_path, monkeypatch):
    """The stand-in's GPU list (written by the test), in NVIDIA_SMI_STANDIN_GPUS."""
    path = tmp_path / "nvidia-gpus.json"
    monkeypatch.setenv("NVIDIA_SMI_STANDIN_GPUS", str(path))
    return path


@pytest.fixture
def sysfs(tmp_path):
    return fake_sysfs(tmp_path / "sys")


def standin(*args, gpus_file=None):
    env = dict(os.environ)
    if gpus_file is not None:
        env["NVIDIA_SMI_STANDIN_GPUS"] = str(gpus_file)
    return subprocess.run([str(STANDIN), *args], capture_output=True, text=True, env=env)


def test_facts_from_the_pci_bus_and_nvidia_smi(call_module, sysfs, gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    out = call_module(nvidia_gpu_facts, {"sysfs_root": str(sysfs), "nvidia_smi": str(STANDIN)})
    assert not out.get("failed") and out["changed"] is False
    facts = out["ansible_facts"]
    assert facts["nvidia_gpus"] == EXPECTED_GPUS
    assert [d["bus_id"] for d in facts["nvidia_pci_devices"]] == ["0000:01:00.0", "0000:41:00.0"]
    assert {g["pci_bus_id"] for g in facts["nvidia_gpus"]} == {
        d["bus_id"] for d in facts["nvidia_pci_devices"]
    }
    assert facts["nvidia_driver_version"] == "550.127.05"
    assert facts["nvidia_cuda_version"] == "12.4"
    assert facts["nvidia_driver_loaded"] is True
    assert out["gpu_count"] == 2
    assert out["message"] == "2 NVIDIA GPUs, driver 550.127.05, CUDA 12.4"


def test_check_mode_gathers_the_same_facts(call_module, sysfs, gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    args = {"sysfs_root": str(sysfs), "nvidia_smi": str(STANDIN)}
    normal = call_module(nvidia_gpu_facts, args)
    checked = call_module(nvidia_gpu_facts, args, check_mode=True)
    assert checked["changed"] is False and not checked.get("failed")
    for key in ("ansible_facts", "gpu_count", "message"):
        assert checked[key] == normal[key]


def test_a_driver_without_cuda_version_gives_none(call_module, sysfs, gpus_file):
    gpus_file.write_text(json.dumps(dict(GPUS, driver_version="390.157", cuda_version=None)))
    out = call_module(nvidia_gpu_facts, {"sysfs_root": str(sysfs), "nvidia_smi": str(STANDIN)})
    assert out["ansible_facts"]["nvidia_cuda_version"] is None
    assert out["message"] == "2 NVIDIA GPUs, driver 390.157"


def test_no_driver_loaded_is_not_a_failure(call_module, sysfs, gpus_file):
    assert not gpus_file.exists()  # the stand-in's "no driver loaded"
    out = call_module(nvidia_gpu_facts, {"sysfs_root": str(sysfs), "nvidia_smi": str(STANDIN)})
    assert not out.get("failed") and out["changed"] is False
    facts = out["ansible_facts"]
    assert facts["nvidia_driver_loaded"] is False
    assert facts["nvidia_gpus"] == [] and len(facts["nvidia_pci_devices"]) == 2
    assert facts["nvidia_driver_version"] is None and facts["nvidia_cuda_version"] is None
    assert out["message"] == NO_DRIVER
    assert out["gpu_count"] == 2  # what the PCI bus shows


def test_nvidia_smi_not_installed_with_a_gpu_present(call_module, sysfs, tmp_path):
    missing = tmp_path / "no" / "nvidia-smi"
    out = call_module(nvidia_gpu_facts, {"sysfs_root": str(sysfs), "nvidia_smi": str(missing)})
    assert not out.get("failed")
    assert out["ansible_facts"]["nvidia_driver_loaded"] is False
    assert "nvidia-smi is not installed" in out["message"]
    assert out["message"].startswith("2 NVIDIA GPUs on the PCI bus")


def test_no_gpu_and_not_required(call_module, tmp_path, gpus_file):
    empty = tmp_path / "empty-sys"
    make_device(empty, "0000:00:02.0", "0x8086", "0x3e92", "0x030000")
    for nvidia_smi in (STANDIN, tmp_path / "no" / "nvidia-smi"):
        out = call_module(
            nvidia_gpu_facts, {"sysfs_root": str(empty), "nvidia_smi": str(nvidia_smi)}
        )
        assert not out.get("failed") and out["changed"] is False
        assert out["gpu_count"] == 0
        assert out["message"] == "no NVIDIA GPU (PCI vendor 10de) on this host"
        assert out["ansible_facts"]["nvidia_pci_devices"] == []
        assert out["ansible_facts"]["nvidia_driver_loaded"] is False


def test_gpus_the_driver_reports_count_when_sysfs_shows_none(call_module, tmp_path, gpus_file):
    # e.g. a container with the devices passed in but no PCI tree: nvidia-smi is believed.
    gpus_file.write_text(json.dumps(GPUS))
    out = call_module(
        nvidia_gpu_facts, {"sysfs_root": str(tmp_path / "bare"), "nvidia_smi": str(STANDIN)}
    )
    assert out["ansible_facts"]["nvidia_pci_devices"] == []
    assert out["ansible_facts"]["nvidia_gpus"] == EXPECTED_GPUS
    assert out["gpu_count"] == 2 and out["message"].startswith("2 NVIDIA GPUs")


def test_no_gpu_and_required_fails(call_module, tmp_path, gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    empty = tmp_path / "empty-sys"
    args = {"sysfs_root": str(empty), "nvidia_smi": str(STANDIN), "required": True}
    out = call_module(nvidia_gpu_facts, args)
    assert out["failed"]
    assert out["msg"] == f"no NVIDIA GPU (PCI vendor 10de) found under {empty}/bus/pci/devices"


def test_nvidia_smi_is_run_with_argv_lists_and_asked_for_no_serial_or_uuid(
    call_module, sysfs, gpus_file, tmp_path
):
    gpus_file.write_text(json.dumps(GPUS))
    log = tmp_path / "argv.log"
    recorder = tmp_path / "recording-nvidia-smi"
    recorder.write_text(
        f'#!/bin/sh\nprintf "%s|" "$@" >> {log}\necho >> {log}\nexec {STANDIN} "$@"\n'
    )
    recorder.chmod(0o755)
    out = call_module(nvidia_gpu_facts, {"sysfs_root": str(sysfs), "nvidia_smi": str(recorder)})
    assert out["ansible_facts"]["nvidia_gpus"] == EXPECTED_GPUS
    assert log.read_text().splitlines() == [
        "--query-gpu=index,name,memory.total,driver_version,pci.bus_id|"
        "--format=csv,noheader,nounits|",
        "-q|-x|",
    ]
    assert "uuid" not in log.read_text() and "serial" not in log.read_text()


@pytest.mark.parametrize(
    "script, command, line",
    [
        ('echo "0, GPU, lots, 550.127.05, 00000000:01:00.0"', "--query-gpu=", "line 1"),
        (
            'case "$1" in -q) echo "<html>";; *) echo "0, G, 1, 550.1, 00000000:01:00.0";; esac',
            "-q -x",
            "not an XML report",
        ),
    ],
)
def test_unreadable_output_fails_naming_the_command_and_line(
    call_module, sysfs, tmp_path, script, command, line
):
    fake = tmp_path / "garbled-nvidia-smi"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    out = call_module(nvidia_gpu_facts, {"sysfs_root": str(sysfs), "nvidia_smi": str(fake)})
    assert out["failed"]
    assert out["msg"].startswith(f"{fake} ") and command in out["msg"] and line in out["msg"]


def test_facts_reach_the_host_through_ansible(run_module, sysfs, gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    out = run_module(
        "nvidia_gpu_facts", {"sysfs_root": str(sysfs), "nvidia_smi": str(STANDIN)}, "--check"
    )
    assert not out.get("failed") and not out["changed"]
    assert out["ansible_facts"]["nvidia_gpus"] == EXPECTED_GPUS
    assert out["ansible_facts"]["nvidia_cuda_version"] == "12.4"


# The stand-in itself: its output is the form of the published outputs in the fixtures.


def test_standin_csv_round_trips_through_the_parser(gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    done = standin(*nvidia.QUERY_ARGS)
    assert done.returncode == 0, done.stderr
    parsed = nvidia.parse_query_csv(done.stdout)
    assert [
        {
            "name": g["name"],
            "memory_total_mib": g["memory_total_mib"],
            "pci_bus_id": g["pci_bus_id"],
        }
        for g in parsed
    ] == GPUS["gpus"]
    assert [g["index"] for g in parsed] == [0, 1]
    assert {g["driver_version"] for g in parsed} == {GPUS["driver_version"]}
    assert "00000000:41:00.0" in done.stdout  # nvidia-smi's form, not sysfs's


def test_standin_prints_not_available_memory_as_the_real_tool(gpus_file):
    gpus = {
        "driver_version": "470.57.02",
        "gpus": [
            {
                "name": "NVIDIA GeForce RTX 3080",
                "memory_total_mib": None,
                "pci_bus_id": "0000:0a:00.0",
            }
        ],
    }
    gpus_file.write_text(json.dumps(gpus))
    done = standin(*nvidia.QUERY_ARGS)
    assert done.stdout == (FIXTURES / "query-gpu-na.csv").read_text()


def test_standin_csv_with_header_and_units_is_the_published_form():
    done = standin(
        "--query-gpu=index,name,memory.total,driver_version,pci.bus_id",
        "--format=csv",
        gpus_file=FIXTURES / "standin-gpus-2.json",
    )
    assert done.returncode == 0
    assert done.stdout == (FIXTURES / "query-gpu-2-header-units.csv").read_text()
    nounits = standin(*nvidia.QUERY_ARGS, gpus_file=FIXTURES / "standin-gpus-2.json")
    assert nounits.stdout == (FIXTURES / "query-gpu-2.csv").read_text()


def test_standin_list_is_the_published_form():
    done = standin("-L", gpus_file=FIXTURES / "standin-gpus-2.json")
    assert done.stdout == (FIXTURES / "list-gpus-2.txt").read_text()


def test_standin_xml_report_is_a_subset_of_the_real_report(gpus_file):
    from xml.etree import ElementTree

    gpus_file.write_text(json.dumps(GPUS))
    done = standin("-q", "-x")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    real_lines = (FIXTURES / "q-x-rtx3090-v12.xml").read_text().splitlines()
    assert lines[:2] == real_lines[:2]  # <?xml ...?> and the DOCTYPE

    def paths(element, prefix=""):
        here = f"{prefix}/{element.tag}"
        yield here
        for child in element:
            yield from paths(child, here)

    real = list(paths(ElementTree.fromstring("\n".join(real_lines))))
    ours = list(dict.fromkeys(paths(ElementTree.fromstring(done.stdout))))
    assert set(ours) <= set(real), set(ours) - set(real)
    assert ours == sorted(ours, key=real.index)  # in the real report's order
    report = nvidia.parse_xml_report(done.stdout)
    assert (report["driver_version"], report["cuda_version"]) == ("550.127.05", "12.4")
    assert [g["pci_bus_id"] for g in report["gpus"]] == ["0000:01:00.0", "0000:41:00.0"]


def test_standin_without_its_file_is_a_host_without_driver(tmp_path):
    done = standin(*nvidia.QUERY_ARGS, gpus_file=tmp_path / "absent.json")
    assert done.returncode == 9
    assert done.stdout == (FIXTURES / "no-driver.txt").read_text()


def test_standin_unknown_field_is_refused_as_the_real_tool_does(gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    done = standin("--query-gpu=device_minor,gpu_uuid,pci.bus_id", "--format=csv,noheader,nounits")
    assert done.returncode == 2
    assert done.stdout == (FIXTURES / "invalid-field.txt").read_text()
    serial = standin("--query-gpu=index,serial", "--format=csv")
    assert serial.returncode == 2 and serial.stdout.startswith('Field "serial" is not a valid')


def test_standin_refuses_what_it_does_not_implement(gpus_file):
    gpus_file.write_text(json.dumps(GPUS))
    for args in (
        ["-q"],
        ["--query-gpu=index"],
        ["--format=json", "--query-gpu=index"],
        ["topo", "-m"],
    ):
        done = standin(*args)
        assert done.returncode == 1, args
        assert done.stderr == f"nvidia-smi {' '.join(args)}: unsupported by the stand-in\n"
