"""Commands from the fleet: each applied exactly once, in one commit with what it changes, the
operator event that records it (``source: fleet``), its own record and its reply to the fleet.

A command id seen before is never applied again, whatever the message says now: the reply says
so and when it was first handled. Refused commands are journalled too (``command_refused``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kiosk.errors import CommandRefused
from kiosk.journal.encoding import dumps
from kiosk.journal.outbox_rows import REPLY
from kiosk.journal.records import Records
from kiosk.journal.status import Status, Step

SETTLED_BY = {"refund_sent": Status.REFUNDED, "item_given": Status.SETTLED}


@dataclass(frozen=True)
class SlotChange:
    """What a command changes of a slot; None: left as it is."""

    slot_id: str
    stock: int | None = None
    enabled: bool | None = None
    price: Decimal | None = None
    config_price: Decimal | None = None   # the config's price the new one stands in for


@dataclass(frozen=True)
class Settlement:
    """A claim the operator settled: the refund was sent (with its reference) or the item
    given."""

    tx_id: str
    how: str                                # a key of SETTLED_BY
    reference: str = ""


class FleetCommands(Records):
    def command_reply(self, command_id: str) -> dict[str, Any] | None:
        """The reply a command got when it was first handled, or None if it never was."""
        with self._tx(write=False) as cur:
            return self._reply_of(cur, command_id)

    def fleet_command(self, command_id: str, kind: str, detail: Mapping[str, Any],
                      result: Mapping[str, Any], *, change: SlotChange | None = None,
                      settle: Settlement | None = None) -> dict[str, Any]:
        """Apply a verified command: its change, its operator event, its record and its reply,
        in one commit. The reply sent: a ``replayed`` one, applying nothing, for an id already
        handled."""
        with self._tx() as cur:
            first = self._reply_of(cur, command_id)
            if first is not None:
                return self._replayed(cur, command_id, first)
            if change is not None:
                self._change_slot(cur, change)
            if settle is not None:
                self._settle(cur, command_id, settle)
            self._operator_row(cur, self._stamp(), kind,
                               {**detail, "source": "fleet", "command": command_id})
            reply = {"command": command_id, "status": "applied", "ok": True,
                     "result": dict(result)}
            self._record(cur, command_id, reply)
            return reply

    def command_refused(self, command_id: str | None, reason: str, *,
                        record: bool) -> dict[str, Any]:
        """Journal and answer a command that is not applied. ``record``: its signature was
        valid, so its id is the fleet's and is kept (a repeat is "replayed"); otherwise the id
        is only echoed, never kept, so a forged message cannot use up a real command's id."""
        reply = {"command": command_id, "status": "rejected", "ok": False, "error": reason}
        with self._tx() as cur:
            first = self._reply_of(cur, command_id) if record and command_id else None
            if command_id is not None and first is not None:
                return self._replayed(cur, command_id, first)
            self._operator_row(cur, self._stamp(), "command_refused",
                               {"source": "fleet", "command": command_id, "reason": reason})
            if record and command_id is not None:
                self._record(cur, command_id, reply)
            else:
                self._report(cur, REPLY, {"kind": "reply", "at": self._stamp(), **reply},
                             fact=True)
        return reply

    def answer_only(self, command_id: str | None, reason: str) -> None:
        """Answer a refused message without journalling it (an unsigned flood): the reply is
        telemetry, dropped first when the outbox is full."""
        with self._tx() as cur:
            self._report(cur, REPLY, {"kind": "reply", "at": self._stamp(),
                                      "command": command_id, "status": "rejected", "ok": False,
                                      "error": reason}, fact=False)

    def _record(self, cur: sqlite3.Cursor, command_id: str, reply: Mapping[str, Any]) -> None:
        at = self._stamp()
        cur.execute("INSERT INTO commands (id, at, status, reply) VALUES (?, ?, ?, ?)",
                    (command_id, at, reply["status"], dumps(reply)))
        self._report(cur, REPLY, {"kind": "reply", "at": at, **reply}, fact=True)

    def answer_replayed(self, command_id: str) -> None:
        """Answer a copy of a handled command without journalling it (a replay flood): the
        ``replayed`` reply is telemetry, dropped first when the outbox is full."""
        with self._tx() as cur:
            first = self._reply_of(cur, command_id)
            if first is not None:
                self._report(cur, REPLY, {"kind": "reply", "at": self._stamp(),
                                          **self._replay_reply(cur, command_id, first)},
                             fact=False)

    def _replayed(self, cur: sqlite3.Cursor, command_id: str,
                  first: Mapping[str, Any]) -> dict[str, Any]:
        reply = self._replay_reply(cur, command_id, first)
        at = self._stamp()
        self._operator_row(cur, at, "command_refused",
                           {"source": "fleet", "command": command_id, "reason": reply["error"]})
        self._report(cur, REPLY, {"kind": "reply", "at": at, **reply}, fact=True)
        return reply

    @staticmethod
    def _replay_reply(cur: sqlite3.Cursor, command_id: str,
                      first: Mapping[str, Any]) -> dict[str, Any]:
        row = cur.execute("SELECT at FROM commands WHERE id = ?", (command_id,)).fetchone()
        reason = (f"replayed: command {command_id} was already handled at {row['at']} "
                  f"({first.get('status')}); not applied again")
        return {"command": command_id, "status": "replayed", "ok": False, "error": reason,
                "first": dict(first)}

    @staticmethod
    def _reply_of(cur: sqlite3.Cursor, command_id: str) -> dict[str, Any] | None:
        row = cur.execute("SELECT reply FROM commands WHERE id = ?", (command_id,)).fetchone()
        return None if row is None else dict(json.loads(row["reply"]))

    def _change_slot(self, cur: sqlite3.Cursor, change: SlotChange) -> None:
        self._set_slot(cur, change.slot_id, change.stock, change.enabled)
        if change.price is not None:
            cur.execute("UPDATE slots SET price = ?, price_base = ? WHERE id = ?",
                        (f"{change.price:f}", f"{change.config_price:f}"
                         if change.config_price is not None else None, change.slot_id))

    def _settle(self, cur: sqlite3.Cursor, command_id: str, settle: Settlement) -> None:
        sending = cur.execute("SELECT 1 FROM refunds WHERE tx_id = ? AND state = 'sending'",
                              (settle.tx_id,)).fetchone()
        if sending:   # settling it too would pay the customer twice
            raise CommandRefused("settle_claim: the kiosk is asking the gateway for this "
                                 "refund right now; if it does not go through, the claim "
                                 "stays open: settle it then")
        status = SETTLED_BY[settle.how]
        self._append(cur, settle.tx_id, "claim_settled",
                     {"how": settle.how, "reference": settle.reference, "source": "fleet",
                      "command": command_id}, (Step.SETTLE_CLAIM, status))
        # A refund still queued must not also go out: the operator has settled it.
        cur.execute("UPDATE refunds SET state = 'settled' WHERE tx_id = ? AND state = 'pending'",
                    (settle.tx_id,))
