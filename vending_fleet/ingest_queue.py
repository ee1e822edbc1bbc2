"""Between the broker's thread and the store: messages are queued as they arrive and stored by
one thread in batches, one commit each (``Ingester.handle_batch``), so a burst from a thousand
machines costs a few commits rather than one per message, and paho's thread never waits on the
disk."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime

from vending_fleet.ingest import Ingester, Message
from vending_fleet.store.database import StoreUnavailable

log = logging.getLogger(__name__)

BATCH_MAX = 300            # messages per commit, at most: a page's read waits for one batch
RETRY_MIN_S = 1.0          # a database that cannot work now: tried again after this, doubling
RETRY_MAX_S = 30.0
_STOP = None


class IngestQueue:
    def __init__(self, ingester: Ingester) -> None:
        self._ingester = ingester
        self._queue: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._stopping = threading.Event()

    def put(self, topic: str, payload: bytes, received_at: datetime) -> None:
        """From paho's thread: never blocks."""
        self._queue.put((topic, payload, received_at))

    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Store what is queued, then end (a database that is away is not waited for)."""
        self._stopping.set()
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[Message] = []
            stopping = first is _STOP
            if first is not None:
                batch.append(first)
            while len(batch) < BATCH_MAX and not stopping:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            if batch:
                self._store(batch)
            if stopping:
                return

    def _store(self, batch: list[Message]) -> None:
        """Store ``batch``; while the database cannot (locked, full, its server away) keep it
        and try again, waiting longer each time: the broker has had its acknowledgement, so
        these messages exist nowhere else."""
        wait_s = RETRY_MIN_S
        while True:
            try:
                self._ingester.handle_batch(batch)
                return
            except StoreUnavailable as exc:
                if self._stopping.is_set():
                    log.error("ingest: stopping with %d messages not stored: %s", len(batch),
                              exc)
                    return
                log.warning("ingest: %s; %d messages kept, trying again in %.0f s", exc,
                            len(batch), wait_s)
                self._stopping.wait(wait_s)
                wait_s = min(RETRY_MAX_S, wait_s * 2)
            except Exception:  # noqa: BLE001 - supervised: logged, the next batch goes on
                log.exception("ingest: a batch of %d messages failed", len(batch))
                return
