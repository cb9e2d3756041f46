"""Office-made accounts: the temporary password only leads to choosing real credentials."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from idp.policies.security_questions import CURATED_QUESTIONS

from ..conftest import PASSWORD, Factory
from ..helpers import OIDCActions, csrf_token, form_values, query

TEMPORARY = "k7m2-x9qp-4hsw-aa3d"
NEW_PASSWORD = "a brand new passphrase for me"
QUESTIONS = list(CURATED_QUESTIONS)[:3]


def _message_ids(html: str) -> list[str]:
    return re.findall(r'data-(?:message-id|reason)="([^"]+)"', html)


def _office_account(factory: Factory) -> None:
    factory.account(
        username="mrivera", password=TEMPORARY, must_change_password=True, email_verified=False
    )


def _setup_form(**overrides: str) -> dict[str, str]:
    form = {"password": NEW_PASSWORD, "accept_terms": "yes"}
    for n, qid in enumerate(QUESTIONS, start=1):
        form[f"question_{n}"] = qid
        form[f"answer_{n}"] = f"answer number {n}"
    form.update(overrides)
    return form


def _sign_in(client: FlaskClient, password: str, **extra: str):
    page = client.get("/login", query_string=extra)
    return client.post(
        "/login",
        data={
            "username": "mrivera",
            "password": password,
            "csrf_token": csrf_token(page.text),
            **extra,
        },
    )


def test_temporary_password_leads_to_setup_then_to_the_portal(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    _office_account(factory)
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    to_login = oidc.authorize(req)
    interaction = query(to_login.headers["Location"])["i"]
    response = _sign_in(client, TEMPORARY, i=interaction)
    assert response.status_code == 303 and response.headers["Location"] == "/login/setup"
    assert "idp_session=" not in " ".join(response.headers.getlist("Set-Cookie"))

    # Nothing is reachable yet: the portal's request still needs a sign-in.
    assert oidc.authorize(oidc.request(rp)).headers["Location"].startswith("/login")

    page = client.get("/login/setup")
    assert page.status_code == 200 and 'name="question_1"' in page.text
    done = client.post("/login/setup", data={**_setup_form(), "csrf_token": csrf_token(page.text)})
    assert done.status_code == 303
    # The saved authorization request continues: the portal gets its code.
    final = oidc.follow_to_redirect(done)
    assert final.status_code == 302 and "code=" in final.headers["Location"]

    with services.db.transaction() as uow:
        account = uow.accounts.by_username("mrivera")
        assert not account.must_change_password and account.email_verified
        assert len(uow.security_answers.for_account(account.id)) == 3
        assert [e.type for e in uow.audit.tail(10)].count("first_signin_setup") == 1
    fresh = client.application.test_client()
    assert _sign_in(fresh, TEMPORARY).status_code == 401
    assert _sign_in(fresh, NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"password": "short"}, "too_short"),
        ({"password": TEMPORARY + " but longer"}, None),
        ({"password": TEMPORARY}, "same_as_temporary"),
        ({"accept_terms": ""}, "terms_not_accepted"),
        ({"question_2": QUESTIONS[0]}, "duplicate_question"),
        ({"answer_1": "mrivera"}, "answer_is_credential"),
    ],
)
def test_setup_refuses_bad_choices_and_writes_nothing(
    factory: Factory, client: FlaskClient, services, overrides: dict[str, str], reason: str | None
) -> None:
    _office_account(factory)
    _sign_in(client, TEMPORARY)
    page = client.get("/login/setup")
    response = client.post(
        "/login/setup", data={**_setup_form(**overrides), "csrf_token": csrf_token(page.text)}
    )
    if reason is None:  # a longer password that contains the temporary one is fine
        assert response.status_code == 303
        return
    assert response.status_code == 400
    assert reason in _message_ids(response.text)
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("mrivera")
        assert account.must_change_password
        assert uow.security_answers.for_account(account.id) == []


def test_setup_without_a_ticket_is_refused(client: FlaskClient) -> None:
    response = client.get("/login/setup")
    assert response.status_code == 400 and "setup_expired" in _message_ids(response.text)


def test_expired_temporary_password_is_refused(settings, clean_database, ephemeral) -> None:
    from datetime import UTC, datetime

    from idp.app import build_services, create_app

    now = [datetime.now(UTC)]
    services = build_services(
        settings,
        db=clean_database,
        ephemeral=ephemeral,
        clock=lambda: now[0],
        background_delivery=False,
    )
    _office_account(Factory(services))
    client = create_app(services=services).test_client()
    now[0] += timedelta(seconds=settings.accounts.temporary_password_ttl + 1)
    response = _sign_in(client, TEMPORARY)
    assert response.status_code == 403
    assert _message_ids(response.text) == ["temporary_password_expired"]
    # A wrong password still gets the ordinary reply: the expiry tells nothing to guessers.
    assert _message_ids(_sign_in(client, "wrong").text) == ["invalid_credentials"]
    services.close()


def test_ordinary_account_is_not_sent_to_setup(factory: Factory, client: FlaskClient) -> None:
    factory.account(username="mrivera")
    assert _sign_in(client, PASSWORD).headers["Location"] == "/"


def test_a_refused_setup_keeps_the_questions_answers_and_terms(
    factory: Factory, client: FlaskClient
) -> None:
    """Issue 14, item 6: a refused password no longer clears the answers being chosen."""
    _office_account(factory)
    _sign_in(client, TEMPORARY)
    page = client.get("/login/setup")
    form = _setup_form(password="short")
    response = client.post("/login/setup", data={**form, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 400 and "too_short" in _message_ids(response.text)
    kept = form_values(response.text)
    for n in range(1, len(QUESTIONS) + 1):
        assert kept[f"question_{n}"] == form[f"question_{n}"]
        assert kept[f"answer_{n}"] == form[f"answer_{n}"]
    assert kept["accept_terms"] == "yes"
    assert kept["password"] == "" and 'value="short"' not in response.text
