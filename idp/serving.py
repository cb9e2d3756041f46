"""How `idp serve` runs gunicorn: worker class and threads, shared with the benchmarks.

Kept in one place so that ``bench.endpoint_cost`` measures the provider exactly as
it is deployed, and the Flask yardstick under the same settings.

Why ``gthread`` with 4 threads (issue 12, measured with ``bench.endpoint_cost
--threads 1|2|4|8`` and ``--worker-class sync``, 2 workers, 16 connections, on
PostgreSQL + Redis; figures in bench/README.md):

- Threads overlap the waits on PostgreSQL and Redis. ``sync`` (one request per
  process) answered 30-65 % fewer token, introspection and UserInfo requests per
  second than 4 threads and used more CPU per request; one ``gthread`` thread
  answered 10-25 % fewer.
- Beyond that, threads only add GIL hand-offs: every runnable thread of a worker
  competes for the one GIL, and a request whose data has arrived can wait several
  5 ms switch intervals for it, where a request waiting in gunicorn's queue is
  served in arrival order. Requests per server CPU-second were the same within the
  noise from 2 to 8 threads, and tails did not improve with more threads
  (client_credentials p99/p50 3.2 at 4 threads, 4.3-6.1 at 8 in two pairs of runs;
  the other endpoints' tails, like the Flask yardstick's own, were set by the
  shared machine's load). So: the fewest threads that do not stall sign-ins.
- Sign-ins must not stall the cheap requests. A default-profile argon2 hash
  takes 100-150 ms of CPU and releases the GIL (other threads run meanwhile); each
  worker runs at most ``hash_slots()`` (one per core: 2 here) at once, and further
  sign-ins wait for a slot holding a thread. With 2 threads, two sign-ins would
  occupy the whole worker for that long; with 4, two threads keep answering tokens,
  introspection and discovery while two hashes run. (A storm of more sign-ins than
  threads fills a worker whatever the count: sign-ins waiting for a slot hold
  threads too.) On a machine with more cores, keep threads at least two above
  ``hash_slots()``.
"""

from __future__ import annotations

# gunicorn's threaded worker: each worker process serves this many requests at once.
GUNICORN_WORKER_CLASS = "gthread"
GUNICORN_THREADS = 4
