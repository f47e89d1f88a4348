# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Options shared by the WireGuard modules (argument spec: module_utils/wireguard.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  interface:
    description:
      - WireGuard interface name, e.g. C(wg0).
      - At most 15 characters from letters, digits and C(_=+.-), not starting with C(-)
        (the rule of M(homeforge.homelab.wireguard_host) and
        M(homeforge.homelab.wireguard_psk) alike).
    type: str
    default: wg0
  directory:
    description: Where the interface's key, config and preshared keys live.
    type: path
    default: /etc/wireguard
requirements:
  - wireguard-tools (the C(wg) command) on the managed host, when a key is created or read.
"""
