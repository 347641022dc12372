"""Access to the Services container of the current app; no other globals."""

from __future__ import annotations

from flask import current_app

from walletpass.bootstrap import Services


def services() -> Services:
    return current_app.extensions["walletpass"]  # type: ignore[no-any-return]
