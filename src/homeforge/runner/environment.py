"""The environment ansible-playbook runs in: our collection plus the speed defaults
(SSH pipelining and ControlPersist, ``smart`` fact gathering with a JSON fact cache,
and mitogen's strategy when it is installed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from homeforge import paths
from homeforge.errors import BadInput, EnvironmentProblem

# Our strategy plugin (mitogen's linear strategy, collections listed once per run).
STRATEGY_DIR = Path(__file__).parent / "strategy"
STRATEGY = "homeforge_mitogen"


def mitogen_strategy_dir() -> Path | None:
    """The directory of mitogen's strategy plugins, or None when mitogen is not installed."""
    try:
        import ansible_mitogen
    except Exception:
        return None
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return strategy if strategy.is_dir() else None


def ansible_env(state: Path, strategy: str = "auto") -> dict[str, str]:
    """Environment for ansible-playbook: our collection plus the speed defaults.

    Values already set in the caller's environment win, so every default can be
    overridden the usual Ansible way.
    """
    env = {
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(
            [str(paths.collections_dir()), os.path.expanduser("~/.ansible/collections")]
        ),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_GATHERING": "smart",
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(state / "facts"),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "86400",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        # ansible-runner turns host key checking off unless it is set: keep Ansible's default.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
        "ANSIBLE_NOCOLOR": "True",
    }
    if strategy in ("auto", "mitogen"):
        strategy_dir = mitogen_strategy_dir()
        if strategy_dir is not None:
            env["ANSIBLE_STRATEGY_PLUGINS"] = os.pathsep.join(
                [str(STRATEGY_DIR), str(strategy_dir)]
            )
            env["ANSIBLE_STRATEGY"] = STRATEGY
        elif strategy == "mitogen":
            raise EnvironmentProblem("--strategy mitogen: the mitogen package is not importable")
    elif strategy != "linear":
        raise BadInput(f"--strategy: unknown strategy '{strategy}' (auto, mitogen or linear)")
    return {k: os.environ.get(k, v) for k, v in env.items()}


def prefer_our_ansible() -> None:
    """Put the directory of our Python first on PATH when it is not there: ansible-runner
    looks ansible-playbook up on PATH, and the one beside our Python is the one we test."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
