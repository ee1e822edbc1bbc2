"""The outbox table: what the fleet link must still publish, written in the same transaction
as the journal change it reports (a transactional outbox). See ``kiosk.journal.outbox``."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.journal.encoding import asset_from_json, dumps

# What each row reports on: its MQTT topic below the machine's.
EVENT = "event"
STATE = "state"
REPLY = "reply"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    fact INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass
class OutboxSettings:
    limit: int
    # Called after a commit that added rows; True if any was a journal fact (a change the
    # state snapshot may show), False for telemetry only (a snapshot, a service note).
    wake: Callable[[bool], None]


def settings(cur: sqlite3.Cursor) -> OutboxSettings | None:
    """The outbox the file says it has (``Outbox.enable_outbox``), waking nobody: a writer
    other than the kiosk (``kiosk selftest``) adds rows the kiosk's link publishes."""
    row = cur.execute("SELECT value FROM meta WHERE key = 'outbox_limit'").fetchone()
    return None if row is None else OutboxSettings(int(row[0]), lambda facts: None)


def journal_id(cur: sqlite3.Cursor) -> str:
    """This journal file's own id (made at its first open): with a row's ``seq`` it names an
    event uniquely even when a damaged journal is moved aside and a new one starts at 1."""
    row = cur.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
    if row is not None:
        return str(row[0])
    made = uuid.uuid4().hex[:12]
    cur.execute("INSERT INTO meta (key, value) VALUES ('journal_id', ?)", (made,))
    return made


def insert(cur: sqlite3.Cursor, settings: OutboxSettings, topic: str, payload: Mapping[str, Any],
           *, fact: bool) -> None:
    """Add one row inside the caller's transaction; a state snapshot replaces the one still
    waiting (it says all the older one did)."""
    if topic == STATE:
        cur.execute("DELETE FROM outbox WHERE topic = ?", (STATE,))
    cur.execute("INSERT INTO outbox (topic, fact, payload) VALUES (?, ?, ?)",
                (topic, int(fact), dumps(payload)))
    over = cur.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - settings.limit
    if over > 0:  # the broker has been away long: the oldest telemetry goes first, but
        # never the one state snapshot (the latest: without it the console's stays stale)
        cur.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE fact = 0"
                    " AND topic != ? ORDER BY seq LIMIT ?)", (STATE, over))


def sale_event(row: sqlite3.Row, kind: str, at: str, status: str,
               detail: Mapping[str, Any]) -> dict[str, Any]:
    """A sale's step as the fleet sees it: the step and what was sold, for how much, how."""
    asset = asset_from_json(row["asset"])
    return {"group": "sale", "kind": kind, "at": at, "tx": row["id"], "status": status,
            "slot": row["slot"], "item": row["item_name"], "amount": row["amount"],
            "currency": row["currency"], "gateway": row["gateway"],
            "asset": asset.symbol if asset else None, "detail": dict(detail)}
