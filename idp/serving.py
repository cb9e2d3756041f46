"""How `idp serve` runs gunicorn: worker class and threads, shared with the benchmarks.

Kept in one place so that ``bench.endpoint_cost`` measures the provider exactly as
it is deployed, and the Flask yardstick under the same settings.
"""

from __future__ import annotations

# gunicorn's threaded worker: each worker process serves this many requests at once.
GUNICORN_WORKER_CLASS = "gthread"
GUNICORN_THREADS = 8
