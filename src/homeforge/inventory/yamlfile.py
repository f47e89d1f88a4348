"""Reading inventory files strictly: UTF-8 text, YAML without duplicate keys, and
alias expansion bounded, so a malformed or hostile file is one clear line.

Ansible reads the same files again afterwards; it takes the last of two duplicate
keys with only a warning, and expands aliases without limit (a 600-byte "billion
laughs" file takes minutes and gigabytes there). Reading them here first means
Ansible only ever sees files that passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from homeforge import vault as vaults
from homeforge.errors import BadInput
from homeforge.inventory.model import display_path

# Expanded nodes allowed per file: ten times the nodes written plus a margin, so
# anchors reused per host (``<<: *defaults``) are fine and exponential nesting is not.
ALIAS_FACTOR = 10
ALIAS_MARGIN = 100_000


def read_text(path: Path, vault: vaults.Vault | None = None) -> str:
    """A file's text, decrypted with the vault password when it is encrypted whole;
    BadInput naming the file when it is unreadable, not UTF-8 text, or encrypted and
    the password is missing or wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{display_path(path)}: cannot read: {exc.strerror}") from None
    if vaults.is_encrypted(raw):
        raw = vaults.decrypt(vault, raw, display_path(path), what="file")
    if b"\x00" in raw:
        raise BadInput(f"{display_path(path)}: binary file (NUL bytes), not an inventory")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(
            f"{display_path(path)}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = self.construct_scalar(key_node)
                if key in seen:
                    raise _DuplicateKey(
                        None,
                        None,
                        f"key '{key}' is given twice (first on line {seen[key].line + 1}); "
                        "Ansible would silently keep only the last",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _ansible_tag(loader, _suffix, node):
    """``!vault`` and ``!unsafe`` values: kept as text (a vaulted value as its ciphertext:
    only its place matters here); Ansible handles them."""
    return loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else ""


_StrictLoader.add_multi_constructor("!", _ansible_tag)


class _SelfReference(Exception):
    pass


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes after alias expansion (memoised, so a bomb costs its written size)."""
    sizes: dict[int, int] = {}
    unique = 0

    def size(node: yaml.Node) -> int:
        nonlocal unique
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                raise _SelfReference  # an alias inside its own anchor
            return sizes[id(node)]
        unique += 1
        sizes[id(node)] = -1
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[id(node)] = min(total, limit + 1)
        return sizes[id(node)]

    return size(root)


def _nodes(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
    return len(seen)


def read_yaml(path: Path, vault: vaults.Vault | None = None) -> Any:
    """Parse one YAML file strictly (decrypted first when encrypted whole); BadInput
    naming file, line and column on a problem."""
    text = read_text(path, vault)
    where = display_path(path)
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        limit = ALIAS_FACTOR * _nodes(root) + ALIAS_MARGIN
        try:
            expanded = _expanded_size(root, limit)
        except _SelfReference:
            raise BadInput(f"{where}: an alias refers to itself (recursive YAML)") from None
        except RecursionError:
            raise BadInput(f"{where}: nested too deeply") from None
        if expanded > limit:
            raise BadInput(
                f"{where}: YAML aliases expand to more than {limit:,} values "
                "(an alias bomb?); refusing to read it"
            )
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{where}{place}: malformed YAML: {problem}") from None
    finally:
        loader.dispose()
