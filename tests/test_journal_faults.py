"""The journal's storage failing mid-service (disk full, read-only, I/O errors): no sale starts
that could not be recorded, the kiosk says why on screen and comes back once writes succeed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from harness import Harness, mixpay_config, pay, simulated_driver
from kiosk.flow import DonePressed, Screen
from kiosk.errors import JournalError
from kiosk.journal import Journal
from kiosk.sim import Sandbox

FULL = "database or disk is full"   # SQLite's own words for SQLITE_FULL


class FillableDisk:
    """The journal's connection on a disk that fills up: every commit fails as SQLite fails
    on a full disk (the transaction rolled back) until ``full`` is cleared."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.full = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.full and sql == "COMMIT":
            raise sqlite3.OperationalError(FULL)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_full_disk_stops_sales_with_the_reason_and_heals(tmp_path: Path,
                                                          sandbox: Sandbox) -> None:
    config = mixpay_config(tmp_path, sandbox)
    harness = Harness(config, simulated_driver(config))
    journal: Journal = harness.runtime.journal
    disk = FillableDisk(journal._conn)  # type: ignore[arg-type]
    journal._conn = disk  # type: ignore[assignment]
    try:
        harness.wait_screen(Screen.ATTRACT)
        disk.full = True
        harness.choose("A1")
        # No QR without its record: the customer is never asked to pay.
        harness.wait_screen(Screen.PAYMENT_FAILED)
        assert harness.runtime.state.sale is not None
        assert harness.runtime.state.sale.request is None
        harness.runtime.post(DonePressed())
        harness.wait_for(lambda: harness.runtime.state.hardware_fault
                         == f"journal cannot be written: {FULL}")
        assert harness.runtime.state.screen is Screen.OUT_OF_SERVICE
        disk.full = False                          # the operator freed some space
        harness.wait_screen(Screen.ATTRACT)
        order, request = harness.buy("A1")
        pay(request.link)
        assert harness.wait_status(order.tx_id, "vended")["slot"] == "A1"
    finally:
        harness.close()


def test_sqlite_full_is_a_write_fault_until_a_write_succeeds(tmp_path: Path) -> None:
    with Journal.open_in(tmp_path) as journal:
        conn = journal._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")   # SQLite's own SQLITE_FULL
        failed = ""
        for n in range(10_000):
            try:
                journal.operator_event("restock", {"slot": "A1", "note": "x" * 500, "n": n})
            except Exception as exc:  # noqa: BLE001 - the error is what is checked
                failed = str(exc)
                break
        assert FULL in failed
        assert journal.write_fault == f"journal cannot be written: {FULL}"
        assert journal.check_writable() == journal.write_fault   # still full
        conn.execute(f"PRAGMA max_page_count = {pages * 100}")
        assert journal.check_writable() == ""
        assert journal.write_fault == ""


def test_a_damaged_journal_is_refused_for_selling_and_left_as_it_is(tmp_path: Path) -> None:
    with Journal.open_in(tmp_path) as journal:
        for n in range(30):
            journal.operator_event("restock", {"slot": "A1", "n": n, "note": "x" * 200})
    db = tmp_path / "journal.db"
    pages = bytearray(db.read_bytes())
    for offset in range(4096, len(pages), 4096):  # every page after the header's
        pages[offset:offset + 64] = b"\xde\xad" * 32
    db.write_bytes(bytes(pages))
    try:
        Journal.open_in(tmp_path, verify=True)
    except JournalError as exc:
        reason = str(exc)
    else:
        raise AssertionError("a damaged journal was opened for selling")
    assert "journal.db is damaged (" in reason and "\n" not in reason
    assert db.read_bytes() == bytes(pages)          # kept for the operator, byte for byte
    Journal.open_in(tmp_path).close()               # `kiosk journal` may still read what it can
