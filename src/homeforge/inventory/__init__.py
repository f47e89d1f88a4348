"""Inventories: :mod:`~homeforge.inventory.loader` parses one the way Ansible does
(keeping where each variable was set); :mod:`homeforge.checks` validates it,
one module per domain. Loading never checks, so every command decides what it needs."""

from homeforge.inventory.loader import load
from homeforge.inventory.model import Inventory, display_path, is_template, plain

__all__ = ["Inventory", "display_path", "is_template", "load", "plain"]
