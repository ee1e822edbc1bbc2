"""The journal's storage: one SQLite file in WAL mode, one connection shared by the worker
threads under a lock, every public step one ``BEGIN IMMEDIATE`` ... ``COMMIT``."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from kiosk.errors import JournalError
from kiosk.journal import outbox_rows
from kiosk.journal.encoding import dumps, utc_now
from kiosk.journal.outbox_rows import EVENT, OutboxSettings, sale_event
from kiosk.journal.schema import SCHEMA_VERSION, migrate
from kiosk.journal.status import Status, Step, check

FILE_NAME = "journal.db"
CHECK_LINES = 3                   # problems a damaged journal reports, at most


class Store:
    """The SQLite file, its lock and its transactions: what every part of the journal builds on."""

    def __init__(self, path: Path, now: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self._now = now
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._write_fault = ""             # why the last write failed (disk full...), or ""
        self._outbox: OutboxSettings | None = None   # the fleet's outbox, when there is a fleet
        self._outbox_unread = False        # the file's word on it, read at the first write
        self._outbox_added = False         # this transaction added outbox rows
        self._facts_added = False          # ... and some of them were journal facts
        self.journal_id = ""               # this file's own id, read with the outbox's
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False, timeout=10.0)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {self.path}: cannot enable WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
            self._migrate()
            self._outbox_unread = True     # after the tables exist; not read on a bare open
        except BaseException as exc:
            self._conn = None
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
            raise

    @classmethod
    def open_in(cls, data_dir: Path, *, verify: bool = False) -> Self:
        """The journal of a data directory (created if missing): ``data_dir / "journal.db"``;
        with ``verify``, every page checked first (``verify``)."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create data directory {data_dir}: {exc}") from exc
        journal = cls(data_dir / FILE_NAME)
        if verify:
            try:
                journal.verify()
            except JournalError:
                journal.close()
                raise
        return journal

    def verify(self) -> None:
        """SQLite's quick check of every page: the kiosk never sells on a damaged journal (it
        could not keep its records), and leaves the file as it is for the operator."""
        with self._tx(write=False) as cur:
            rows = cur.execute(f"PRAGMA quick_check({CHECK_LINES})").fetchall()
        # one line each: SQLite's reports span lines ("*** in database main ***\nPage 9: ...")
        problems = [" ".join(str(row[0]).split()) for row in rows]
        if problems != ["ok"]:
            raise JournalError(f"journal {self.path} is damaged ({'; '.join(problems)}): keep "
                               "it for the operator and move it aside to sell again")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error as exc:
                    raise JournalError(f"cannot close journal {self.path}: {exc}") from exc
                finally:
                    self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def write_fault(self) -> str:
        """Why the last write failed for want of storage ("database or disk is full"), or ""
        once a write has succeeded since."""
        with self._lock:
            return self._write_fault

    def check_writable(self) -> str:
        """Write the file's header (its schema version, unchanged): the write fault, or "" when
        the storage takes writes again."""
        try:
            with self._tx() as cur:
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except JournalError:
            pass
        return self.write_fault

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` under the lock; rolled back on any error.

        Reads (``write=False``) use a deferred transaction: one consistent snapshot that does
        not take the write lock from the kiosk when ``kiosk journal`` reads the same file.
        """
        with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalError(f"journal {self.path} is closed")
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            except sqlite3.Error as exc:
                self._storage_failed(exc, write)
                raise JournalError(f"journal {self.path}: cannot begin a write: {exc}") from exc
            try:
                self._outbox_added = self._facts_added = False
                if write and self._outbox_unread:
                    # A journal with a fleet reports what every writer does (kiosk selftest too).
                    self._outbox_unread = False
                    self._outbox = self._outbox or outbox_rows.settings(conn.cursor())
                yield conn.cursor()
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(exc, sqlite3.Error):
                    self._storage_failed(exc, write)
                    raise JournalError(f"journal {self.path}: {exc}") from exc
                raise
            if write:
                self._write_fault = ""
                if self._outbox is not None and self._outbox_added:
                    self._outbox.wake(self._facts_added)

    def _storage_failed(self, exc: sqlite3.Error, write: bool) -> None:
        """A write the storage refused (full, read-only, failing, corrupt), not one the
        journal's own rules refused: the kiosk is out of service until a write succeeds."""
        if write and not isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
            self._write_fault = f"journal cannot be written: {exc}"

    def _migrate(self) -> None:
        with self._tx() as cur:
            migrate(cur, self.path)

    def _stamp(self) -> str:
        moment = self._now()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def _append(self, cur: sqlite3.Cursor, tx_id: str, kind: str, detail: Mapping[str, Any],
                move: tuple[Step, Status] | None = None) -> None:
        """Append one event and touch the row; with ``move``, the sale takes that step to that
        status (``_move``)."""
        row = None if move is None else self._require(cur, tx_id, *move)
        stamp = self._stamp()
        cur.execute("INSERT INTO events (tx_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    (tx_id, stamp, kind, dumps(detail)))
        cur.execute("UPDATE transactions SET updated_at = ? WHERE id = ?", (stamp, tx_id))
        if move is not None:
            cur.execute("UPDATE transactions SET status = ? WHERE id = ?", (move[1].value, tx_id))
        if self._outbox is not None:
            row = row or self._row(cur, tx_id)
            status = row["status"] if move is None else move[1].value
            self._report(cur, EVENT, sale_event(row, kind, stamp, status, detail), fact=True)

    def _report(self, cur: sqlite3.Cursor, topic: str, payload: Mapping[str, Any], *,
                fact: bool) -> None:
        """Add what the fleet must be told to the outbox, in the caller's transaction."""
        if self._outbox is not None:
            outbox_rows.insert(cur, self._outbox, topic, payload, fact=fact)
            self._outbox_added = True
            self._facts_added = self._facts_added or fact

    def _move(self, cur: sqlite3.Cursor, tx_id: str, step: Step, status: Status) -> None:
        """A status change without an event of its own (a repeated poll's new reading)."""
        self._require(cur, tx_id, step, status)
        cur.execute("UPDATE transactions SET status = ?, updated_at = ? WHERE id = ?",
                    (status.value, self._stamp(), tx_id))

    def _find_row(self, cur: sqlite3.Cursor, tx_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = cur.execute(
            "SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        return row

    def _row(self, cur: sqlite3.Cursor, tx_id: str) -> sqlite3.Row:
        row = self._find_row(cur, tx_id)
        if row is None:
            raise JournalError(f"transaction {tx_id} is not in the journal")
        return row

    def _require(self, cur: sqlite3.Cursor, tx_id: str, step: Step,
                 to: Status | None = None) -> sqlite3.Row:
        """The sale's row, if ``step`` may be taken from its status (to ``to``): every status
        change passes here (``status.check``)."""
        row = self._row(cur, tx_id)
        check(step, tx_id, row["status"], to)
        return row

    def _has_event(self, cur: sqlite3.Cursor, tx_id: str, *kinds: str) -> bool:
        marks = ", ".join("?" * len(kinds))
        return cur.execute(f"SELECT 1 FROM events WHERE tx_id = ? AND kind IN ({marks}) LIMIT 1",
                           (tx_id, *kinds)).fetchone() is not None

    def _last_event(self, cur: sqlite3.Cursor, tx_id: str, *kinds: str) -> dict[str, Any] | None:
        marks = ", ".join("?" * len(kinds))
        row = cur.execute(f"SELECT detail FROM events WHERE tx_id = ? AND kind IN ({marks})"
                          f" ORDER BY seq DESC LIMIT 1", (tx_id, *kinds)).fetchone()
        return None if row is None else dict(json.loads(row["detail"]))

