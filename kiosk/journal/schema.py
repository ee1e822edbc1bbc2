"""The journal file's tables, and bringing an older file up to them (``PRAGMA user_version``
is the schema version)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kiosk.errors import JournalError
from kiosk.journal import outbox_rows

# 2: selftests; 3: operator_events; 4: refunds, slot failures; 5: outbox, commands, prices
SCHEMA_VERSION = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    slot TEXT NOT NULL,
    item_name TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    asset TEXT NULL,
    payment_id TEXT NULL,
    payment_link TEXT NULL,
    expires_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    claim_code TEXT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id TEXT REFERENCES transactions(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_tx_seq ON events(tx_id, seq);
CREATE TABLE IF NOT EXISTS slots (
    id TEXT PRIMARY KEY,
    stock INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0,
    price TEXT NULL,
    price_base TEXT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    tx_id TEXT PRIMARY KEY REFERENCES transactions(id),
    reference TEXT NOT NULL,
    reason TEXT NOT NULL,
    claim_code TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE TABLE IF NOT EXISTS selftests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    passed INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    reply TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
""" + outbox_rows.SCHEMA


def migrate(cur: sqlite3.Cursor, path: Path) -> None:
    """Create what is missing, add the columns older versions lack, stamp the version; a
    newer file than this firmware knows is refused, never rewritten."""
    version = cur.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise JournalError(f"journal {path} has schema version {version}; this "
                           f"firmware knows up to {SCHEMA_VERSION}")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            cur.execute(statement)
    slot_columns = {row[1] for row in cur.execute("PRAGMA table_info(slots)")}
    if "failures" not in slot_columns:  # a version 3 journal
        cur.execute("ALTER TABLE slots ADD COLUMN failures INTEGER NOT NULL DEFAULT 0")
    if "price" not in slot_columns:     # before version 5: no remote prices
        cur.execute("ALTER TABLE slots ADD COLUMN price TEXT NULL")
        cur.execute("ALTER TABLE slots ADD COLUMN price_base TEXT NULL")
    if version < SCHEMA_VERSION:
        cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
