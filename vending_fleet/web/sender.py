"""What the web app needs of the command sender (``vending_fleet.commands.CommandSender``):
one call that signs, publishes and records a command. A Protocol, so the pages do not depend on
how signing or the broker work, and tests can pass a double."""

from __future__ import annotations

from typing import Any, Protocol

from ..model import CommandRecord


class CommandSenderLike(Protocol):
    def send(self, machine: str, command: str, args: dict[str, Any],
             user: str) -> CommandRecord:
        """Check and sign ``command`` for ``machine``, record it (``Store.command_sent``) and
        audit it as sent by ``user``, publish it. Raises ``vending_fleet.commands.CommandError``
        (a ValueError) for arguments a machine would refuse, ``NotSent`` when the broker
        connection would not take it."""
        ...
