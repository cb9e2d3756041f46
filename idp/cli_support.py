"""Support-desk commands added to ``idp users`` (issue 4): reset links and email changes."""

from __future__ import annotations

import click


def register(users: click.Group) -> None:
    """Attach the support commands to the ``idp users`` group."""
