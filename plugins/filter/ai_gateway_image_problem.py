# Copyright: homeforge maintainers
# Apache License 2.0
"""Kubernetes mode's image, by the rule inventory check applies (module_utils/gateway.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ai_gateway_image_problem
short_description: Why an image cannot run the AI gateway in Kubernetes mode, or an empty string
description:
  - Takes C(ai_gateway_k8s_image) and returns an empty string when it is pinned by digest
    (C(NAME[:TAG]@sha256:<64 hex>)) and its tag, if any, names the LiteLLM release
    C(ai_gateway_version) (the hooks use that release's internals); otherwise why not.
  - The same rule as C(homeforge inventory check), from module_utils/gateway.py.
options:
  _input:
    description: The image reference (C(ai_gateway_k8s_image)).
    type: str
    required: true
  version:
    description: The LiteLLM release the role installs (C(ai_gateway_version)).
    type: str
    required: true
"""

EXAMPLES = r"""
ok: "{{ ai_gateway_k8s_image | homeforge.homelab.ai_gateway_image_problem(ai_gateway_version) == '' }}"
"""

RETURN = r"""
_value:
  description: Why the image is refused, or an empty string.
  type: str
"""

from ansible_collections.homeforge.homelab.plugins.module_utils import gateway


def ai_gateway_image_problem(image, version):
    return gateway.image_problem(image, version) or ""


class FilterModule:
    def filters(self):
        return {"ai_gateway_image_problem": ai_gateway_image_problem}
