"""A variable's value as another host reads it: with the variables its templates use.

Roles read some variables across hosts (``hostvars[h]['ansible_host']`` in /etc/hosts,
a peer's ``wireguard_address``), and each is one part of every host's inputs
(:mod:`homeforge.fastpath.inputs`). The inventory loader resolves the templates it can
(``homeforge.inventory.loader``); one that needs what the inventory does not hold (a
fact, a value given with ``-e``: ``ansible_host: "{{ lan_name }}.{{ site_domain }}"``)
stays as written until Ansible runs. So the part holds such a value together with the
values of the host's variables it names, followed through their own templates: a change
of ``lan_name`` on one host converges the hosts that read its address. A fact it names
is not followed: facts are not inventory values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# what Jinja evaluates: expressions and statements (text around them names nothing)
TEMPLATE = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.S)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _scalars(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _scalars(item)
    elif isinstance(value, str):
        yield value


def with_references(hostvars: dict[str, Any], key: str) -> Any:
    """``hostvars[key]`` as written when no template in it names another of the host's
    variables; else ``{name: value}`` for it and every variable its templates name,
    transitively."""
    found: dict[str, Any] = {}
    todo = [key]
    while todo:
        name = todo.pop()
        found[name] = hostvars[name]
        for text in _scalars(hostvars[name]):
            for expression in TEMPLATE.findall(text):
                words = WORD.findall(" ".join(expression))
                todo += [w for w in words if w in hostvars and w not in found]
    return found if len(found) > 1 else hostvars[key]
