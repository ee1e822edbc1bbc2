"""What the journal keeps besides a sale's steps: slots, self-test runs, operator events, and
the sales read back (``kiosk journal``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from kiosk.claims import normalize_claim_code
from kiosk.journal.encoding import asset_from_json, dumps, optional_decimal
from kiosk.journal.outbox_rows import EVENT
from kiosk.journal.status import OPEN_CLAIM_STATUSES
from kiosk.journal.store import Store

# Operator events that count towards (or reset) the PIN lockout.
PIN_FAILED = "pin_failed"
PIN_LOCKED = "pin_locked"
PIN_OK = "pin_ok"



@dataclass(frozen=True)
class SlotState:
    """A slot as the journal knows it: stock left and whether a fault took it out of sale."""

    stock: int
    disabled: bool
    disabled_reason: str
    price: Decimal | None = None          # set by a fleet command, instead of the config's
    price_base: Decimal | None = None     # the config's price when it was set

    def price_for(self, config_price: Decimal) -> Decimal:
        """The price that stands: the fleet's while the config's price is still the one it
        replaced; once the operator edits the config's price, the config wins again."""
        if self.price is not None and self.price_base == config_price:
            return self.price
        return config_price



@dataclass(frozen=True)
class Overview:
    """What the fleet's ``state`` shows, read at one moment."""

    slots: dict[str, SlotState]
    open_claims: int
    sold: int                             # sales vended since the moment asked about
    takings: Decimal                      # what they came to


class Records(Store):
    """Reading sales back; slots, self-tests and operator events."""

    def transactions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every transaction (the latest ``limit`` when given), oldest first, with its events:
        the ``kiosk journal --json`` shape."""
        with self._tx(write=False) as cur:
            if limit is None:
                rows = cur.execute("SELECT * FROM transactions ORDER BY rowid").fetchall()
            else:
                rows = cur.execute(
                    "SELECT * FROM (SELECT rowid AS r, * FROM transactions ORDER BY rowid DESC"
                    " LIMIT ?) ORDER BY r", (max(0, limit),)).fetchall()
            return self._render(cur, rows)

    def transaction(self, tx_id: str) -> dict[str, Any]:
        """One transaction in the ``transactions()`` shape; ``JournalError`` if absent."""
        with self._tx(write=False) as cur:
            return self._render(cur, [self._row(cur, tx_id)])[0]

    def find_by_claim_code(self, code: str) -> dict[str, Any] | None:
        """The transaction a claim code was issued for (case, hyphens and I/L/O forgiven)."""
        wanted = normalize_claim_code(code)
        if not wanted:
            return None
        with self._tx(write=False) as cur:
            rows = cur.execute(
                "SELECT * FROM transactions WHERE claim_code IS NOT NULL ORDER BY rowid").fetchall()
            for row in rows:
                if normalize_claim_code(row["claim_code"]) == wanted:
                    return self._render(cur, [row])[0]
        return None

    def _render(self, cur: sqlite3.Cursor, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
        events: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
        if len(rows) <= 100:
            marks = ", ".join("?" * len(rows))
            query = (f"SELECT tx_id, at, kind, detail FROM events WHERE tx_id IN ({marks})"
                     f" ORDER BY seq")
            params: list[str] = [row["id"] for row in rows]
        else:  # too many ids for one IN list: read every event, keep the ones asked for
            query, params = "SELECT tx_id, at, kind, detail FROM events ORDER BY seq", []
        for event in cur.execute(query, params).fetchall() if rows else ():
            if event["tx_id"] in events:
                events[event["tx_id"]].append({"at": event["at"], "kind": event["kind"],
                                               "detail": json.loads(event["detail"])})
        rendered = []
        for row in rows:
            asset = asset_from_json(row["asset"])
            rendered.append({
                "id": row["id"], "slot": row["slot"], "item_name": row["item_name"],
                "amount": row["amount"], "currency": row["currency"], "gateway": row["gateway"],
                "asset": asset.symbol if asset else None, "payment_id": row["payment_id"],
                "payment_link": row["payment_link"], "status": row["status"],
                "claim_code": row["claim_code"], "created_at": row["created_at"],
                "updated_at": row["updated_at"], "events": events[row["id"]]})
        return rendered

    def init_slots(self, stock: Mapping[str, int]) -> None:
        """Add slots the journal does not know yet; known slots keep their journalled stock."""
        with self._tx() as cur:
            cur.executemany("INSERT OR IGNORE INTO slots (id, stock, disabled, disabled_reason)"
                            " VALUES (?, ?, 0, '')",
                            [(slot, max(0, int(count))) for slot, count in stock.items()])

    def set_slot(self, slot_id: str, *, stock: int | None = None,
                 enabled: bool | None = None) -> None:
        """Operator action: restock a slot and/or put it back in (or out of) sale."""
        with self._tx() as cur:
            self._set_slot(cur, slot_id, stock, enabled)

    @staticmethod
    def _set_slot(cur: sqlite3.Cursor, slot_id: str, stock: int | None,
                  enabled: bool | None) -> None:
        cur.execute("INSERT OR IGNORE INTO slots (id, stock, disabled, disabled_reason)"
                    " VALUES (?, 0, 0, '')", (slot_id,))
        if stock is not None:
            cur.execute("UPDATE slots SET stock = ? WHERE id = ?", (max(0, stock), slot_id))
        if enabled is True:  # back on sale with a clean slate of failures
            cur.execute("UPDATE slots SET disabled = 0, disabled_reason = '', failures = 0"
                        " WHERE id = ?", (slot_id,))
        elif enabled is False:
            cur.execute("UPDATE slots SET disabled = 1, disabled_reason = 'operator'"
                        " WHERE id = ?", (slot_id,))

    def record_selftest(self, passed: bool, checks: list[dict[str, Any]]) -> str:
        """Journal a technician self-test run; returns its timestamp."""
        at = self._stamp()
        with self._tx() as cur:
            cur.execute("INSERT INTO selftests (at, passed, report) VALUES (?, ?, ?)",
                        (at, int(passed), dumps({"checks": checks})))
            self._report(cur, EVENT, {"group": "selftest", "kind": "selftest", "at": at,
                                      "passed": passed, "checks": checks}, fact=True)
        return at

    def selftests(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest self-test runs, newest first."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT at, passed, report FROM selftests ORDER BY seq DESC"
                               " LIMIT ?", (limit,)).fetchall()
        return [{"at": row["at"], "passed": bool(row["passed"]),
                 **json.loads(row["report"])} for row in rows]

    def operator_event(self, kind: str, detail: Mapping[str, Any]) -> str:
        """Journal one operator action (restock, re-enable, test vend, PIN failure...)."""
        at = self._stamp()
        with self._tx() as cur:
            self._operator_row(cur, at, kind, detail)
        return at

    def operator_change(self, slot_id: str, kind: str, detail: Mapping[str, Any], *,
                        stock: int | None = None, enabled: bool | None = None) -> None:
        """An operator's slot change and its event, in one step."""
        at = self._stamp()
        with self._tx() as cur:
            self._set_slot(cur, slot_id, stock, enabled)
            self._operator_row(cur, at, kind, {"slot": slot_id, **detail})

    def _operator_row(self, cur: sqlite3.Cursor, at: str, kind: str,
                      detail: Mapping[str, Any]) -> None:
        cur.execute("INSERT INTO operator_events (at, kind, detail) VALUES (?, ?, ?)",
                    (at, kind, dumps(detail)))
        self._report(cur, EVENT, {"group": "operator", "kind": kind, "at": at,
                                  "detail": dict(detail)}, fact=True)

    def operator_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest operator events, oldest first: ``{at, kind, detail}``."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT at, kind, detail FROM (SELECT * FROM operator_events"
                               " ORDER BY seq DESC LIMIT ?) ORDER BY seq", (limit,)).fetchall()
        return [{"at": row["at"], "kind": row["kind"], "detail": json.loads(row["detail"])}
                for row in rows]

    def latest_operator_event(self, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """The newest operator event of one of ``kinds``: ``{at, kind, detail}``, or None."""
        marks = ", ".join("?" * len(kinds))
        with self._tx(write=False) as cur:
            row = cur.execute(f"SELECT at, kind, detail FROM operator_events WHERE kind IN"
                              f" ({marks}) ORDER BY seq DESC LIMIT 1", kinds).fetchone()
        return None if row is None else {"at": row["at"], "kind": row["kind"],
                                         "detail": json.loads(row["detail"])}

    def pin_lockout(self) -> tuple[int, float]:
        """``(wrong PINs in a row, locked until)`` from the operator events: failures count
        back to the last good PIN or lockout; ``locked until`` (epoch seconds, 0 if never) is
        the latest lockout's, so a restart does not lift it."""
        failures = 0
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT kind, detail FROM operator_events WHERE kind IN (?, ?, ?)"
                               " ORDER BY seq DESC", (PIN_FAILED, PIN_LOCKED, PIN_OK))
            for row in rows:
                if row["kind"] == PIN_FAILED:
                    failures += 1
                    continue
                if row["kind"] == PIN_LOCKED:
                    return failures, float(json.loads(row["detail"]).get("until", 0))
                break
        return failures, 0.0

    def overview(self, since: datetime) -> Overview:
        """Slots, open claims and the sales vended since ``since``, read at one moment (a
        vend between two reads would show its sale without its stock)."""
        stamp = since.astimezone(timezone.utc).isoformat(timespec="microseconds")
        with self._tx(write=False) as cur:
            sold = cur.execute("SELECT amount FROM transactions WHERE status = 'vended'"
                               " AND created_at >= ?", (stamp,)).fetchall()
            return Overview(self._slot_states(cur), self._open_claims(cur), len(sold),
                            sum((Decimal(row["amount"]) for row in sold), Decimal(0)))

    def open_claim_count(self) -> int:
        """Sales the operator still owes something (``kiosk journal --claims``)."""
        with self._tx(write=False) as cur:
            return self._open_claims(cur)

    def slot_states(self) -> dict[str, SlotState]:
        with self._tx(write=False) as cur:
            return self._slot_states(cur)

    @staticmethod
    def _open_claims(cur: sqlite3.Cursor) -> int:
        marks = ", ".join("?" * len(OPEN_CLAIM_STATUSES))
        return int(cur.execute(f"SELECT COUNT(*) FROM transactions WHERE status IN ({marks})",
                               sorted(OPEN_CLAIM_STATUSES)).fetchone()[0])

    @staticmethod
    def _slot_states(cur: sqlite3.Cursor) -> dict[str, SlotState]:
        rows = cur.execute("SELECT * FROM slots ORDER BY id").fetchall()
        return {row["id"]: SlotState(stock=int(row["stock"]), disabled=bool(row["disabled"]),
                                     disabled_reason=row["disabled_reason"] or "",
                                     price=optional_decimal(row["price"]),
                                     price_base=optional_decimal(row["price_base"]))
                for row in rows}

