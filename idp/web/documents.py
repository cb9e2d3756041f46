"""HTTP for prebuilt JSON documents (idp/oidc/documents.py): ETag, 304, Cache-Control.

The same answer is given before Flask, for requests that need nothing else from it,
by :mod:`idp.web.prebuilt`; both read their headers from here.
"""

from __future__ import annotations

from flask import Response, request

from idp.oidc.documents import JsonDocument

# Short: relying parties must see a rotated signing key soon after it starts signing.
MAX_AGE = 300
CACHE_CONTROL = f"public, max-age={MAX_AGE}"
JSON_TYPE = "application/json"
# SMART App Launch 2.2: browser apps read smart-configuration across origins.
CORS_ANY_ORIGIN = ("Access-Control-Allow-Origin", "*")


def document_response(doc: JsonDocument, *, cors: bool = False) -> Response:
    """200 with the bytes, or 304 when the client's If-None-Match names them."""
    if doc.etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(doc.body, mimetype=JSON_TYPE)
    response.set_etag(doc.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    if cors:
        response.headers[CORS_ANY_ORIGIN[0]] = CORS_ANY_ORIGIN[1]
    return response
