"""Host operations at the point of use: env files and systemd drop-ins written so that
neither sh nor systemd reads more than the value, unit names systemctl could misread
refused, and deployment variables read only when set once and by value."""

from __future__ import annotations

import json
import subprocess

import pytest

from homeforge.remote import envops, kubeops


def test_env_values_are_quoted_so_sh_runs_nothing(tmp_path):
    env = tmp_path / "app.env"
    env.write_text("KEEP=1\n")
    value = 'http://10.77.0.2:11434/x`touch /tmp/pwn`$(id)$HOME"\\'
    envops.env_write(str(env), {"URL": value})
    sourced = subprocess.run(
        ["sh", "-c", f'. "{env}"; printf %s "$URL"'], capture_output=True, text=True, check=True
    )
    assert sourced.stdout == value
    assert envops.env_read(str(env), ["URL"])["values"]["URL"] == value
    with pytest.raises(envops.OpError, match="control character"):
        envops.env_write(str(env), {"URL": "a\nEVIL=1"})
    assert "EVIL" not in env.read_text()


def test_dropin_escapes_percent_and_refuses_newlines():
    text = envops._dropin_text({"URL": "http://h:1/a%2Fb"})
    assert 'Environment="URL=http://h:1/a%%2Fb"' in text
    assert envops._dropin_values(text)["URL"] == "http://h:1/a%2Fb"
    with pytest.raises(envops.OpError):
        envops._dropin_text({"URL": "x\nExecStartPre=/bin/touch /x"})


def test_a_symlinked_env_file_stays_a_symlink(tmp_path):
    real = tmp_path / "real.env"
    real.write_text("A=1\n")
    link = tmp_path / "app.env"
    link.symlink_to(real)
    envops.env_write(str(link), {"A": "2"})
    assert link.is_symlink() and real.read_text() == "A=2\n"


@pytest.mark.parametrize("unit", ["-Hroot@host.service", "a b.service", "x.service\n", "nosuffix"])
def test_unit_names_that_systemctl_could_misread_are_refused_on_the_host(unit):
    with pytest.raises(envops.OpError, match="not a systemd unit name"):
        envops.unit_action(unit)


def test_a_deployment_variable_from_value_from_or_set_twice_is_refused(tmp_path):
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "env": [
                                {
                                    "name": "A",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                                },
                                {"name": "B", "value": "1"},
                                {"name": "B", "value": "2"},
                            ],
                        }
                    ]
                }
            }
        }
    }
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(deployment)}\nEOF\n")
    kubectl.chmod(0o755)
    with pytest.raises(kubeops.OpError, match="sets A through valueFrom"):
        kubeops.deployment_read(str(kubectl), "prod", "api", ["A"])
    with pytest.raises(kubeops.OpError, match="sets B twice"):
        kubeops.deployment_read(str(kubectl), "prod", "api", ["B"])
