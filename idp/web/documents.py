"""HTTP for prebuilt JSON documents (idp/oidc/documents.py): ETag, 304, Cache-Control."""

from __future__ import annotations

from flask import Response, request

from idp.oidc.documents import JsonDocument


def document_response(doc: JsonDocument, *, max_age: int) -> Response:
    """200 with the bytes, or 304 when the client's If-None-Match names them."""
    if doc.etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(doc.body, mimetype="application/json")
    response.set_etag(doc.etag)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response
