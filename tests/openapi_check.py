"""Hold the JSON admin API to its contract, ``idp/web/admin_openapi.json`` (OpenAPI 3.1).

:func:`check` validates one Flask test-client response (status, content type and body)
with openapi-core against the operation its request reached; a path or status the
document does not describe fails too, so a new response cannot slip in undocumented.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

SPEC = Path(__file__).resolve().parent.parent / "idp" / "web" / "admin_openapi.json"


@cache
def spec() -> OpenAPI:
    return OpenAPI.from_dict(json.loads(SPEC.read_text()))


class _SentRequest(WerkzeugOpenAPIRequest):
    """The test client's request after the app read it: its body is gone, and response
    validation needs only the method and path."""

    @property
    def body(self) -> bytes | None:
        return None


def check(response: Any) -> Any:
    """Validate ``response`` (from ``FlaskClient``) against the document; return it."""
    spec().validate_response(_SentRequest(response.request), WerkzeugOpenAPIResponse(response))
    return response
