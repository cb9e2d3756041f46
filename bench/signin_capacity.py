"""Full code-flow sign-ins per second next to raw argon2 verifies per second.

Why: a sign-in should cost little more than its password hash (issue 12 item 3),
and a Monday-morning login storm must queue, not exhaust memory. Run from the
repository root::

    .venv/bin/python -m bench.signin_capacity [--profiles owasp,rfc9106-low]
        [--browsers 8] [--seconds 8] [--reps 3] [--storm 32]

For each argon2 profile, one provider (PostgreSQL + Redis by default, 2 workers)
and, interleaved A B A B for ``--reps`` repetitions:

- **raw**: argon2 verifies at the same parameters in one process per worker,
  nothing else (what the hardware can hash);
- **sign-in**: ``--browsers`` concurrent browsers, each repeating the whole code
  flow: authorization request, login page, password POST, resume, code exchange
  (with PKCE) for a token response.

Printed per profile: the medians of raw verifies/s and sign-ins/s and their
ratio, and the server's memory: idle RSS (arbiter + workers), the peak during the
sign-in runs, and the peak while ``--storm`` browsers sign in at once, next to
the issue's bound 2 x idle + cores x one hash's memory.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing
import os
import re
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_backend_arguments, backend_from  # noqa: E402
from bench.server_load import PeakRss, process_tree, rss_bytes  # noqa: E402
from tests.live import LiveAccount, LiveClient, LiveProvider, live_provider  # noqa: E402

_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
_FORM_ACTION = re.compile(r'<form\b[^>]*action="([^"]*)"', re.I)


def _hidden_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in _INPUT.findall(html):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get("type") == "hidden" and "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def sign_in(
    http: requests.Session, live: LiveProvider, client: LiveClient, account: LiveAccount
) -> None:
    """One whole code flow in a fresh browser (cookies), on a kept-alive connection."""
    http.cookies.clear()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    url = live.endpoint("/authorize?" + urlencode(params))
    with http.get(url, allow_redirects=True, timeout=60) as page:
        page.raise_for_status()
        html, page_url = page.text, page.url
    action = urljoin(page_url, _FORM_ACTION.search(html).group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    fields = _hidden_fields(html)
    fields.update(username=account.username, password=account.password)
    location = action
    response = http.post(action, data=fields, allow_redirects=False, timeout=60)
    for _ in range(6):
        if response.status_code not in (302, 303):
            raise RuntimeError(f"sign-in stopped at {location}: {response.status_code}")
        location = urljoin(location, response.headers["Location"])
        response.close()
        if location.startswith(client.redirect_uri):
            break
        response = http.get(location, allow_redirects=False, timeout=60)
    else:
        raise RuntimeError("too many redirects")
    code = parse_qs(urlsplit(location).query)["code"][0]
    with http.post(
        live.endpoint("/token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client.client_id, client.client_secret or ""),
        timeout=60,
    ) as token:
        token.raise_for_status()


def run_sign_ins(
    live: LiveProvider,
    client: LiveClient,
    accounts: Sequence[LiveAccount],
    *,
    browsers: int,
    seconds: float,
) -> tuple[float, int, int]:
    """Sign-ins per second over ``seconds``, errors, and the server's peak RSS."""
    deadline = time.monotonic() + seconds
    done = [0] * browsers
    errors = [0] * browsers

    def browse(i: int) -> None:
        with requests.Session() as http:
            while time.monotonic() < deadline:
                try:
                    sign_in(http, live, client, accounts[i % len(accounts)])
                    done[i] += 1
                except (requests.RequestException, RuntimeError):
                    errors[i] += 1

    threads = [threading.Thread(target=browse, args=(i,)) for i in range(browsers)]
    started = time.monotonic()
    with PeakRss(live.process.pid) as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    return sum(done) / elapsed, sum(errors), peak.peak


def storm(
    live: LiveProvider, client: LiveClient, accounts: Sequence[LiveAccount], n: int
) -> tuple[int, int]:
    """``n`` browsers sign in at once (each once); returns (peak RSS, errors)."""
    barrier = threading.Barrier(n)
    errors = [0] * n

    def one(i: int) -> None:
        with requests.Session() as http:
            barrier.wait()
            try:
                sign_in(http, live, client, accounts[i % len(accounts)])
            except (requests.RequestException, RuntimeError):
                errors[i] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    with PeakRss(live.process.pid, interval=0.005) as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return peak.peak, sum(errors)


def _raw_worker(profile: str, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from idp.flows.methods.password import PasswordHashing

    hashing = PasswordHashing(profile)
    stored = hashing.hash("correct horse battery staple")
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hashing.verify(stored, "correct horse battery staple")
        count += 1
    queue.put(count)


def raw_verifies(profile: str, processes: int, seconds: float) -> float:
    """argon2 verifies per second in ``processes`` processes, nothing else running."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_raw_worker, args=(profile, seconds, queue)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    counts = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def run_profile(args: argparse.Namespace, profile: str) -> None:
    from idp.flows.methods.password import PROFILES

    params = PROFILES[profile]
    with live_provider(
        backend=backend_from(args), workers=args.workers, password_hashing=profile
    ) as live:
        client = live.add_client(redirect_uris=["http://127.0.0.1:9/callback"], first_party=True)
        accounts = [live.add_account() for _ in range(max(args.browsers, 4))]
        with requests.Session() as http:  # warm up every worker
            for i in range(4):
                sign_in(http, live, client, accounts[i % len(accounts)])
        time.sleep(1)
        idle = rss_bytes(process_tree(live.process.pid))
        raw, flows, peaks = [], [], []
        errors = 0
        for rep in range(1, args.reps + 1):
            raw.append(raw_verifies(profile, live.workers, args.seconds))
            rate, errs, peak = run_sign_ins(
                live, client, accounts, browsers=args.browsers, seconds=args.seconds
            )
            flows.append(rate)
            peaks.append(peak)
            errors += errs
            print(
                f"  {profile} rep {rep}: raw {raw[-1]:6.1f} verifies/s, "
                f"sign-ins {rate:6.1f}/s ({errs} errors), ratio {rate / raw[-1]:.2f}",
                flush=True,
            )
        storm_peak, storm_errors = storm(live, client, accounts, args.storm)
    cores = len(os.sched_getaffinity(0))
    hash_bytes = params.memory_cost * 1024
    bound = 2 * idle + cores * hash_bytes
    mib = 1024 * 1024
    ratios = [f / r for f, r in zip(flows, raw, strict=True)]
    print(
        f"| {profile} (m={params.memory_cost // 1024} MiB, t={params.time_cost}, "
        f"p={params.parallelism}) | {statistics.median(raw):.1f} | {statistics.median(flows):.1f} "
        f"| {statistics.median(ratios):.2f} | {statistics.median(flows) / cores:.1f} "
        f"| {idle / mib:.0f} | {max(peaks) / mib:.0f} | {storm_peak / mib:.0f} "
        f"| {bound / mib:.0f} | {errors + storm_errors} |",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default="owasp,rfc9106-low")
    parser.add_argument("--browsers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--storm", type=int, default=32, help="browsers signing in at once")
    add_backend_arguments(parser)
    parser.set_defaults(backend="postgres-redis")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 2
    print(
        f"sign-in capacity: backend={args.backend}, {args.workers} workers, "
        f"{args.browsers} browsers, {args.reps} x {args.seconds:g}s interleaved raw/sign-in, "
        f"storm of {args.storm}"
    )
    print(
        "| profile | raw verifies/s | sign-ins/s | ratio | sign-ins/s per core | idle RSS MiB "
        "| peak RSS MiB | storm peak MiB | bound MiB | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for profile in args.profiles.split(","):
        run_profile(args, profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
