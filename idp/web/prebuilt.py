"""Discovery, SMART configuration and the JWKS answered before Flask, as a static file is.

Relying parties fetch these documents often, and their bytes are prebuilt already
(idp/oidc/documents.py), yet through Flask each fetch paid for a request context,
the CSRF and NUL-byte checks, the locale, the session, the unit of work and the
after-request hooks: a third of what it cost (issue 12). This WSGI layer sits just
inside the Host guard, so the request id, the metrics (labelled with the route's
rule, as Flask labels it), ProxyFix and the Host check still apply, and answers a
plain GET or HEAD of those paths itself: the same status, headers and bytes Flask
would send (200 or 304 by If-None-Match, ETag, Cache-Control, the security headers
of idp/web/security.py, CORS for SMART).

"Plain" is what Flask would answer without looking at anything else: no cookie
(the Flask session could answer with ``Vary`` or ``Set-Cookie``), no query string
(``?lang=`` sets the language cookie), no body (checked for NUL bytes). Everything
else, every other method and path, and a document Flask has not built yet (the
discovery document is built on its first request, with that request's script
root), passes to Flask unchanged. The JWKS is read from the KeyRing on every
request, so a rotation is published as promptly as Flask published it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from werkzeug.http import parse_etags
from werkzeug.routing import Map

from idp.oidc.documents import JsonDocument

from .documents import CACHE_CONTROL, CORS_ANY_ORIGIN, JSON_TYPE
from .metrics import ROUTE_KEY
from .security import added_security_headers

WsgiApp = Callable[..., Iterable[bytes]]
Headers = list[tuple[str, str]]

# A request carrying any of these may get something else from Flask than the document.
_NOT_PLAIN = ("QUERY_STRING", "HTTP_COOKIE", "HTTP_TRANSFER_ENCODING")


@dataclass(frozen=True, slots=True)
class PrebuiltRoute:
    """A Flask endpoint whose GET answer is a prebuilt document."""

    endpoint: str  # its rule gives the path and the metrics label
    document: Callable[[], JsonDocument | None]  # None: not built yet, Flask builds it
    cors: bool = False


@dataclass(frozen=True, slots=True)
class _Answer:
    """One document's two possible answers, headers worked out once per document."""

    doc: JsonDocument
    full: Headers  # 200 (GET and HEAD)
    not_modified: Headers  # 304


class PrebuiltDocuments:
    """WSGI middleware: plain GET/HEAD of a prebuilt document, answered without Flask."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        url_map: Map,
        routes: Sequence[PrebuiltRoute],
        secure: bool,
    ) -> None:
        self.app = app  # what everything else falls through to: Flask
        self._url_map = url_map
        self._routes = {route.endpoint: route for route in routes}
        self._security = added_security_headers(secure=secure)
        # path -> (rule, route); resolved at the first request, once every route exists.
        self._paths: dict[str, tuple[str, PrebuiltRoute]] | None = None
        self._answers: dict[str, _Answer] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and method != "HEAD":
            return self.app(environ, start_response)
        paths = self._paths if self._paths is not None else self._resolve()
        found = paths.get(environ.get("PATH_INFO", ""))
        if found is None or not _plain(environ):
            return self.app(environ, start_response)
        rule, route = found
        try:
            doc = route.document()
        except Exception:  # noqa: BLE001 - Flask answers the failure as it always did
            doc = None
        if doc is None:
            return self.app(environ, start_response)
        answer = self._answer(rule, route, doc)
        environ[ROUTE_KEY] = rule
        wanted = environ.get("HTTP_IF_NONE_MATCH")
        if wanted and doc.etag in parse_etags(wanted):
            start_response("304 NOT MODIFIED", list(answer.not_modified))
            return []
        start_response("200 OK", list(answer.full))
        return [] if method == "HEAD" else [doc.body]

    def _answer(self, rule: str, route: PrebuiltRoute, doc: JsonDocument) -> _Answer:
        answer = self._answers.get(rule)
        if answer is None or answer.doc is not doc:
            cors = [CORS_ANY_ORIGIN] if route.cors else []
            validators = [("ETag", f'"{doc.etag}"'), ("Cache-Control", CACHE_CONTROL)]
            answer = _Answer(
                doc=doc,
                full=[
                    ("Content-Type", JSON_TYPE),
                    ("Content-Length", str(len(doc.body))),
                    *validators,
                    *cors,
                    *self._security,
                ],
                not_modified=[*validators, *cors, *self._security],
            )
            self._answers[rule] = answer
        return answer

    def _resolve(self) -> dict[str, tuple[str, PrebuiltRoute]]:
        paths: dict[str, tuple[str, PrebuiltRoute]] = {}
        for rule in self._url_map.iter_rules():
            route = self._routes.get(rule.endpoint)
            if route is not None and not rule.arguments and "GET" in (rule.methods or ()):
                paths[rule.rule] = (rule.rule, route)
        self._paths = paths
        return paths


def _plain(environ: dict[str, Any]) -> bool:
    """Nothing in the request that Flask would answer differently for."""
    if any(environ.get(name) for name in _NOT_PLAIN):
        return False
    length = environ.get("CONTENT_LENGTH")
    return not length or length == "0"
