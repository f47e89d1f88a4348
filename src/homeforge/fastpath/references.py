"""A variable's value as Ansible will resolve it: with the variables its templates use.

Each inventory variable is one part of a host's inputs, and a variable roles read across
hosts (``hostvars[h]['ansible_host']`` in /etc/hosts, a peer's ``wireguard_address``) one
part of every host's (:mod:`homeforge.fastpath.inputs`). The inventory loader resolves
the templates it can (``homeforge.inventory.loader``); one that needs what the loader
does not give it stays as written until Ansible runs: another host's variable
(``wireguard_endpoint: "{{ hostvars['lab-1'].lan_ip }}:51820"``), a fact, a value given
with ``-e`` (``ansible_host: "{{ lan_name }}.{{ site_domain }}"``). So a part holds such a
value together with the values of the variables it names, on its own host or, through
``hostvars``, on another (every host's, when the host is computed), followed through
their own templates: a change of ``lan_ip`` on lab-1 converges the hosts that read it.
A fact it names is not followed: facts are not inventory values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# what Jinja evaluates: expressions and statements (text around them names nothing)
TEMPLATE = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.S)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# hostvars['lab-1'].lan_ip, hostvars["lab-1"]["lan_ip"]; hostvars[item].lan_ip (any host)
ATTRIBUTE = r"\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])"
NAMED_HOST = re.compile(r"hostvars\s*\[\s*['\"]([^'\"]+)['\"]\s*\]" + ATTRIBUTE)
ANY_HOST = re.compile(r"hostvars\s*\[\s*[^'\"\]\s][^\]]*\]" + ATTRIBUTE)


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


def _named(value: Any, host: str, hosts: list[str]) -> Iterator[tuple[str, str]]:
    """(host, variable) for every name the value's templates use."""
    for text in _scalars(value):
        if "{" not in text:
            continue
        for expression in (" ".join(parts) for parts in TEMPLATE.findall(text)):
            yield from ((host, word) for word in WORD.findall(expression))
            for other, dotted, keyed in NAMED_HOST.findall(expression):
                yield other, dotted or keyed
            for dotted, keyed in ANY_HOST.findall(expression):
                yield from ((other, dotted or keyed) for other in hosts)


def with_references(hostvars: dict[str, dict[str, Any]], host: str, key: str) -> Any:
    """``hostvars[host][key]`` as written when its templates (if any) name no inventory
    variable; else ``{"HOST NAME": value}`` for it and every variable they name,
    transitively."""
    found: dict[tuple[str, str], Any] = {}
    todo = [(host, key)]
    hosts = list(hostvars)
    while todo:
        at, name = todo.pop()
        if (at, name) in found or name not in hostvars.get(at, {}):
            continue
        found[(at, name)] = hostvars[at][name]
        todo += _named(hostvars[at][name], at, hosts)
    if len(found) == 1:
        return hostvars[host][key]
    return {f"{at} {name}": value for (at, name), value in sorted(found.items())}
