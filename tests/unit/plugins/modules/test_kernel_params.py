"""kernel_params, run for real by Ansible on the local host (check mode where it would change it)."""

from __future__ import annotations

from pathlib import Path

LIVE = Path("/proc/sys/net/ipv4/ip_forward")


def test_kernel_params_writes_file_and_reports_live_drift(run_module, tmp_path):
    conf = tmp_path / "sysctl.d" / "90-test.conf"
    live = LIVE.read_text().strip()
    other = "0" if live == "1" else "1"

    # the file is new; the live value already matches: only the file changes
    first = run_module(
        "kernel_params", {"params": {"net.ipv4.ip_forward": int(live)}, "file": str(conf)}
    )
    assert first["changed"] and first["file_changed"] and first["live_changed"] == []
    assert conf.read_text().endswith(f"net.ipv4.ip_forward={live}\n")
    assert oct(conf.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in conf.parent.iterdir()] == [conf.name]  # no temporary left
    again = run_module(
        "kernel_params", {"params": {"net.ipv4.ip_forward": int(live)}, "file": str(conf)}
    )
    assert not again["changed"]

    # a different live value, in check mode with diff: reported, nothing touched
    drift = run_module(
        "kernel_params",
        {"params": {"net.ipv4.ip_forward": int(other)}, "file": str(conf)},
        "--check",
        "--diff",
    )
    assert drift["changed"] and drift["live_changed"] == ["net.ipv4.ip_forward"]
    assert f"net.ipv4.ip_forward={other}" in drift["diff"]["after"]
    assert LIVE.read_text().strip() == live
    assert conf.read_text().endswith(f"net.ipv4.ip_forward={live}\n")


def test_kernel_params_rejects_unknown_parameter(run_module, tmp_path):
    out = run_module(
        "kernel_params", {"params": {"net.ipv4.no_such_thing": 1}, "file": str(tmp_path / "x.conf")}
    )
    assert out["failed"] and "unknown kernel parameter net.ipv4.no_such_thing" in out["msg"]


def test_kernel_params_refuses_names_that_leave_proc_sys(run_module, tmp_path):
    target = tmp_path / "victim"
    target.write_text("untouched\n")
    out = run_module(
        "kernel_params",
        {"params": {f"net.{target}": 1, "net..ipv4": 1}, "file": str(tmp_path / "x.conf")},
    )
    assert out["failed"] and "invalid kernel parameter names" in out["msg"]
    assert target.read_text() == "untouched\n" and not (tmp_path / "x.conf").exists()
