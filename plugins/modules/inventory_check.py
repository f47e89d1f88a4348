#!/usr/bin/python
# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: inventory_check
short_description: Refuse an inventory homeforge's checks find fault with
description:
  - Runs the checks of C(homeforge inventory check) on the inventory sources the play runs
    with (C(ansible_inventory_sources)), so a plain C(ansible-playbook) run or an AWX / Ansible
    Automation Platform job template stops before any change, with the same lines.
  - Fails with one line per problem in C(msg), each naming file, host and key. Lines the
    checks only warn about are returned as warnings.
  - Runs on the controller and needs the C(homeforge) Python package there (in AWX or AAP,
    the execution environment built from homeforge's C(execution-environment.yml)); without
    it the task fails with one line naming the missing package.
  - Vaulted values are read with the play's vault secrets, as Ansible reads them.
  - An action plugin; this file holds its documentation only.
version_added: "0.1.0"
author: homeforge maintainers (!UNKNOWN)
extends_documentation_fragment:
  - homeforge.homelab.attributes
attributes:
  check_mode:
    support: full
    details: It only reads the inventory, in check mode as in a run.
  diff_mode:
    support: none
options:
  inventory:
    description:
      - Inventory files or directories to check instead of the play's sources.
    type: list
    elements: path
notes:
  - The C(homeforge.homelab.check) playbook runs this first; C(site), C(upgrade) and C(reset)
    import it. The homeforge CLI checks the inventory before it starts a run and sets
    C(HOMEFORGE_CHECKED=1) for the run, which skips the task.
"""

EXAMPLES = r"""
- name: Refuse a bad inventory before anything changes
  homeforge.homelab.inventory_check:
  run_once: true
"""

RETURN = r"""
problems:
  description: Every problem found, one line each (also C(msg) when there is one).
  returned: always
  type: list
  elements: str
  sample: ["inventories/lab/hosts.yml: host lab-1: wireguard_interface: must be ..."]
sources:
  description: The inventory sources checked.
  returned: always
  type: list
  elements: str
  sample: [/runner/inventory/hosts]
"""
