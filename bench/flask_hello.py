"""The yardstick: a bare Flask "hello" app, served by the same gunicorn settings.

``bench.endpoint_cost`` divides each endpoint's requests per server CPU-second by
this app's, measured in the same repetition: the ratio says how close an endpoint
comes to the cheapest request Flask under gunicorn can answer on this machine.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
