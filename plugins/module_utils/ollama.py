# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Ollama model names and pull progress, as pure functions.

Used by the ``ollama_model`` module (on the host) and by ``homeforge models`` (on
the controller, loaded as plain Python). Standard library only.

Ollama names a model ``[registry/][namespace/]model[:tag]``; the defaults are
``registry.ollama.ai``, ``library`` and ``latest``. ``/api/tags`` lists models by
their short name (``llama3.2:1b``, ``ns/model:tag``, or the full name for another
registry), and the models directory keeps each manifest at
``manifests/<registry>/<namespace>/<model>/<tag>``.
"""

from __future__ import annotations

import json
import os
import re
import time

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
# Ollama's own rules (ollama/ollama types/model/name.go, v0.33: ParseNameBare, isValidPart,
# isValidLen): every part starts with a letter, digit or _; then the host takes
# letters, digits and _.:- (so host:port), the namespace _- (no '.'), the model and the
# tag _.-; the host up to 350 characters, the others up to 80. There is no digest part.
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}\Z")
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}\Z")
_MODEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}\Z")
_TAG = _MODEL


class ModelNameError(ValueError):
    pass


def parse_name(name: object) -> tuple[str, str, str, str]:
    """(registry, namespace, model, tag) as Ollama splits ``[host/][namespace/]model[:tag]``:
    the tag after a last ':' that follows the last '/', the model after the last '/', the
    namespace after the one before, the host the rest; ModelNameError for a name Ollama
    would refuse. A scheme (``https://``), which Ollama takes, is refused: homeforge pulls
    from the registry the host names."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ModelNameError(f"{name!r} is not a model name (model[:tag])")
    if "://" in name:
        raise ModelNameError(f"{name!r}: give the model name without a scheme (https://)")
    base, tag = name, "latest"
    if name.rfind(":") > name.rfind("/"):
        base, tag = name.rsplit(":", 1)
    parts = base.rsplit("/", 2)
    parts = [DEFAULT_REGISTRY, DEFAULT_NAMESPACE][: 3 - len(parts)] + parts
    if (
        not _HOST.match(parts[0])
        or not _NAMESPACE.match(parts[1])
        or not _MODEL.match(parts[2])
        or not _TAG.match(tag)
    ):
        raise ModelNameError(
            f"{name!r} is not a model name as Ollama reads it: [host[:port]/][namespace/]"
            "model[:tag], each part starting with a letter, digit or _, then letters, digits"
            " and _.- (no '.' in the namespace), up to 80 characters (e.g. llama3.2:1b)"
        )
    return parts[0], parts[1], parts[2], tag


def short_name(name: str) -> str:
    """The name ``/api/tags`` shows for ``name``."""
    registry, namespace, model, tag = parse_name(name)
    if registry == DEFAULT_REGISTRY and namespace == DEFAULT_NAMESPACE:
        return f"{model}:{tag}"
    if registry == DEFAULT_REGISTRY:
        return f"{namespace}/{model}:{tag}"
    return f"{registry}/{namespace}/{model}:{tag}"


def manifest_relpath(name: str) -> str:
    """The manifest's path under the models directory."""
    return "manifests/" + "/".join(parse_name(name))


def find(models: list, name: str) -> dict | None:
    """The ``/api/tags`` entry for ``name``, or None."""
    wanted = short_name(name).lower()  # Ollama compares names case-insensitively
    for entry in models or []:
        if isinstance(entry, dict) and wanted in (
            str(entry.get("name")).lower(),
            str(entry.get("model")).lower(),
        ):
            return entry
    return None


class PullError(Exception):
    """A pull that Ollama reported as failed (an ``{"error"}`` line) or that broke off."""


class PullProgress:
    """Follows ``/api/pull``'s NDJSON stream: per-layer totals and bytes, the last status,
    and whether it ended in ``success``. Errors arrive as ``{"error": ...}`` lines with
    HTTP 200; they raise PullError."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.started = clock()
        self.layers: dict[str, dict[str, int]] = {}
        self.status = ""
        self.done = False
        self.first_completed: dict[str, int] = {}

    def feed(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        import json

        try:
            event = json.loads(line)
        except ValueError:
            raise PullError(f"Ollama sent a line that is not JSON: {line[:80]!r}") from None
        if not isinstance(event, dict):
            raise PullError(f"Ollama sent an unexpected line: {line[:80]!r}")
        if event.get("error"):
            raise PullError(str(event["error"]))
        self.status = str(event.get("status", self.status))
        digest = event.get("digest")
        if digest and "total" in event:
            layer = self.layers.setdefault(str(digest), {"total": 0, "completed": 0})
            layer["total"] = int(event.get("total") or 0)
            completed = int(event.get("completed") or 0)
            self.first_completed.setdefault(str(digest), completed)
            layer["completed"] = max(layer["completed"], completed)
        if self.status == "success":
            self.done = True

    @property
    def total(self) -> int:
        return sum(layer["total"] for layer in self.layers.values())

    @property
    def completed(self) -> int:
        return sum(layer["completed"] for layer in self.layers.values())

    @property
    def transferred(self) -> int:
        """Bytes that arrived during this pull (what each layer had at its first report
        was already on disk: a finished blob or a partial download resumed)."""
        return sum(
            max(0, layer["completed"] - self.first_completed.get(digest, 0))
            for digest, layer in self.layers.items()
        )

    def snapshot(self) -> dict:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = self.transferred / elapsed
        left = self.total - self.completed
        return {
            "status": self.status,
            "total": self.total,
            "completed": self.completed,
            "transferred": self.transferred,
            "rate_bps": int(rate),
            "eta_s": int(left / rate) if rate > 0 and left > 0 else 0,
            "done": self.done,
        }


# Where each model on a host came from: homeforge's record beside Ollama (never inside the
# models directory, which Ollama owns), {"models": {"name:tag": {"digest", "origin", "at"}}}.
# The ollama_model module writes a pull, the seeding host program (src/homeforge/remote/
# modelops.py, standard library only) a seed; `homeforge models list` reads it.
ORIGINS_FILE = "/var/lib/homeforge/ollama/origins.json"


def read_origins(path: str) -> dict:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    models = data.get("models") if isinstance(data, dict) else None
    return models if isinstance(models, dict) else {}


def write_origin(path: str, name: str, digest: str, origin: str, at: str) -> None:
    """Record (digest set) or forget (digest empty) where model ``name`` came from,
    atomically, readable by all (it holds no secret)."""
    import tempfile

    records = read_origins(path)
    if digest:
        records[name] = {"digest": digest, "origin": origin, "at": at}
    else:
        records.pop(name, None)
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".origins-")
    with os.fdopen(fd, "w") as handle:
        json.dump({"models": records}, handle, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
