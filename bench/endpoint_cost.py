"""Protocol endpoints' cost next to a bare Flask "hello", in one interleaved run.

Why: portals call introspection or UserInfo on page views and refresh tokens all
day, so what each of those costs the server decides how many servers a health
system needs (issue 12). The figure that survives this noisy shared machine is
requests per server CPU-second (gunicorn arbiter + workers, from /proc), and the
one that travels between machines is its ratio to a bare Flask app under the same
gunicorn settings, measured in the same repetition. Run from the repository root::

    .venv/bin/python -m bench.endpoint_cost [--backends postgres-redis,embedded]
        [--reps 3] [--seconds 5] [--connections 16] [--workers 2]

For every repetition and every endpoint: the Flask hello app, then the provider on
each backend (order alternating per repetition), each driven by wrk with
``--connections`` keep-alive connections for ``--seconds``. Printed per backend
and endpoint: medians over repetitions of req/s, p50 and p99 latency, requests per
server CPU-second, and the median of the per-repetition ratios to Flask hello.

Endpoints: discovery, JWKS, token (client_credentials), introspection of a user's
access token, UserInfo, and refresh_token with rotation (each connection presents
the refresh token its previous answer returned: a durable chain per connection).
Fresh user tokens are made through the real sign-in pages before each repetition.

``--profile DIR`` also runs ``py-spy record --gil`` (only the thread holding the GIL:
where the CPU goes, not where threads wait) on every provider worker during each
provider run and prints the top frames (by own samples and by inclusive samples).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_POSTGRES, DEFAULT_REDIS, signed_in_tokens  # noqa: E402
from bench.server_load import Request, Run, process_tree, require_wrk, run_wrk  # noqa: E402
from tests.live import (  # noqa: E402
    PROJECT_ROOT,
    Backend,
    LiveAccount,
    LiveClient,
    LiveProvider,
    _free_port,
    live_provider,
)

ENDPOINTS = ("discovery", "jwks", "client_credentials", "introspection", "userinfo", "refresh")
REFRESH_PATTERN = '"refresh_token"%s*:%s*"([^"]+)"'


@dataclass
class Target:
    """A server under load: the provider on one backend, or the Flask hello app."""

    name: str
    url: str
    pid: int
    provider: LiveProvider | None = None
    client: LiveClient | None = None
    accounts: list[LiveAccount] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    tokens: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def flask_hello(args: argparse.Namespace) -> Iterator[Target]:
    """The bare Flask app under the provider's gunicorn settings (workers, threads, class)."""
    with tempfile.TemporaryDirectory(prefix="idp-hello-") as tmp:
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--access-logfile",
            str(Path(tmp) / "access.log"),
            *(["--worker-class", args.worker_class] if args.worker_class else []),
            "bench.flask_hello:app",
        ]
        log = (Path(tmp) / "server.log").open("wb")
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    requests.get(url + "/", timeout=1).raise_for_status()
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("the Flask hello app did not start") from None
                    time.sleep(0.2)
            yield Target(name="flask-hello", url=url, pid=process.pid, paths={"hello": "/"})
        finally:
            process.terminate()
            process.wait(10)
            log.close()


def _basic(client: LiveClient) -> str:
    raw = f"{client.client_id}:{client.client_secret or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def prepare(target: Target, connections: int) -> None:
    """A confidential client with every grant, and one account per connection."""
    live = target.provider
    assert live is not None
    target.client = live.add_client(redirect_uris=["http://127.0.0.1:9/callback"])
    target.accounts = [live.add_account() for _ in range(connections)]
    with requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10) as r:
        doc = r.json()
    target.paths = {
        "discovery": "/.well-known/openid-configuration",
        "jwks": urlsplit(doc["jwks_uri"]).path,
        "token": urlsplit(doc["token_endpoint"]).path,
        "introspection": urlsplit(doc["introspection_endpoint"]).path,
        "userinfo": urlsplit(doc["userinfo_endpoint"]).path,
    }


def sign_in_all(target: Target) -> None:
    """Fresh access and refresh tokens, one code-flow sign-in per connection."""
    assert target.provider is not None and target.client is not None
    target.tokens = [
        signed_in_tokens(
            target.provider, target.client, account, scope="openid profile email offline_access"
        )
        for account in target.accounts
    ]


def request_for(target: Target, endpoint: str) -> tuple[Request, list[str]]:
    """The wrk request for an endpoint, and the per-connection values it uses."""
    if endpoint == "hello":
        return Request("GET", "/", {}), []
    paths = target.paths
    if endpoint in ("discovery", "jwks"):
        return Request("GET", paths[endpoint], {}), []
    assert target.client is not None
    form = {
        "Authorization": _basic(target.client),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if endpoint == "client_credentials":
        return Request("POST", paths["token"], form, "grant_type=client_credentials"), []
    if endpoint == "introspection":
        values = [t["access_token"] for t in target.tokens]
        return Request("POST", paths["introspection"], form, "token={value}"), values
    if endpoint == "userinfo":
        values = [t["access_token"] for t in target.tokens]
        return Request("GET", paths["userinfo"], {"Authorization": "Bearer {value}"}), values
    if endpoint == "refresh":
        values = [t["refresh_token"] for t in target.tokens]
        body = "grant_type=refresh_token&refresh_token={value}"
        return Request("POST", paths["token"], form, body, next_value=REFRESH_PATTERN), values
    raise ValueError(endpoint)


# --- profiling --------------------------------------------------------------------------


@contextmanager
def profiled(target: Target, label: str, args: argparse.Namespace) -> Iterator[None]:
    """py-spy on every worker of ``target`` while the block runs (``--profile`` only)."""
    if not args.profile or target.provider is None:
        yield
        return
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = process_tree(target.pid)[1:]
    spies = []
    for pid in workers:
        out = out_dir / f"{label}-{pid}.txt"
        spies.append(
            (
                out,
                subprocess.Popen(
                    [args.py_spy, "record", "-p", str(pid), "-r", "200", "--gil", "--format", "raw"]
                    + ["-o", str(out), "-d", str(int(args.seconds) + 1), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        )
    try:
        yield
    finally:
        for _, spy in spies:
            spy.wait(60)
        print_top_frames(label, [out for out, _ in spies])


def print_top_frames(label: str, files: Sequence[Path], top: int = 12) -> None:
    """Own and inclusive samples per frame over the collapsed stacks py-spy wrote."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_short(f) for f in stack.split(";")]
            # Idle gunicorn threads wait in select/accept or on a queue: not request work.
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    if not total:
        print(f"  profile {label}: no samples")
        return
    print(f"  profile {label}: {total} samples; top frames by own / inclusive share")
    for (frame, n), (iframe, m) in zip(
        own.most_common(top), _interesting(inclusive, top), strict=False
    ):
        print(f"    {100 * n / total:5.1f}% {frame[:60]:<60} | {100 * m / total:5.1f}% {iframe}")


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py:12)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1]}" if where else name


def _interesting(inclusive: Counter[str], top: int) -> list[tuple[str, int]]:
    boring = ("<module>", "run (", "_bootstrap", "main (", "handle (", "process_request", "worker")
    return [item for item in inclusive.most_common(top * 4) if not item[0].startswith(boring)][:top]


# --- the run ----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_all(args: argparse.Namespace, hello: Target, providers: list[Target]) -> None:
    endpoints = [e for e in ENDPOINTS if e in args.endpoints.split(",")]
    runs: dict[tuple[str, str], list[Run]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    hello_runs: list[Run] = []

    def measure(target: Target, endpoint: str, rep: int) -> Run:
        req, values = request_for(target, endpoint)
        with profiled(target, f"{target.name}-{endpoint}-{rep}", args):
            run = run_wrk(
                target.url,
                req,
                server_pid=target.pid,
                connections=args.connections,
                seconds=args.seconds,
                lines=values,
            )
        print(
            f"  rep {rep} {target.name:<15} {endpoint:<19} {run.rps:8.0f} req/s  "
            f"p50 {run.p50_ms:6.2f}  p99 {run.p99_ms:7.2f} ms  "
            f"{run.per_cpu_second:7.0f} req/CPU-s  errors {run.errors}",
            flush=True,
        )
        return run

    for rep in range(1, args.reps + 1):
        for target in providers:
            sign_in_all(target)
        order = providers if rep % 2 else list(reversed(providers))
        for endpoint in endpoints:
            base = measure(hello, "hello", rep)
            hello_runs.append(base)
            for target in order:
                run = measure(target, endpoint, rep)
                runs.setdefault((target.name, endpoint), []).append(run)
                ratios.setdefault((target.name, endpoint), []).append(
                    run.per_cpu_second / base.per_cpu_second
                )
    print_table(args, endpoints, providers, runs, ratios, hello_runs)


def print_table(
    args: argparse.Namespace,
    endpoints: Sequence[str],
    providers: Sequence[Target],
    runs: dict[tuple[str, str], list[Run]],
    ratios: dict[tuple[str, str], list[float]],
    hello_runs: Sequence[Run],
) -> None:
    print()
    print(
        f"medians of {args.reps} interleaved repetitions; {args.workers} workers x "
        f"{args.threads} threads ({args.worker_class or 'gunicorn default'}), "
        f"{args.connections} connections, {args.seconds:g}s per run"
    )
    header = (
        f"| {'server':<15} | {'endpoint':<19} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} "
        f"| {'p99/p50':>7} | {'req/CPU-s':>9} | {'÷ hello':>7} | {'errors':>6} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")

    def row(name: str, endpoint: str, group: Sequence[Run], ratio: str) -> None:
        p50 = median([r.p50_ms for r in group])
        p99 = median([r.p99_ms for r in group])
        print(
            f"| {name:<15} | {endpoint:<19} | {median([r.rps for r in group]):7.0f} "
            f"| {p50:7.2f} | {p99:7.2f} | {p99 / p50 if p50 else float('nan'):7.1f} "
            f"| {median([r.per_cpu_second for r in group]):9.0f} | {ratio:>7} "
            f"| {sum(r.errors for r in group):6d} |"
        )

    row("flask-hello", "hello", hello_runs, "1.00")
    for target in providers:
        for endpoint in endpoints:
            key = (target.name, endpoint)
            row(target.name, endpoint, runs[key], f"{median(ratios[key]):.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="postgres-redis,embedded")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="default: as `idp serve`")
    parser.add_argument("--worker-class", default=None, help="default: as `idp serve`")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--profile", default=None, help="directory for py-spy profiles")
    parser.add_argument("--py-spy", default=str(Path(sys.executable).parent / "py-spy"))
    args = parser.parse_args(argv)
    require_wrk()
    _serve_defaults(args)
    backends = _backends(args)
    with ExitStack() as stack:
        hello = stack.enter_context(flask_hello(args))
        providers = []
        for name, backend in backends:
            live = stack.enter_context(
                live_provider(
                    backend=backend,
                    workers=args.workers,
                    threads=args.threads,
                    worker_class=args.worker_class,
                )
            )
            target = Target(name=name, url=live.url, pid=live.process.pid, provider=live)
            prepare(target, args.connections)
            providers.append(target)
        run_all(args, hello, providers)
    return 0


def _serve_defaults(args: argparse.Namespace) -> None:
    """Threads and worker class as `idp serve` runs them, unless given."""
    from idp.serving import GUNICORN_THREADS, GUNICORN_WORKER_CLASS

    if args.threads is None:
        args.threads = GUNICORN_THREADS
    if args.worker_class is None:
        args.worker_class = GUNICORN_WORKER_CLASS


def _backends(args: argparse.Namespace) -> list[tuple[str, Backend]]:
    import os
    from urllib.parse import urlsplit as split

    postgres = args.postgres_url or os.environ.get("IDP_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    redis_url = args.redis_url or os.environ.get("IDP_TEST_REDIS_URL") or DEFAULT_REDIS
    chosen: list[tuple[str, Backend]] = []
    for name in args.backends.split(","):
        if name == "embedded":
            chosen.append(("embedded", Backend()))
        elif name == "postgres-redis":
            for url in (postgres, redis_url):
                host = split(url).hostname or ""
                if not (host in ("localhost", "::1") or host.startswith("127.")):
                    raise SystemExit(f"refusing a non-loopback server for a benchmark: {host!r}")
            chosen.append(("postgres-redis", Backend(postgres_url=postgres, redis_url=redis_url)))
        else:
            raise SystemExit(f"unknown backend {name!r}")
    return chosen


if __name__ == "__main__":
    sys.exit(main())
