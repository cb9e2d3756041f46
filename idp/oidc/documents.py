"""Public JSON documents served as prebuilt bytes: discovery and the JWKS.

Both change rarely (the JWKS at a key rotation, discovery never while the process
runs), yet relying parties fetch them often. Serialising once and answering with
the same bytes, an ETag and Cache-Control makes them as cheap as a static file,
and lets a client's conditional GET end in a 304.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class JsonDocument:
    body: bytes
    etag: str  # a strong validator: the SHA-256 of ``body``


def json_document(doc: Any) -> JsonDocument:
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return JsonDocument(body=body, etag=hashlib.sha256(body).hexdigest()[:32])
