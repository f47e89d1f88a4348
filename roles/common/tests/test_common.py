"""testinfra suite for the common role (molecule verify and `homeforge verify`)."""

from __future__ import annotations


def test_base_packages_installed(host, hf_vars):
    wanted = hf_vars["common_packages"] + hf_vars["common_extra_packages"]
    missing = [name for name in wanted if not host.package(name).is_installed]
    assert not missing, f"packages not installed: {missing}"


def test_hostname(host, hf_vars):
    if not hf_vars["common_manage_hostname"]:
        return
    assert host.check_output("hostname") == hf_vars["common_hostname"]


def test_etc_hosts_lists_group(host, hf_vars, hf_inventory):
    if not hf_vars["common_etc_hosts_manage"]:
        return
    lines = {
        tuple(line.split()[:2])
        for line in host.file("/etc/hosts").content_string.splitlines()
        if line.strip() and not line.startswith("#")
    }
    group = hf_vars["common_etc_hosts_group"]
    members = hf_inventory.hosts if group == "all" else hf_inventory.groups.get(group, [])
    assert members, f"group {group} has no hosts"
    for name in members:
        address = hf_inventory.hostvars[name].get(
            "common_etc_hosts_address"
        ) or hf_inventory.address(name)
        assert (address, name) in lines, f"/etc/hosts lacks '{address} {name}'"


def test_sysctls_live_and_persisted(host, hf_vars):
    persisted = host.file(hf_vars["common_sysctl_file"])
    assert persisted.exists and persisted.mode == 0o644
    for name, value in hf_vars["common_sysctls"].items():
        assert str(host.sysctl(name)) == str(value), f"{name} is {host.sysctl(name)}, want {value}"
        assert f"{name}={value}" in persisted.content_string


def test_chrony_running_with_configured_sources(host, hf_vars):
    if not hf_vars["common_timesync_enabled"]:
        return
    chrony = host.service("chrony")
    assert chrony.is_running and chrony.is_enabled
    config = host.file("/etc/chrony/chrony.conf").content_string
    for pool in hf_vars["common_ntp_pools"]:
        assert f"pool {pool} iburst" in config
    for server in hf_vars["common_ntp_servers"]:
        assert f"server {server} iburst" in config
    # chronyd answers its own control socket: the daemon is alive, not just a pid file.
    assert host.run("chronyc -n tracking").rc == 0
