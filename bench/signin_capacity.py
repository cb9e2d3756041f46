"""Full code-flow sign-ins per second next to raw argon2 verifies per second.

Why: a sign-in should cost little more than its password hash (issue 12 item 3),
and a Monday-morning login storm must queue, not exhaust memory. Run from the
repository root::

    .venv/bin/python -m bench.signin_capacity [--profiles owasp,rfc9106-low]
        [--browsers 8] [--seconds 8] [--reps 3] [--storm 32] [--steps N]
        [--profile DIR]

For each argon2 profile, one provider (PostgreSQL + Redis by default, 2 workers)
and, interleaved A B A B for ``--reps`` repetitions:

- **raw**: argon2 verifies at the same parameters in one process per worker,
  nothing else (what the hardware can hash);
- **sign-in**: ``--browsers`` concurrent browsers, each repeating the whole code
  flow: authorization request, login page, password POST, resume, code exchange
  (with PKCE) for a token response.

Printed per profile: the medians of raw verifies/s and sign-ins/s and their
ratio; raw verifies per CPU-second of the raw processes and sign-ins per CPU-second
of the server (gunicorn arbiter and workers, from /proc) and *their* ratio, the
share of the server's CPU that went into hashing, which moves far less with the
machine's load than the wall-clock rates; and the server's memory: idle RSS
(arbiter + workers), the peak during the sign-in runs, and the peak while
``--storm`` browsers sign in at once, next to the issue's bound 2 x idle + cores x
one hash's memory. Each repetition's line also gives the browsers' own CPU per
sign-in.

The browsers are lean (bench/lean_browser.py: one kept-alive ``http.client``
connection each, cookies in a dict): they run on the same cores as the server, and
the issue measures the provider, not the load generator.

``--steps N`` first signs in N times with one browser and prints the server's CPU
per step (thread CPU of its workers from ``/proc/.../schedstat``; with ``p`` > 1
argon2's own lane threads come and go unseen, so the password step shows less than
its hash). ``--profile DIR`` runs py-spy ``--gil`` on the workers during the first
repetition and prints the top frames.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_backend_arguments, backend_from  # noqa: E402
from bench.endpoint_cost import print_top_frames  # noqa: E402
from bench.lean_browser import BrowserError, LeanBrowser, form_of  # noqa: E402
from bench.server_load import PeakRss, cpu_seconds, process_tree, rss_bytes  # noqa: E402
from tests.live import LiveAccount, LiveClient, LiveProvider, live_provider  # noqa: E402

STEPS = ("authorize", "login page", "password POST", "resume", "token")


def sign_in(
    browser: LeanBrowser,
    client: LiveClient,
    account: LiveAccount,
    *,
    step: Callable[[str], None] = lambda _name: None,
) -> None:
    """One whole code flow in a fresh browser (no cookies), on a kept-alive connection.

    ``step(name)`` is called after each of :data:`STEPS` (the per-step CPU mode).
    """
    browser.cookies.clear()
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
    page = browser.request("GET", "/authorize?" + urlencode(params))
    if page.status != 303:
        raise BrowserError(f"authorize: {page.status}")
    step("authorize")
    page = browser.request("GET", browser.resolve(page))
    if page.status != 200:
        raise BrowserError(f"login page: {page.status}")
    step("login page")
    action, fields = form_of(page)
    fields.update(username=account.username, password=account.password)
    page = browser.request("POST", action, form=fields)
    if page.status not in (302, 303):
        raise BrowserError(f"password POST: {page.status}")
    step("password POST")
    location = browser.resolve(page)
    for _ in range(4):
        if location.startswith(client.redirect_uri):
            break
        page = browser.request("GET", location)
        if page.status not in (302, 303):
            raise BrowserError(f"sign-in stopped at {location}: {page.status}")
        location = browser.resolve(page)
    else:
        raise BrowserError("too many redirects")
    step("resume")
    code = parse_qs(urlsplit(location).query)["code"][0]
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret or ''}".encode())
    token = browser.request(
        "POST",
        "/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "code_verifier": verifier,
        },
        headers={"Authorization": "Basic " + basic.decode()},
    )
    if token.status != 200:
        raise BrowserError(f"token: {token.status}")
    step("token")


@dataclass(frozen=True, slots=True)
class SignInRun:
    """One timed run of concurrent browsers."""

    rate: float  # sign-ins per wall-clock second
    done: int
    errors: int
    peak_rss: int
    server_cpu: float  # CPU seconds of the gunicorn arbiter and workers
    client_cpu: float  # CPU seconds of this process (the browsers)


def run_sign_ins(
    live: LiveProvider,
    client: LiveClient,
    accounts: Sequence[LiveAccount],
    *,
    browsers: int,
    seconds: float,
) -> SignInRun:
    """Sign-ins per second over ``seconds``, errors, the server's peak RSS and CPU."""
    deadline = time.monotonic() + seconds
    done = [0] * browsers
    errors = [0] * browsers

    def browse(i: int) -> None:
        with LeanBrowser(live.url) as browser:
            while time.monotonic() < deadline:
                try:
                    sign_in(browser, client, accounts[i % len(accounts)])
                    done[i] += 1
                except (OSError, BrowserError):
                    errors[i] += 1
                    browser.close()

    threads = [threading.Thread(target=browse, args=(i,)) for i in range(browsers)]
    server = process_tree(live.process.pid)
    started, server_before, client_before = (
        time.monotonic(),
        cpu_seconds(server),
        time.process_time(),
    )
    with PeakRss(live.process.pid) as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    return SignInRun(
        rate=sum(done) / elapsed,
        done=sum(done),
        errors=sum(errors),
        peak_rss=peak.peak,
        server_cpu=cpu_seconds(server) - server_before,
        client_cpu=time.process_time() - client_before,
    )


def storm(
    live: LiveProvider, client: LiveClient, accounts: Sequence[LiveAccount], n: int
) -> tuple[int, int]:
    """``n`` browsers sign in at once (each once); returns (peak RSS, errors)."""
    barrier = threading.Barrier(n)
    errors = [0] * n

    def one(i: int) -> None:
        with LeanBrowser(live.url) as browser:
            barrier.wait()
            try:
                sign_in(browser, client, accounts[i % len(accounts)])
            except (OSError, BrowserError):
                errors[i] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    with PeakRss(live.process.pid, interval=0.005) as peak:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return peak.peak, sum(errors)


def _thread_cpu_ns(pids: Sequence[int]) -> dict[int, int]:
    """Nanoseconds on CPU of every thread of these processes (``/proc/.../schedstat``):
    precise where ``/proc/<pid>/stat`` counts in 10 ms ticks."""
    times = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                times[int(tid)] = int(
                    Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0]
                )
            except (OSError, ValueError, IndexError):
                continue
    return times


def per_step(
    live: LiveProvider, client: LiveClient, accounts: Sequence[LiveAccount], n: int
) -> dict[str, tuple[float, float]]:
    """Server and client CPU milliseconds per step, one browser signing in ``n`` times.

    One browser at a time, so what the workers burn between two steps is that step's
    (work a background thread does later, the audit committer's, lands in the next).
    """
    server = process_tree(live.process.pid)
    totals = {name: [0, 0.0] for name in STEPS}
    last: list[Any] = [_thread_cpu_ns(server), time.thread_time()]

    def step(name: str) -> None:
        now, mine = _thread_cpu_ns(server), time.thread_time()
        totals[name][0] += sum(t - last[0].get(tid, t) for tid, t in now.items())
        totals[name][1] += mine - last[1]
        last[0], last[1] = now, time.thread_time()

    with LeanBrowser(live.url) as browser:
        for i in range(n):
            last[0], last[1] = _thread_cpu_ns(server), time.thread_time()
            sign_in(browser, client, accounts[i % len(accounts)], step=step)
    return {name: (ns / n / 1e6, cpu / n * 1000) for name, (ns, cpu) in totals.items()}


def _raw_worker(profile: str, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from idp.flows.methods.password import PasswordHashing

    hashing = PasswordHashing(profile)
    stored = hashing.hash("correct horse battery staple")
    count = 0
    cpu = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hashing.verify(stored, "correct horse battery staple")
        count += 1
    queue.put((count, time.process_time() - cpu))


def raw_verifies(profile: str, processes: int, seconds: float) -> tuple[float, float]:
    """argon2 verifies per second in ``processes`` processes, nothing else running,
    and verifies per CPU-second of those processes."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_raw_worker, args=(profile, seconds, queue)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    count = sum(c for c, _ in results)
    return count / seconds, count / max(sum(cpu for _, cpu in results), 1e-9)


def run_profile(args: argparse.Namespace, profile: str) -> None:
    from idp.flows.methods.password import PROFILES

    params = PROFILES[profile]
    with live_provider(
        backend=backend_from(args), workers=args.workers, password_hashing=profile
    ) as live:
        client = live.add_client(redirect_uris=["http://127.0.0.1:9/callback"], first_party=True)
        accounts = [live.add_account() for _ in range(max(args.browsers, 4))]
        with LeanBrowser(live.url) as browser:  # warm up every worker
            for i in range(4):
                sign_in(browser, client, accounts[i % len(accounts)])
        time.sleep(1)
        idle = rss_bytes(process_tree(live.process.pid))
        if args.steps:
            _, raw_per_cpu = raw_verifies(profile, 1, 2.0)
            costs = per_step(live, client, accounts, args.steps)
            server_ms = sum(s for s, _ in costs.values())
            print(f"  {profile}: CPU ms per step ({args.steps} sequential sign-ins, one browser)")
            for name, (server_step, client_step) in costs.items():
                print(f"    {name:14} server {server_step:7.2f}  browser {client_step:6.2f}")
            print(
                f"    {'total':14} server {server_ms:7.2f}  (one raw verify: "
                f"{1000 / raw_per_cpu:.2f} ms of CPU)",
                flush=True,
            )
        raw, raw_cpu, runs = [], [], []
        for rep in range(1, args.reps + 1):
            rate, per_cpu = raw_verifies(profile, live.workers, args.seconds)
            raw.append(rate)
            raw_cpu.append(per_cpu)
            with _profiled(live, args, f"{profile}-rep{rep}" if rep == 1 else None):
                run = run_sign_ins(
                    live, client, accounts, browsers=args.browsers, seconds=args.seconds
                )
            runs.append(run)
            print(
                f"  {profile} rep {rep}: raw {rate:6.1f} verifies/s ({per_cpu:6.1f}/CPU-s), "
                f"sign-ins {run.rate:6.1f}/s ({_per(run.done, run.server_cpu):6.1f}/server CPU-s, "
                f"browsers {1000 * _per(run.client_cpu, run.done):.1f} ms CPU each; "
                f"{run.errors} errors), ratio {run.rate / rate:.2f}, "
                f"per CPU-s {_per(run.done, run.server_cpu) / per_cpu:.2f}",
                flush=True,
            )
        storm_peak, storm_errors = storm(live, client, accounts, args.storm)
    cores = len(os.sched_getaffinity(0))
    hash_bytes = params.memory_cost * 1024
    bound = 2 * idle + cores * hash_bytes
    mib = 1024 * 1024
    rates = [run.rate for run in runs]
    ratios = [run.rate / r for run, r in zip(runs, raw, strict=True)]
    cpu_ratios = [_per(run.done, run.server_cpu) / c for run, c in zip(runs, raw_cpu, strict=True)]
    print(
        f"| {profile} (m={params.memory_cost // 1024} MiB, t={params.time_cost}, "
        f"p={params.parallelism}) | {statistics.median(raw):.1f} | {statistics.median(rates):.1f} "
        f"| {statistics.median(ratios):.2f} | {statistics.median(raw_cpu):.1f} "
        f"| {statistics.median(_per(r.done, r.server_cpu) for r in runs):.1f} "
        f"| {statistics.median(cpu_ratios):.2f} | {statistics.median(rates) / cores:.1f} "
        f"| {idle / mib:.0f} | {max(r.peak_rss for r in runs) / mib:.0f} | {storm_peak / mib:.0f} "
        f"| {bound / mib:.0f} | {sum(r.errors for r in runs) + storm_errors} |",
        flush=True,
    )


@contextmanager
def _profiled(live: LiveProvider, args: argparse.Namespace, label: str | None) -> Iterator[None]:
    """py-spy (``--gil``: Python work only, not the hash) on the workers (``--profile``)."""
    if not args.profile or label is None:
        yield
        return
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for pid in process_tree(live.process.pid)[1:]:
        out = out_dir / f"{label}-{pid}.txt"
        command = [args.py_spy, "record", "-p", str(pid), "-r", "200", "--gil"]
        command += ["--format", "raw", "-o", str(out), "-d", str(int(args.seconds) + 1)]
        command.append("--nonblocking")
        spies.append((out, subprocess.Popen(command, stdout=DEVNULL, stderr=DEVNULL)))
    try:
        yield
    finally:
        for _, spy in spies:
            spy.wait(60)
        print_top_frames(label, [out for out, _ in spies], top=25)


def _per(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default="owasp,rfc9106-low")
    parser.add_argument("--browsers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--storm", type=int, default=32, help="browsers signing in at once")
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        metavar="N",
        help="first print server and browser CPU per step over N sequential sign-ins",
    )
    parser.add_argument("--profile", default=None, help="directory for py-spy profiles (rep 1)")
    parser.add_argument("--py-spy", default=str(Path(sys.executable).parent / "py-spy"))
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
        "| profile | raw verifies/s | sign-ins/s | ratio | raw verifies/CPU-s "
        "| sign-ins/server CPU-s | CPU ratio | sign-ins/s per core | idle RSS MiB "
        "| peak RSS MiB | storm peak MiB | bound MiB | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for profile in args.profiles.split(","):
        run_profile(args, profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
