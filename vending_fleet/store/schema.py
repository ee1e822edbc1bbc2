"""The console's tables, for both databases ({TIME}, {AMOUNT}, {AUTO_ID} are the dialect's).

``events`` holds every event once (its id the primary key: several consoles on one database,
or a machine resending after a reconnect, never count twice). The other machine tables are
views kept up to date in the same transaction as the event that changed them, each guarded by
the journal's seq so that late arrivals never overwrite newer facts.
"""

from __future__ import annotations

VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    journal TEXT NOT NULL,
    seq BIGINT NOT NULL,
    grp TEXT NOT NULL,
    kind TEXT NOT NULL,
    at {TIME} NOT NULL,
    received_at {TIME} NOT NULL,
    tx TEXT,
    status TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_machine_at ON events (machine, at);
CREATE TABLE IF NOT EXISTS sales (
    event_id TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    tx TEXT NOT NULL,
    at {TIME} NOT NULL,
    slot TEXT NOT NULL,
    item TEXT NOT NULL,
    amount {AMOUNT} NOT NULL,
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    asset TEXT NOT NULL,
    UNIQUE (machine, tx)
);
CREATE INDEX IF NOT EXISTS sales_at ON sales (at);
CREATE TABLE IF NOT EXISTS txs (
    machine TEXT NOT NULL,
    tx TEXT NOT NULL,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    amount {AMOUNT} NOT NULL,
    currency TEXT NOT NULL,
    status_at {TIME} NOT NULL,
    claim_code TEXT NOT NULL DEFAULT '',
    claim_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (machine, tx)
);
CREATE INDEX IF NOT EXISTS txs_status ON txs (status);
CREATE INDEX IF NOT EXISTS txs_claim ON txs (claim_key);
CREATE TABLE IF NOT EXISTS machine_seen (
    machine TEXT PRIMARY KEY,
    at {TIME} NOT NULL
);
CREATE TABLE IF NOT EXISTS machine_status (
    machine TEXT PRIMARY KEY,
    online INTEGER NOT NULL,
    in_service INTEGER NOT NULL,
    reason TEXT NOT NULL,
    version TEXT NOT NULL,
    at {TIME} NOT NULL
);
CREATE TABLE IF NOT EXISTS machine_state (
    machine TEXT PRIMARY KEY,
    journal TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at {TIME} NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at {TIME} NOT NULL,
    status TEXT NOT NULL,
    reply TEXT
);
CREATE INDEX IF NOT EXISTS commands_sent_at ON commands (sent_at);
CREATE TABLE IF NOT EXISTS replies (
    id TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    command TEXT,
    status TEXT NOT NULL,
    at {TIME} NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id {AUTO_ID},
    key TEXT NOT NULL,
    machine TEXT NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    since {TIME} NOT NULL,
    cleared_at {TIME}
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_key ON alerts (key) WHERE cleared_at IS NULL;
CREATE TABLE IF NOT EXISTS users (
    id {AUTO_ID},
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at {TIME} NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id {AUTO_ID},
    at {TIME} NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


def statements(ddl: str) -> list[str]:
    """The schema as single statements (no statement here contains a ``;``)."""
    return [part.strip() for part in ddl.split(";") if part.strip()]
