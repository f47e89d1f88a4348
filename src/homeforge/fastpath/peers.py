"""Files a host's run copies from another host: inputs of the host that copies them.

A role that reads a file on another host (``slurp`` delegated there) makes that file's
content an input of the host it runs for. The source's own watch list sees its file
change, but nothing in the receiver's stamp does: the receiver would stay "unchanged
(probe)" holding a stale copy for good (an agent with an old K3s token). Each such read
is declared in :data:`PEER_FILES` (``tests/unit/test_fastpath_peers.py`` checks that
every delegated read in ``roles/`` is). Before the probe, and again after a run, the
controller asks each source host for the digest of its files (the digest a watch item
has: never the content, :func:`homeforge.remote.stampops.peek`), and each receiver gets
them as one more part of its inputs, :data:`PART`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeforge.fastpath import inputs
from homeforge.inventory.model import Inventory

PART = "other hosts' files"
UNREAD = "unread"  # a source that could not be read: matches no stamp


@dataclass(frozen=True)
class PeerFile:
    """A file the hosts running ``role`` copy from the first host of a group."""

    role: str  # the receivers: hosts whose roles (with what they include) have this one
    group_variable: str  # the source: the first host of the group this variable names...
    group_default: str  # ...or of this group when the variable is not set
    path: str  # on the source
    unless: str = ""  # a receiver's variable that, when set, is used instead of the copy


PEER_FILES = (
    # roles/k3s_common/tasks/token.yml, "Receive the token from the first server"
    PeerFile(
        "k3s_common", "k3s_server_group", "server", "/etc/rancher/k3s/cluster-token", "k3s_token"
    ),
)


def reads(inv: Inventory, closures: dict[str, set[str]]) -> dict[str, list[tuple[str, str]]]:
    """Per receiving host (of ``closures``: each host's roles), the (source host, path)
    pairs its run copies."""
    groups = inputs.ordered_groups(inv)
    found: dict[str, list[tuple[str, str]]] = {}
    for host, roles in closures.items():
        hostvars = inv.hostvars[host]
        for peer in PEER_FILES:
            members = groups.get(str(hostvars.get(peer.group_variable) or peer.group_default))
            if peer.role not in roles or not members or members[0] == host:
                continue
            if peer.unless and hostvars.get(peer.unless):
                continue
            found.setdefault(host, []).append((members[0], peer.path))
    return found


def parts(
    wanted: dict[str, list[tuple[str, str]]],
    peek: Callable[[str, list[str]], Any],
) -> tuple[dict[str, str], dict[str, str]]:
    """Each receiver's :data:`PART` digest, from ``peek(source, paths)`` (a list of
    digests, or an exception); and per receiver whose source could not be read, why."""
    by_source: dict[str, list[str]] = {}
    for pairs in wanted.values():
        for source, path in pairs:
            by_source.setdefault(source, [])
            if path not in by_source[source]:
                by_source[source].append(path)
    seen = {source: peek(source, paths) for source, paths in by_source.items()}
    digests, problems = {}, {}
    for host, pairs in wanted.items():
        state = {}
        for source, path in pairs:
            reply = seen[source]
            if isinstance(reply, BaseException):
                problems.setdefault(host, f"cannot read {path} on {source}: {reply}")
                state[f"{source}:{path}"] = UNREAD
            else:
                state[f"{source}:{path}"] = reply[by_source[source].index(path)]
        digests[host] = UNREAD if host in problems else inputs._sha(inputs._canonical(state))
    return digests, problems
