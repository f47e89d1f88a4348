"""``homeforge mesh cutover`` and ``rollback``: move a service's consumers onto the mesh and back.

- :mod:`~homeforge.cutover.declaration`: the inventory's ``homeforge_services``,
  parsed and checked;
- :mod:`~homeforge.cutover.journal`: the journal of changes and the lock;
- :mod:`~homeforge.cutover.targets`: one adapter per consumer kind and exposure mode;
- :mod:`~homeforge.cutover.engine`: the steps (preflight, shadow, switch, exposure,
  verify, record) and the rollback.
"""

from homeforge.cutover.engine import Engine, Event, Interrupted, Plan, engine_for, run_engine
from homeforge.cutover.journal import Busy, Journal, exclusive, journal_summary
from homeforge.cutover.targets import StepFailed
from homeforge.errors import BadInput

__all__ = [
    "BadInput",
    "Busy",
    "Engine",
    "Event",
    "Interrupted",
    "Journal",
    "Plan",
    "StepFailed",
    "engine_for",
    "exclusive",
    "journal_summary",
    "run_engine",
]
