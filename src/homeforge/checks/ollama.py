"""Ollama's settings that reach its unit file, its URL and its pulls, by the shared rules."""

from __future__ import annotations

from homeforge.checks.rules import digest_map_problem, rule_problems
from homeforge.inventory.model import Inventory, is_template
from homeforge.module_utils import load
from homeforge.validation import (
    absolute_path_problem,
    device_list_problem,
    env_name_problem,
    env_value_problem,
    https_url_problem,
    listen_problem,
    user_name_problem,
    version_problem,
)

RULES = {
    "ollama_host": listen_problem,
    "ollama_models_dir": absolute_path_problem,
    "ollama_user": user_name_problem,
    "ollama_gpu_devices": device_list_problem,
    # Every value of the service's environment lands in ollama.service (Environment=).
    "ollama_keep_alive": env_value_problem,
    # The release: its version and root name the directory it replaces whole.
    "ollama_version": version_problem,
    "ollama_install_root": absolute_path_problem,
    "ollama_release_url": https_url_problem,
    "ollama_sha256": digest_map_problem,
    "ollama_k8s_chart_repo": https_url_problem,
    "ollama_k8s_chart_version": version_problem,
}
OPTIONAL_RULES = {"ollama_artifacts_dir": absolute_path_problem}  # empty: download


def check_ollama(inv: Inventory) -> list[str]:
    names = load("ollama")
    problems = []
    for host, hvars in inv.hostvars.items():
        problems += rule_problems(inv, host, hvars, {**RULES, **OPTIONAL_RULES}, OPTIONAL_RULES)
        extra = hvars.get("ollama_extra_env")
        if isinstance(extra, dict) and not is_template(extra):
            for name, value in extra.items():
                problem = env_name_problem(str(name)) or env_value_problem(value)
                if problem:
                    problems.append(f"{inv.where(host, 'ollama_extra_env')}: {name}: {problem}")
        models = hvars.get("ollama_models")
        if isinstance(models, list):
            for model in models:
                if is_template(model):
                    continue
                try:
                    names.parse_name(model)
                except names.ModelNameError as exc:
                    problems.append(f"{inv.where(host, 'ollama_models')}: {exc}")
    return problems


CHECKS = [check_ollama]
