"""/api/v1/docs: the readable API reference — Swagger UI over /api/v1/openapi.json.

Its assets come from the ``swagger-ui-bundle`` package, served by us (no CDN, nothing fetched at run time); the
page runs its one script from a file of ours, so the HTML pages' Content-Security-Policy (``default-src 'self'``,
no inline script) holds for it too.
"""

from __future__ import annotations

from flask import Response, abort, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from api.admin import bp

#: The files of the bundle the page loads (nothing else of the package is served).
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>walletpass API</title>
<link rel="stylesheet" href="{css}"><link rel="icon" href="{icon}"></head>
<body data-openapi="{spec}"><div id="swagger-ui"></div>
<script src="{bundle}"></script><script src="{init}"></script></body></html>
"""


@bp.get("/docs")
def docs() -> Response:
    asset = "admin.docs_asset"
    page = _PAGE.format(css=url_for(asset, name="swagger-ui.css"), icon=url_for(asset, name="favicon-32x32.png"),
                        bundle=url_for(asset, name="swagger-ui-bundle.js"), spec=url_for("admin.openapi"),
                        init=url_for("static", filename="docs/init.js"))
    return Response(page, mimetype="text/html")


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    response = send_from_directory(swagger_ui_path, name, max_age=86400)
    return response
