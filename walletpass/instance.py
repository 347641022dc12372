"""The instance folder: secret key file and the SQLite database live here."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def load_secret_key(instance: Path) -> str:
    """Read ``<instance>/secret_key``, creating it (0600) on first use.

    The key is written to a temporary file and linked into place, so processes that start together (gunicorn
    workers on a fresh instance) never read a half-written file and all end up with the one key that won: API
    keys are hashed with it, so every process must agree.
    """
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=instance, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: its key is the instance's
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
