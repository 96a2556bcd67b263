"""The OpenAPI document (``/openapi.json``) and its browsable page (``/docs``).

The page is Swagger UI from the ``flask-swagger-ui`` package's own copy of the distribution, served
from this process: it works offline and loads nothing from a CDN (nor the online validator's
badge, which Swagger UI would fetch by default).
"""
from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, jsonify, send_from_directory
from werkzeug.exceptions import NotFound

from web.openapi import document

bp = Blueprint("apidocs", __name__)
SWAGGER_UI = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
ASSETS = frozenset({"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "favicon-32x32.png", "favicon-16x16.png", "LICENSE"})
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>model discovery service: API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="stylesheet" href="/docs/index.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, layout: "StandaloneLayout",
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset]
      });
    };
  </script>
</body>
</html>
"""


@bp.get("/openapi.json")
def openapi_document():
    """This service's OpenAPI 3.1 document."""
    return jsonify(document())


@bp.get("/docs", strict_slashes=False)  # /docs/ too, as a link with a slash gives it (it was a 404)
def page():
    """The browsable API page (Swagger UI over /openapi.json)."""
    return Response(PAGE, mimetype="text/html")


@bp.get("/docs/<asset>")
def asset(asset: str):
    """One file of the page's Swagger UI distribution.

    :raise 404: not a file of the page.
    """
    if asset not in ASSETS:
        raise NotFound(f"no file {asset!r} here; the page is /docs")
    return send_from_directory(SWAGGER_UI, asset, max_age=86400)
