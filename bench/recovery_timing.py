"""Known versus unknown: how long each recovery and sign-up step takes, through the pages.

Why: security invariant 4 says no timing may tell whether a user ID, an email or a
person exists. Issue 8 (item 7) measured forgot password's first step at 8.1 ms for a
known user ID and 6.3 ms for an unknown one (ratio 1.30): a stranger could list
accounts. This prints, for every step, the p50 for a known and an unknown account
and their ratio (the goal is 0.9-1.1), over interleaved repetitions. Run from the
repository root::

    .venv/bin/python -m bench.recovery_timing [--n 100] [--backend embedded|postgres-redis]

Each attempt is a fresh browser whose earlier steps are submitted untimed; only the
step's POST is timed. Known and unknown attempts alternate in a shuffled order per
round, so drift hits both alike. Every known attempt uses its own account (made
before the timing starts) and every unknown one a new random name, so lockouts and
per-address mail throttles never close on either; each attempt also comes from its
own loopback address (127.x.y.z), so per-IP throttles never do either, since a
throttled request does less work and would flatter the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import random
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

# Also runnable as `python bench/recovery_timing.py`: the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_backend_arguments, backend_from, summary  # noqa: E402
from idp.flows.credentials import hash_questions  # noqa: E402
from idp.flows.methods.password import PasswordHashing  # noqa: E402
from idp.policies.security_questions import QuestionChoice  # noqa: E402
from idp.store.sql.repositories import NewPerson  # noqa: E402
from tests.e2e.webclient import forms  # noqa: E402
from tests.live import LiveProvider, live_provider  # noqa: E402

KINDS = ("known", "unknown")
DOB = date(1980, 4, 30)
PASSWORD = "correct horse battery staple 42"
NEW_PASSWORD = "a fresh and unguessable passphrase"
ANSWER = "Blue Oyster Cult"
QUESTIONS = {
    "question_1": "first_concert",
    "answer_1": "The Rolling Stones",
    "question_2": "childhood_friend",
    "answer_2": "Margaret",
    "question_3": "first_job_street",
    "answer_3": "Elm Street",
}


class SourceAddress(HTTPAdapter):
    """Connect from a given loopback address, so each attempt is its own client IP."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


def _addresses() -> Iterator[str]:
    for a, b, c in itertools.product(range(1, 255), range(0, 256), range(1, 255)):
        yield f"127.{a}.{b}.{c}"


@dataclass
class Account:
    username: str
    email: str
    first_name: str
    last_name: str


class Bench:
    """A live provider, the accounts made for it, and a browser per attempt."""

    def __init__(self, live: LiveProvider) -> None:
        self.live = live
        self._sources = _addresses()
        hashing = PasswordHashing(live.password_hashing)
        # One hash of each reused for every account: a hash verifies whatever row holds it.
        self._password_hash = hashing.hash(PASSWORD)
        self._questions = hash_questions(
            [QuestionChoice(question_id="first_concert", answer=ANSWER)], hashing
        )

    def browser(self) -> requests.Session:
        http = requests.Session()
        adapter = SourceAddress(next(self._sources))
        http.mount("http://", adapter)
        return http

    def account(self, *, questions: bool = True, pending: bool = False) -> Account:
        """An active account (DOB, verified email, one curated question unless told not)."""
        tag = secrets.token_hex(5)
        username = f"patient-{tag}"
        email = f"{username}@example.test"
        first, last = f"Ada{tag}", f"Lovelace{tag}"
        self.live.track_username(username)
        with self.live.db.transaction() as uow:
            record = uow.accounts.add(
                username=username,
                password_hash=self._password_hash,
                email=email,
                email_verified=True,
                now=datetime.now(UTC),
                person=NewPerson(
                    first_name=first,
                    last_name=last,
                    dob=DOB,
                    zip="02139",
                    gender="F",
                    email=email,
                ),
            )
            if questions:
                uow.security_answers.replace(record.id, self._questions, now=datetime.now(UTC))
        self.live.subjects.add(record.subject)
        return Account(username, email, first, last)

    # --- pages ---

    def form(
        self, http: requests.Session, response: requests.Response, needs: str
    ) -> tuple[str, dict[str, str]]:
        found = [f for f in forms(response.text) if needs in f.fields]
        if not found:
            raise RuntimeError(f"no form with {needs!r} at {response.url}: {response.status_code}")
        return urljoin(response.url, found[0].action), dict(found[0].fields)

    def get_form(self, http: requests.Session, path: str, needs: str) -> tuple[str, dict[str, str]]:
        with http.get(self.live.endpoint(path), timeout=30) as response:
            response.raise_for_status()
            return self.form(http, response, needs)

    def submit(
        self, http: requests.Session, action: str, fields: dict[str, str], needs: str
    ) -> tuple[str, dict[str, str]]:
        with http.post(action, data=fields, allow_redirects=False, timeout=60) as response:
            return self.form(http, response, needs)


# A step prepares one attempt (untimed) and returns the POST to time: (url, fields).
Post = tuple[str, dict[str, str]]
Prepare = Callable[[Bench, requests.Session, str, "Account | None"], Post]


def _unknown_username() -> str:
    return f"nobody-{secrets.token_hex(5)}"


def _unknown_email() -> str:
    return f"nobody-{secrets.token_hex(5)}@example.test"


def fp_user_id(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = b.get_form(http, "/forgot-password", "username")
    username = acct.username if acct else _unknown_username()
    if kind == "unknown":
        b.live.track_username(username)
    return action, {**fields, "username": username}


def fp_answer(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = fp_user_id(b, http, kind, acct)
    action, fields = b.submit(http, action, fields, "answer")
    return action, {
        **fields,
        "answer": "not the answer",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }


def fid_email(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = b.get_form(http, "/forgot-user-id", "email")
    return action, {**fields, "email": acct.email if acct else _unknown_email()}


def fid_birth_date(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = fid_email(b, http, kind, acct)
    action, fields = b.submit(http, action, fields, "dob")
    return action, {**fields, "dob": DOB.isoformat()}


def fid_answer(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = fid_birth_date(b, http, kind, acct)
    action, fields = b.submit(http, action, fields, "answer")
    return action, {**fields, "answer": "not the answer"}


def _demographics(acct: Account | None) -> dict[str, str]:
    """An existing account's person (an exact match) or a new person."""
    tag = secrets.token_hex(5)
    return {
        "first_name": acct.first_name if acct else f"Ada{tag}",
        "last_name": acct.last_name if acct else f"Lovelace{tag}",
        "dob": DOB.isoformat(),
        "zip": "02139",
        "gender": "female",
        "email": acct.email if acct else _unknown_email(),
    }


def su_demographics(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = b.get_form(http, "/signup", "first_name")
    return action, {**fields, **_demographics(acct)}


def su_credentials(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = su_demographics(b, http, kind, acct)
    action, fields = b.submit(http, action, fields, "username")
    username = f"new-{secrets.token_hex(5)}"
    b.live.track_username(username)
    return action, {
        **fields,
        "username": username,
        "password": NEW_PASSWORD,
        "accept_terms": "yes",
        **QUESTIONS,
    }


def su_resend(b: Bench, http: requests.Session, kind: str, acct: Account | None) -> Post:
    action, fields = b.get_form(http, "/signup/resend", "email")
    return action, {**fields, "email": acct.email if acct else _unknown_email()}


def pending_signup(b: Bench) -> Account:
    """A sign-up waiting for its link (made through the pages, before any timing)."""
    email = _unknown_email()
    with b.browser() as http:
        action, fields = b.get_form(http, "/signup", "first_name")
        demographics = {**_demographics(None), "email": email}
        action, fields = b.submit(http, action, {**fields, **demographics}, "username")
        username = f"new-{secrets.token_hex(5)}"
        b.live.track_username(username)
        fields.update(username=username, password=NEW_PASSWORD, accept_terms="yes", **QUESTIONS)
        with http.post(action, data=fields, timeout=60) as response:
            response.raise_for_status()
    return Account(username, email, demographics["first_name"], demographics["last_name"])


def with_questions(b: Bench) -> Account:
    return b.account()


def without_questions(b: Bench) -> Account:
    return b.account(questions=False)


@dataclass(frozen=True)
class Step:
    name: str
    prepare: Prepare
    # Makes what one known attempt needs, before the timing starts.
    known: Callable[[Bench], Account]
    # The provider's reset flow (IDP_RESET_FLOW) for this step.
    reset_flow: str = "questions"
    # The status both kinds must get (the bench stops if one differs).
    status: int = 200


STEPS = (
    Step("forgot password: user ID", fp_user_id, with_questions),
    Step("forgot password: answer (wrong)", fp_answer, with_questions),
    Step("forgot password: user ID, no questions", fp_user_id, without_questions),
    Step("forgot password: answer, no questions", fp_answer, without_questions),
    Step("forgot password, link flow: user ID", fp_user_id, with_questions, "link"),
    Step("forgot user ID: email", fid_email, with_questions),
    Step("forgot user ID: birth date", fid_birth_date, with_questions),
    Step("forgot user ID: answer (wrong)", fid_answer, with_questions),
    Step("sign-up: demographics", su_demographics, with_questions),
    Step("sign-up: credentials", su_credentials, with_questions),
    Step("sign-up: resend link", su_resend, pending_signup),
)
# Mail queued while making accounts has gone out before timing starts (the outbox
# worker sends a quarter of a second after a commit).
SETTLE_SECONDS = 2.0


def attempt(b: Bench, step: Step, kind: str, acct: Account | None) -> float:
    with b.browser() as http:
        action, fields = step.prepare(b, http, kind, acct if kind == "known" else None)
        started = time.perf_counter()
        with http.post(action, data=fields, allow_redirects=False, timeout=60) as response:
            elapsed = time.perf_counter() - started
            if response.status_code != step.status:
                raise RuntimeError(f"{step.name} ({kind}): status {response.status_code}")
    return elapsed


def run(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    rng = random.Random(args.seed)
    results: dict[str, dict[str, list[float]]] = {}
    chosen = [s for s in STEPS if not args.steps or any(w in s.name for w in args.steps)]
    for reset_flow in dict.fromkeys(s.reset_flow for s in chosen):
        with live_provider(
            backend=backend_from(args),
            workers=args.workers,
            password_hashing=args.profile,
            extra_env={"IDP_IP_FAILURE_LIMIT": "10000", "IDP_RESET_FLOW": reset_flow},
        ) as live:
            b = Bench(live)
            for step in (s for s in chosen if s.reset_flow == reset_flow):
                accounts = [step.known(b) for _ in range(args.n + args.warmup)]
                time.sleep(SETTLE_SECONDS)
                samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
                for i, acct in enumerate(accounts):
                    order = list(KINDS)
                    rng.shuffle(order)
                    for kind in order:
                        elapsed = attempt(b, step, kind, acct)
                        if i >= args.warmup:
                            samples[kind].append(elapsed)
                results[step.name] = samples
                report_line(step.name, samples)
    return results


def report_line(name: str, samples: dict[str, list[float]]) -> None:
    known, unknown = summary(samples["known"]), summary(samples["unknown"])
    ratio = known["p50"] / unknown["p50"]
    flag = "" if 0.9 <= ratio <= 1.1 else "  <-- outside 0.9-1.1"
    print(
        f"  {name:<42} {len(samples['known']):>4} {known['p50']:>9.2f} "
        f"{unknown['p50']:>9.2f} {ratio:>7.2f}{flag}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="timed attempts per kind and step")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first, per step")
    parser.add_argument(
        "--profile", default="rfc9106-low", help="argon2 profile (rfc9106-low, owasp, test)"
    )
    parser.add_argument(
        "--step", dest="steps", action="append", help="only steps whose name contains this"
    )
    parser.add_argument("--seed", type=int, default=1, help="shuffle seed (reproducible order)")
    add_backend_arguments(parser)
    args = parser.parse_args(argv)
    print(
        f"recovery and sign-up timing: backend={args.backend} profile={args.profile} "
        f"n={args.n} per kind, POST of the step only, loopback"
    )
    print(f"  {'step':<42} {'n':>4} {'known ms':>9} {'unkn. ms':>9} {'ratio':>7}  (p50)")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
