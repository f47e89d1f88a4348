"""One reading of the mesh's settings, used everywhere the controller needs them."""

from __future__ import annotations

from dataclasses import dataclass

from homeforge.inventory.model import Inventory
from homeforge.roles import role_default

KEYS = ("wireguard_group", "wireguard_interface", "wireguard_mesh_cidr")


@dataclass(frozen=True)
class MeshSettings:
    """The mesh as the wireguard role builds it: one group of hosts, one interface, one CIDR."""

    interface: str
    cidr: str
    group: str
    members: tuple[str, ...]

    @classmethod
    def of(cls, inv: Inventory) -> MeshSettings:
        """Settings of the inventory's mesh. The inventory check makes sure the hosts agree
        (``wireguard_settings_problems``); here the first member speaks for all."""
        first = next(iter(inv.hostvars.values()), {})
        group = str(first.get("wireguard_group", setting_default("wireguard_group")))
        members = inv.group_members(group)
        speaker = inv.hostvars[members[0]] if members else first
        return cls(
            interface=str(
                speaker.get("wireguard_interface", setting_default("wireguard_interface"))
            ),
            cidr=str(speaker.get("wireguard_mesh_cidr", setting_default("wireguard_mesh_cidr"))),
            group=group,
            members=tuple(members),
        )

    def is_member(self, host: str) -> bool:
        return host in self.members


def setting_default(key: str) -> str:
    return str(role_default("wireguard", key))
