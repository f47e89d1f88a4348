"""Render a role's template as Ansible would, for unit tests of what roles write.

``render(role, template, **variables)`` takes the role's ``defaults/main.yml``, overlays
VARIABLES and renders ``roles/ROLE/templates/TEMPLATE`` with Ansible's own Templar (its
filters: ``to_json``, ``combine``, ``to_nice_yaml``...), trusted as a role's template is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]


def defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def render(role: str, template: str, **variables: Any) -> str:
    text = (ROOT / "roles" / role / "templates" / template).read_text()
    templar = Templar(loader=DataLoader(), variables={**defaults(role), **variables})
    return str(templar.template(trust_as_template(text)))


def render_objects(role: str, template: str, **variables: Any) -> list[dict[str, Any]]:
    """A template that renders a YAML list or YAML documents of Kubernetes objects."""
    docs = [d for d in yaml.safe_load_all(render(role, template, **variables)) if d is not None]
    return [o for d in docs for o in (d if isinstance(d, list) else [d])]
