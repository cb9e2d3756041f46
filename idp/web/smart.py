"""``/.well-known/smart-configuration`` (SMART App Launch 2.2; document in idp/oidc/smart.py)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, url_for

from idp.oidc.documents import json_document
from idp.oidc.smart import smart_configuration

from .deps import services
from .documents import document_response

bp = Blueprint("smart", __name__)

# Where the built document is kept (idp/web/prebuilt.py serves it from there too).
EXTENSION_KEY = "idp_smart_configuration"


@bp.get("/.well-known/smart-configuration")
def configuration() -> Response:
    """Prebuilt bytes like discovery: the document depends only on the issuer and routes.

    Served with CORS so browser apps can read it (SMART 2.2); cached like discovery.
    """
    cached = current_app.extensions.get(EXTENSION_KEY)
    if cached is None:
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
        cached = current_app.extensions[EXTENSION_KEY] = json_document(doc)
    return document_response(cached, cors=True)
