"""Public pages: pass page and add-to-wallet links (by unguessable token), enrolment form."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__)

from api.public import errors, frame, join, pages, samsung  # noqa: E402,F401
