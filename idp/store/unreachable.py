"""The ephemeral store as seen from a process that cannot reach it.

With ``IDP_EPHEMERAL=memory`` lockouts, sessions and codes live inside the server
process. An ``idp`` command is another process: given a store of its own it would
report "unlocked" while the server still refused the password (issue 8, item 13).
So the command line gets this store instead, and any command that needs ephemeral
state stops with :class:`EphemeralUnreachableError` before its transaction commits.
"""

from __future__ import annotations

from typing import NoReturn

REASON = (
    "IDP_EPHEMERAL=memory keeps lockouts, sessions and codes inside the server "
    "process, which this command cannot reach; nothing was changed. Run the server "
    "with the default SQLite store (unset IDP_EPHEMERAL) or IDP_REDIS_URL"
)


class EphemeralUnreachableError(RuntimeError):
    """A command needed ephemeral state that lives in another process's memory."""


class UnreachableEphemeralStore:
    """Every operation refuses; reads too, so no command decides on a blank view."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise EphemeralUnreachableError(REASON)

    put = put_new = get = get_many = get_linked = take = delete = hit = expire = ttl = _refuse
    put_new_then_get = delete_if = _refuse
    add_member = members = remove_member = _refuse

    def ping(self) -> None:
        """Nothing to reach: commands that never touch ephemeral state still run."""

    def close(self) -> None:
        """Nothing to release."""
