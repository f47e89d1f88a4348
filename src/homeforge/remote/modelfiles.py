"""Ollama's model files on disk, as the seeding source and target both read them.

A shared part of the host programs :mod:`~homeforge.remote.offerops` (the source) and
:mod:`~homeforge.remote.modelops` (the target): sent after the prelude and before either
(see :func:`homeforge.remote.program_text`), standard library only, Python 3.7 syntax.
A model is ``manifests/<registry>/<namespace>/<model>/<tag>`` (JSON listing its layers
and config by digest and size) and one file per blob, ``blobs/sha256-<hex>``; the models
directory is the Ollama user's, so it is opened as :func:`_walk` allows.
"""

import os
import re
import stat

if __name__ != "homeforge_program":  # on the controller; on a host the prelude precedes this
    from homeforge.remote.prelude import OpError, _walk

CHUNK = 1 << 20
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
MANIFEST_REL = re.compile(
    r"manifests/[A-Za-z0-9.:_-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+\Z"
)
MANIFEST_LIMIT = 4 << 20  # Ollama's manifests are a few KiB


def _manifest_path(models_dir, manifest_rel):
    if not MANIFEST_REL.match(manifest_rel or "") or ".." in manifest_rel.split("/"):
        raise OpError("not a manifest path: %r" % (manifest_rel,))
    if not os.path.isabs(models_dir or ""):
        raise OpError("not an absolute models directory: %r" % (models_dir,))
    return os.path.join(models_dir, manifest_rel)


def _models(models_dir):
    """The models directory, opened as :func:`_walk` allows: ``(fd, trusted)``."""
    try:
        fd, _name, trusted = _walk(models_dir)
    except FileNotFoundError:
        raise OpError("%s: no such models directory" % models_dir) from None
    return fd, trusted


def _blob_name(blob):
    return blob["digest"].replace(":", "-")


def _size_at(dir_fd, name):
    """The size of the regular file ``name`` in ``dir_fd`` (a link is no file), else None."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None
