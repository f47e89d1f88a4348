"""The services the mesh cutover moves (``homeforge_services``); rules in
:mod:`homeforge.cutover.declaration`."""

from __future__ import annotations

from homeforge.cutover.declaration import check_services

CHECKS = [check_services]
