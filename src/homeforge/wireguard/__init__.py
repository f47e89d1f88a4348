"""The WireGuard mesh seen from the controller: its settings, its live state, key rotation.

The mesh itself is converged by the ``wireguard`` role; its address planner is the
collection's ``plugins/module_utils/mesh.py``, loaded here as plain Python
(:mod:`homeforge.wireguard.planner`), so the CLI and the role plan identically.
"""
