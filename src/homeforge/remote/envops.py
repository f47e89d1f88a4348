"""How a consumer of a service gets a new value: environment files, systemd drop-ins, units.

A host program (see :mod:`homeforge.remote.prelude`, sent ahead of this text): the mesh
cutover switches a consumer's variables in its environment file (``env_write``) or in a
drop-in of its unit (``dropin_write``), then restarts or reloads it (``unit_action``) or
runs its own command (``run_command``). Values are written so that neither ``sh`` nor
systemd reads more than the value, and unit names systemctl could read as an option are
refused here too.
"""

import os
import re

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _atomic_write, _one_line, _read, _run

ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]*$")
SYSTEMD_DIR = "/etc/systemd/system"


# --------------------------------------------------------------------------- environment files


def _unquote(raw):
    """A value as ``sh`` reads it from ``NAME=raw`` (the quoting :func:`_quote` writes)."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        return re.sub(r'\\([\\"$`])', r"\1", inner) if raw[0] == '"' else inner
    return raw


def _quote(value):
    """``value`` for ``NAME=...`` in a file that ``sh`` sources: nothing in it is run or
    expanded (inside double quotes, only \\ " $ and ` are special)."""
    _one_line(value)
    if SAFE_VALUE.match(value):
        return value
    return '"%s"' % re.sub(r'([\\"$`])', r"\\\1", value)


def env_read(path, names):
    """The values of ``names`` in an environment file (None when unset) and whether it exists."""
    text = _read(path)
    values = dict((name, None) for name in names)
    for line in (text or "").splitlines():
        match = ENV_LINE.match(line)
        if match and match.group(2) in values:
            values[match.group(2)] = _unquote(match.group(3))
    return {"exists": text is not None, "values": values}


def env_write(path, values):
    """Set (or, for None, remove) variables in an existing environment file; other lines are kept."""
    text = _read(path)
    if text is None:
        raise OpError("%s: no such file" % path)
    lines = text.splitlines()
    out, seen = [], set()
    for line in lines:
        match = ENV_LINE.match(line)
        if match and match.group(2) in values:
            name = match.group(2)
            if name in seen or values[name] is None:
                continue  # a duplicate, or a variable to remove
            seen.add(name)
            out.append("%s%s=%s" % (match.group(1), name, _quote(values[name])))
        else:
            out.append(line)
    for name in sorted(values):
        if name not in seen and values[name] is not None:
            out.append("%s=%s" % (name, _quote(values[name])))
    new = "\n".join(out) + "\n" if out else ""
    if new == text:
        return {"changed": False}
    _atomic_write(path, new, mode=0o644, keep=True)
    return {"changed": True}


# --------------------------------------------------------------------------- systemd


def _dropin_path(unit, name):
    _unit(unit)
    if not re.match(r"[A-Za-z0-9_.-]+\Z", name) or name.startswith("."):
        raise OpError("not a drop-in name: %r" % (name,))
    return os.path.join(SYSTEMD_DIR, unit + ".d", name + ".conf")


def _dropin_text(values):
    lines = [
        "# Managed by homeforge (mesh cutover); 'homeforge mesh rollback' removes it.",
        "[Service]",
    ]
    for name in sorted(values):
        _one_line(values[name])
        # systemd: \\ and \" are C-style escapes in a quoted word, and % starts a specifier
        value = values[name].replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
        lines.append('Environment="%s=%s"' % (name, value))
    return "\n".join(lines) + "\n"


def _dropin_values(text):
    values = {}
    for match in re.finditer(r'^Environment="([A-Za-z_][A-Za-z0-9_]*)=(.*)"$', text or "", re.M):
        values[match.group(1)] = re.sub(
            r'\\([\\"])|%(%)', lambda m: m.group(1) or m.group(2), match.group(2)
        )
    return values


UNIT_NAME = re.compile(
    r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*"
    r"\.(service|socket|target|timer|mount|path|slice|scope|device|swap|automount)\Z"
)


def _unit(unit):
    """A unit name systemctl can never read as an option (the inventory rule, again here)."""
    if not isinstance(unit, str) or not UNIT_NAME.match(unit):
        raise OpError("not a systemd unit name: %r" % (unit,))
    return unit


def unit_exists(unit):
    _unit(unit)
    done = _run(["systemctl", "show", "-p", "LoadState", "--value", unit], check=False)
    return {"exists": done.stdout.strip() == "loaded"}


def dropin_read(unit, name, names):
    """The variables a homeforge drop-in sets for ``unit`` (None when unset)."""
    current = _dropin_values(_read(_dropin_path(unit, name)))
    return {
        "exists": unit_exists(unit)["exists"],
        "values": dict((n, current.get(n)) for n in names),
    }


def dropin_write(unit, name, values, action="restart", settle=False):
    """Write (or, when every value is None, remove) the drop-in, then reload systemd and the
    unit; ``settle``: restart the unit even when the drop-in already had the values."""
    path = _dropin_path(unit, name)
    old = _read(path)
    keep = dict((k, v) for k, v in _dropin_values(old).items() if k not in values)
    keep.update((k, v) for k, v in values.items() if v is not None)
    changed = False
    if keep:
        new = _dropin_text(keep)
        if new != old:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), 0o755)
            _atomic_write(path, new, mode=0o644)
            changed = True
    elif old is not None:
        os.unlink(path)
        changed = True
    if changed or settle:
        _run(["systemctl", "daemon-reload"])
        if action != "none":
            unit_action(unit, action)
    return {"changed": changed}


def unit_action(unit, action="restart"):
    _unit(unit)
    if action not in ("restart", "reload", "reload-or-restart", "try-restart"):
        raise OpError(
            "unit action %r: use restart, reload, reload-or-restart or try-restart" % action
        )
    done = _run(["systemctl", action, unit], timeout=120, check=False)
    if done.returncode != 0:
        # the unit's own last words say more than systemctl's "see journalctl"
        said = _run(
            ["journalctl", "_SYSTEMD_UNIT=" + unit, "-n", "1", "-o", "cat", "--no-pager"],
            check=False,
        )
        detail = said.stdout.strip() or done.stderr.strip()
        raise OpError("systemctl %s %s failed: %s" % (action, unit, detail))
    return {"changed": True}


def run_command(command):
    done = _run(["/bin/sh", "-c", command], timeout=300, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise OpError(
            "%s: exit %d%s" % (command, done.returncode, ": " + detail[-1] if detail else "")
        )
    return {"changed": True}


OPS = {
    fn.__name__: fn
    for fn in (
        env_read,
        env_write,
        unit_exists,
        dropin_read,
        dropin_write,
        unit_action,
        run_command,
    )
}
