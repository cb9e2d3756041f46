"""Password sign-in latency through the real login form, per argon2 profile.

Why: argon2 dominates sign-in cost, and security invariant 4 says a wrong password
and an unknown user ID must cost the same as a right password (the provider
verifies a decoy hash for unknown IDs). This prints p50/p95 for the three cases
and the ratios wrong/right and unknown/right, for "rfc9106-low" (the default) and
"owasp". Run from the repository root::

    .venv/bin/python -m bench.signin_latency [--n 60] [--backend embedded|postgres-redis]

Each attempt is a fresh browser: an authorization request leads to the login page,
whose form (CSRF token included) is submitted; only that POST is timed. Attempts
are interleaved right/wrong/unknown in a shuffled order per round, so drift hits all
three alike, and a right password between two wrong ones keeps the account below
the lockout threshold. Unknown user IDs are random, so none of them locks either.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode, urljoin

import requests

# Also runnable as `python bench/signin_latency.py`: the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_backend_arguments, backend_from, summary  # noqa: E402
from tests.e2e.webclient import REDIRECTS, forms  # noqa: E402
from tests.live import LiveAccount, LiveClient, LiveProvider, live_provider  # noqa: E402

KINDS = ("right", "wrong", "unknown")
# What the provider answers (login.py): 303 onwards after sign-in, 401 on the form.
EXPECTED = {"right": REDIRECTS, "wrong": (401,), "unknown": (401,)}


def login_page(http: requests.Session, authorize_url: str) -> tuple[str, dict[str, str]]:
    """Follow an authorization request to the login form; return its action and fields."""
    url = authorize_url
    for _ in range(5):
        with http.get(url, allow_redirects=False, timeout=30) as response:
            if response.status_code in REDIRECTS:
                url = urljoin(url, response.headers["Location"])
                continue
            response.raise_for_status()
            page = [f for f in forms(response.text) if "password" in f.fields]
            if not page:
                raise RuntimeError(f"no login form at {response.url}")
            return urljoin(response.url, page[0].action), dict(page[0].fields)
    raise RuntimeError("the authorization request never reached a login form")


def attempt(live: LiveProvider, authorize_url: str, account: LiveAccount, kind: str) -> float:
    """One sign-in attempt in a fresh browser; returns the POST's latency in seconds."""
    if kind == "unknown":
        username, password = f"nobody-{secrets.token_hex(6)}", account.password
        live.track_username(username)
    else:
        username = account.username
        password = account.password if kind == "right" else account.password + "!"
    with requests.Session() as http:
        action, fields = login_page(http, authorize_url)
        fields.update(username=username, password=password)
        started = time.perf_counter()
        with http.post(action, data=fields, allow_redirects=False, timeout=60) as response:
            elapsed = time.perf_counter() - started
            if response.status_code not in EXPECTED[kind]:
                raise RuntimeError(f"{kind}: unexpected status {response.status_code}")
    return elapsed


def authorize_url(live: LiveProvider, client: LiveClient) -> str:
    with requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10) as r:
        endpoint = r.json()["authorization_endpoint"]
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "state": "bench",
        "nonce": "bench",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    return f"{endpoint}?{urlencode(params)}"


def run_profile(args: argparse.Namespace, profile: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    rng = random.Random(args.seed)
    with live_provider(
        backend=backend_from(args),
        workers=args.workers,
        password_hashing=profile,
        # Every attempt comes from 127.0.0.1: lift the per-address budget, which would
        # otherwise answer 429 after a few wrong passwords (docs/lockout.md).
        extra_env={"IDP_IP_FAILURE_LIMIT": "10000", "IDP_LOCKOUT_ACCOUNTS_PER_ADDRESS": "100"},
    ) as live:
        client = live.add_client(redirect_uris=["http://127.0.0.1:9/callback"])
        account = live.add_account()
        url = authorize_url(live, client)
        for _ in range(args.warmup):
            for kind in KINDS:
                attempt(live, url, account, kind)
        for _ in range(args.n):
            order = list(KINDS)
            rng.shuffle(order)
            for kind in order:
                samples[kind].append(attempt(live, url, account, kind))
    return samples


def report(profile: str, samples: dict[str, list[float]]) -> None:
    stats = {kind: summary(values) for kind, values in samples.items()}
    print(f"\nprofile {profile}")
    print(f"  {'case':<8} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
    for kind in KINDS:
        s = stats[kind]
        n = len(samples[kind])
        print(f"  {kind:<8} {n:>4} {s['p50']:>9.1f} {s['p95']:>9.1f} {s['mean']:>9.1f}")
    for other in ("wrong", "unknown"):
        p50 = stats[other]["p50"] / stats["right"]["p50"]
        p95 = stats[other]["p95"] / stats["right"]["p95"]
        print(f"  ratio {other}/right: p50 {p50:.2f}  p95 {p95:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="attempts per case (default 60)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument(
        "--profiles",
        default="rfc9106-low,owasp",
        help="comma-separated argon2 profiles (rfc9106-low, owasp, test)",
    )
    parser.add_argument("--seed", type=int, default=1, help="shuffle seed (reproducible order)")
    add_backend_arguments(parser)
    args = parser.parse_args(argv)
    print(
        f"sign-in latency: backend={args.backend} n={args.n} per case, "
        f"POST of the login form only, loopback"
    )
    for profile in args.profiles.split(","):
        report(profile, run_profile(args, profile.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
