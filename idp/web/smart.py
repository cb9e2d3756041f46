"""``/.well-known/smart-configuration`` (SMART App Launch 2.2; document in idp/oidc/smart.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from idp.oidc.smart import smart_configuration

from .deps import services

bp = Blueprint("smart", __name__)


@bp.get("/.well-known/smart-configuration")
def configuration() -> Response:
    issuer = services().settings.issuer

    def url(endpoint: str) -> str:
        return issuer + url_for(endpoint)

    doc = smart_configuration(
        issuer,
        {
            "authorization": url("oidc.authorize"),
            "token": url("oidc.token"),
            "jwks": url("oidc.jwks"),
            "revocation": url("oidc.revoke"),
            "introspection": url("oidc.introspect"),
        },
    )
    response = jsonify(doc)
    # SMART 2.2: served with CORS so browser apps can read it; cached like discovery.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
