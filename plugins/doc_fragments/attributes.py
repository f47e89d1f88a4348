# Copyright: homeforge maintainers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Descriptions of the attributes every homeforge module declares (support per module)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode and return the changed status it would have, without
        modifying the target.
  diff_mode:
    description:
      - Returns details of what has changed (or would change, in check mode) when run
        with C(--diff).
"""
