"""The checkout as the collection ``homeforge.homelab``, for the plugin tests.

Importing this puts a collections directory of our own (one link to the checkout) on
``sys.path``, so tests import plugins as Ansible names them
(``ansible_collections.homeforge.homelab.plugins...``); ``COLLECTIONS`` is the same
directory for ``ANSIBLE_COLLECTIONS_PATH``. ``load_plain`` loads a file by path
instead, as the homeforge CLI loads module_utils/mesh.py.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

COLLECTIONS = Path(tempfile.mkdtemp(prefix="homeforge-collections-"))
(COLLECTIONS / "ansible_collections" / "homeforge").mkdir(parents=True)
(COLLECTIONS / "ansible_collections" / "homeforge" / "homelab").symlink_to(ROOT)
atexit.register(shutil.rmtree, COLLECTIONS, ignore_errors=True)  # removes the link only
sys.path.insert(0, str(COLLECTIONS))


def load_plain(relative: str):
    """The file at ROOT/relative as a module, with no package and no collection loader."""
    path = ROOT / relative
    name = "homeforge_plain_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
