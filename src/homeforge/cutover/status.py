"""``homeforge mesh services``: declared services and where each one's cutover stands."""

from __future__ import annotations

from homeforge.cutover.declaration import parse
from homeforge.cutover.journal import journal_summary
from homeforge.inventory.model import Inventory
from homeforge.wireguard.settings import MeshSettings


def service_rows(inv: Inventory) -> list[dict]:
    declared, _problems = parse(inv, list(MeshSettings.of(inv).members))
    rows = []
    for name, service in declared.items():
        journal = journal_summary(name, inv.path)
        rows.append(
            {
                "service": name,
                "port": service.port,
                "hosts": list(service.hosts),
                "consumers": [c.label for c in service.consumers],
                "exposure": service.exposure.mode,
                "state": journal["phase"] if journal else "legacy (never cut over)",
                "since": journal["updated"] if journal else None,
                "journal": journal["path"] if journal else None,
            }
        )
    return rows
