"""The instance folder: secret key file and the SQLite database live here."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_secret_key(instance: Path) -> str:
    """Read ``<instance>/secret_key``, creating it (0600) on first use."""
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        instance.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        return key
