# Copyright: homeforge maintainers
# Apache License 2.0
"""Values for systemd unit files, quoted so they stay one assignment whatever the caller did."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: systemd_environment
short_description: One C(Environment=) line of a systemd unit, quoted, or an error
description:
  - Renders C(Environment="NAME=VALUE") for a unit file or a drop-in. The name must be an
    environment variable name and the value must pass the collection's C(env_value) rule
    (one line, so no newline, carriage return or other control character), whatever checks the
    caller ran before; otherwise the template fails and nothing is written.
  - Inside the quotes systemd reads C(\\) and C(") as C-style escapes and C(%) as a
    specifier, so those are escaped (systemd.syntax(7), systemd.unit(5) "Specifiers").
positional: name
options:
  _input:
    description: The value (a string or a number).
    type: raw
    required: true
  name:
    description: The variable's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: One Environment= line of a unit (Environment="OLLAMA_KEEP_ALIVE=5m")
  ansible.builtin.debug:
    msg: "{{ ollama_keep_alive | homeforge.homelab.systemd_environment('OLLAMA_KEEP_ALIVE') }}"
"""

RETURN = r"""
_value:
  description: The whole C(Environment=...) line, without a newline.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homeforge.homelab.plugins.module_utils.validation import (
    env_name_problem,
    env_value_problem,
)


def systemd_environment(value, name):
    problem = env_name_problem(name) or env_value_problem(value)
    if problem:
        # The value itself is never repeated: it may be a secret.
        raise AnsibleFilterError(f"systemd_environment: {name}: {problem}")
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'Environment="{name}={text}"'


class FilterModule:
    def filters(self):
        return {"systemd_environment": systemd_environment}
