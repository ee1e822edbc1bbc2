"""The fleet outbox, the publisher's side: rows are published in ``seq`` order and deleted
only once the broker acknowledged them.

Every journal change worth reporting adds its row in its own transaction (``Store._report``):
nothing the journal keeps can be missed by the fleet, and nothing is reported that the journal
did not keep. A row is a *fact* (a sale's step, an operator action, a self-test, a command's
reply: never dropped) or *telemetry* (state snapshots, going out of and back into service: a
newer one says more). Over the limit, telemetry goes first, oldest first; facts stay however
many there are. Off until ``enable_outbox``, which the file remembers: while the kiosk runs
with a fleet, ``kiosk selftest`` and ``kiosk dex --reset`` add rows too; a kiosk started
without a fleet calls ``disable_outbox`` and nothing is written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.journal.outbox_rows import OutboxSettings, journal_id
from kiosk.journal.store import Store


@dataclass(frozen=True)
class OutboxRow:
    """One message to publish: ``id`` is stable across restarts and unique to this journal."""

    seq: int
    id: str
    topic: str
    payload: dict[str, Any]


class Outbox(Store):
    def enable_outbox(self, limit: int, wake: Callable[[bool], None]) -> None:
        """From now on every journal change worth reporting adds its row, whoever makes it
        (the file keeps the word), and ``wake`` is called after each commit that added rows:
        ``wake(True)`` if any of them was a journal fact, ``wake(False)`` for telemetry."""
        with self._tx() as cur:
            self.journal_id = journal_id(cur)
            cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('outbox_limit', ?)",
                        (str(limit),))
        self._outbox = OutboxSettings(limit, wake)

    def disable_outbox(self) -> None:
        """No fleet (any more): nothing is kept for it, and nothing waits to be sent."""
        with self._tx() as cur:
            cur.execute("DELETE FROM meta WHERE key = 'outbox_limit'")
            cur.execute("DELETE FROM outbox")
        self._outbox = None

    def report(self, topic: str, payload: Mapping[str, Any], *, fact: bool) -> None:
        """A row that is not a journal change of its own (a snapshot, a fault, a reply), dated
        now unless it says when."""
        with self._tx() as cur:
            self._report(cur, topic, {"at": self._stamp(), **payload}, fact=fact)

    def outbox_batch(self, limit: int, after: int = 0) -> list[OutboxRow]:
        """The oldest rows still to publish after ``seq`` ``after``, in order."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT seq, topic, payload FROM outbox WHERE seq > ?"
                               " ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        return [OutboxRow(row["seq"], f"{self.journal_id}-{row['seq']}", row["topic"],
                          json.loads(row["payload"])) for row in rows]

    def outbox_sent(self, seqs: list[int]) -> None:
        """The broker acknowledged these rows: they leave the outbox."""
        with self._tx() as cur:
            cur.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in seqs])

    def outbox_size(self) -> int:
        with self._tx(write=False) as cur:
            return int(cur.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
