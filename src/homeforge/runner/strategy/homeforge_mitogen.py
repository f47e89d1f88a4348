"""Ansible strategy plugin: mitogen's linear strategy, with the installed collections
listed once per run instead of once per task.

mitogen's planner (``ansible_mitogen/planner.py``, ``_load_collections``, mitogen 0.3.54)
calls ``ansible.collections.list.list_collection_dirs()`` for every module it runs
from a collection, inside the worker Ansible forks for that task. With the ``ansible``
package installed that walks about ninety collections and parses their metadata each
time: measured on a three-host no-op converge, 17% of the controller's CPU. The list
cannot change while a playbook runs (Ansible fixes the collection paths at start), so
it is read here once, in the strategy's process before any worker forks, and every
worker is handed the same list. A call with arguments still goes to Ansible.

``homeforge.runner.ansible_env`` selects this strategy when mitogen is importable.
"""

from __future__ import annotations

import functools

import ansible.collections.list as collection_list
import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


def list_once() -> None:
    """Replace ``list_collection_dirs`` by one that answers a call without arguments
    from the list read now; idempotent."""
    listing = collection_list.list_collection_dirs
    if getattr(listing, "homeforge_listed", None) is not None:
        return
    listed = tuple(listing())

    @functools.wraps(listing)
    def list_collection_dirs(*args, **kwargs):
        if args or kwargs:
            return listing(*args, **kwargs)
        return iter(listed)

    list_collection_dirs.homeforge_listed = listed
    collection_list.list_collection_dirs = list_collection_dirs


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    def run(self, iterator, play_context):
        list_once()
        return super().run(iterator, play_context)
