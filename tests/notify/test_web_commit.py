"""The web layer's per-request transaction wakes the dispatcher when it commits, not before."""

from __future__ import annotations

from flask import Response

from idp.app import create_app
from idp.notify import Notifier, TemplateRenderer
from idp.services import Services
from idp.web.deps import commit_request_uow, request_uow, rollback_request_uow

from .conftest import LINK, T0


def _queue(notifier: Notifier) -> None:
    notifier.email(
        request_uow(),
        to="alice@example.test",
        template="test_message",
        context={"name": "Alice", "link": LINK},
        now=T0,
    )


def test_request_commit_wakes_and_rollback_does_not(
    services: Services, renderer: TemplateRenderer
) -> None:
    woken: list[int] = []
    notifier = Notifier(renderer, message_id_domain="idp.test", on_commit=lambda: woken.append(1))
    app = create_app(services=services)

    with app.test_request_context("/"):
        _queue(notifier)
        rollback_request_uow(RuntimeError("the view failed"))
    assert woken == []

    with app.test_request_context("/"):
        _queue(notifier)
        assert woken == []  # the response is not built yet, nothing committed
        commit_request_uow(Response(status=200))
        assert woken == [1]

    with app.test_request_context("/"):
        _queue(notifier)
        commit_request_uow(Response(status=503))  # a failed request commits nothing
    assert woken == [1]
