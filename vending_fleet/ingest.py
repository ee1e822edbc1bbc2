"""The broker's messages -> the store (docs/fleet-protocol.md, section 3): ``status``, ``state``,
``event`` and ``reply`` of every machine, each event once by its id, and a live update on the
hub for what changed.

Everything a machine (or anyone on the broker) sends is untrusted input: a bad message is
logged, counted in ``Ingester.rejected`` and dropped; nothing here raises into paho's thread.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from vending_fleet.hub import Hub
from vending_fleet.model import Store
from vending_fleet.store.database import StoreUnavailable

log = logging.getLogger(__name__)

Message = tuple[str, bytes, datetime]          # topic, payload, when it was received
Update = tuple[str, dict[str, Any]]            # a live update: its kind and data

MAX_PAYLOAD = 64 * 1024       # a state of many slots is a few KiB; more is not a kiosk's
LEAVES = ("status", "state", "event", "reply")
_MACHINE_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


def subscriptions(prefix: str = "vk/v1", share_group: str | None = None) -> list[str]:
    """The topic filters a console subscribes to. With ``share_group``, consoles of that group
    split the events between them (MQTT shared subscriptions, ``$share/<group>/...``: each
    event reaches one of them; the store's event ids make a redelivery harmless). The
    retained ``status`` and ``state``, and the replies, go to every console."""
    event = f"{prefix}/+/event"
    if share_group:
        event = f"$share/{share_group}/{event}"
    return [f"{prefix}/+/status", f"{prefix}/+/state", event, f"{prefix}/+/reply"]


@dataclass(frozen=True)
class _Checked:
    """A message that passed every check, ready to store."""

    topic: str
    machine: str
    leaf: str
    doc: dict[str, Any]
    text: str
    received_at: datetime


class Ingester:
    """Feeds the store from the broker; ``handle`` is safe to call from paho's thread."""

    def __init__(self, store: Store, hub: Hub, prefix: str = "vk/v1",
                 machines: Collection[str] | None = None) -> None:
        self._store = store
        self._hub = hub
        self._prefix = prefix.rstrip("/") + "/"
        self._machines = None if machines is None else frozenset(machines)  # None: any
        self.rejected = 0       # bad input dropped (for tests and the health page)
        self.duplicates = 0     # events and replies stored before (resends, other consoles)
        self.stored = 0

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """paho's ``on_message`` callback."""
        self.handle(str(message.topic), bytes(message.payload), datetime.now(UTC))

    def handle(self, topic: str, payload: bytes, received_at: datetime) -> None:
        """Store one message (its own commit), then tell the dashboards."""
        checked = self._check(topic, payload, received_at)
        if checked is not None:
            self._publish(self._store_alone(checked))

    def handle_batch(self, messages: Sequence[Message]) -> None:
        """Store many messages in one commit, then tell the dashboards: what the service does
        under load. Bad input is turned away first (and logged once); if the store fails on
        any of the rest, they are stored again one at a time, so only that one is lost. A
        database that cannot work now (``StoreUnavailable``) is raised: the batch is kept."""
        checked = [found for message in messages
                   if (found := self._check(*message)) is not None]
        counts = (self.duplicates, self.stored)
        updates: list[Update] = []
        try:
            with self._store.batch():
                for message in checked:
                    updates += self._store_message(message)
        except StoreUnavailable:
            self.duplicates, self.stored = counts
            raise          # nothing went in: the caller keeps the batch and tries again
        except Exception as exc:  # noqa: BLE001 - one bad message: the others still go in
            log.warning("a batch of %d messages failed (%s: %s): storing them one by one",
                        len(checked), type(exc).__name__, exc)
            self.duplicates, self.stored = counts
            for message in checked:
                self._publish(self._store_alone(message))
            return
        self._publish(updates)

    def _store_alone(self, message: _Checked) -> list[Update]:
        try:
            return self._store_message(message)
        except StoreUnavailable:
            raise          # the database, not the message: the whole batch is tried again
        except Exception as exc:  # noqa: BLE001 - a bad message must never stop ingestion
            self._reject(message.topic, f"not stored ({type(exc).__name__}: {exc})")
            return []

    def _publish(self, updates: list[Update]) -> None:
        for kind, data in updates:
            self._hub.publish(kind, data)

    def _check(self, topic: str, payload: bytes, received_at: datetime) -> _Checked | None:
        """The message read and checked, or None (logged and counted) if it is not one of a
        known machine's."""
        parts = topic.removeprefix(self._prefix).split("/") if topic.startswith(
            self._prefix) else []
        if len(parts) != 2 or not _MACHINE_ID.fullmatch(parts[0]):
            self._reject(topic, "not a machine topic")
            return None
        machine, leaf = parts
        if leaf not in LEAVES:
            self._reject(topic, f"unknown topic leaf {leaf!r}")
            return None
        if self._machines is not None and machine not in self._machines:
            self._reject(topic, f"unknown machine {machine!r}")
            return None
        if not payload and leaf in ("status", "state"):
            log.info("%s: retained message cleared", topic)   # someone deleted it: fine
            return None
        if len(payload) > MAX_PAYLOAD:
            self._reject(topic, f"{len(payload)} bytes, more than {MAX_PAYLOAD}")
            return None
        try:
            text = payload.decode("utf-8")
            doc = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._reject(topic, f"malformed JSON ({exc})")
            return None
        if not isinstance(doc, dict):
            self._reject(topic, "not a JSON object")
            return None
        named = doc.get("machine", machine)
        if named != machine:
            # The broker's ACL should make this impossible: a machine (or a stolen login)
            # publishing under another machine's topic.
            self._reject(topic, f"says it is from {named!r}: a machine publishing "
                                f"under another's topic")
            return None
        if leaf in ("event", "reply") and not isinstance(doc.get("id"), str):
            self._reject(topic, "no id")
            return None
        return _Checked(topic, machine, leaf, doc, text, received_at)

    def _store_message(self, message: _Checked) -> list[Update]:
        """Store it; the live updates to send once that is committed."""
        machine, leaf, doc = message.machine, message.leaf, message.doc
        if leaf == "status":
            self._store.record_status(machine, doc, message.received_at)
            return self._machine_changed(machine)
        if leaf == "state":
            self._store.record_state(machine, doc, message.received_at)
            return self._machine_changed(machine)
        if leaf == "event":
            if not self._store.record_event(machine, doc, message.received_at, message.text):
                self.duplicates += 1
                return []
            self.stored += 1
            updates: list[Update] = [("event", {**doc, "machine": machine})]
            if _is_sale(doc):
                updates.append(("sale", _sale_update(machine, doc)))
            return updates
        if self._store.record_reply(machine, doc, message.received_at):
            self.stored += 1
            return [("reply", {"machine": machine, "command": doc.get("command"),
                               "status": doc.get("status"), "ok": doc.get("ok")})]
        self.duplicates += 1
        return []

    def _machine_changed(self, machine: str) -> list[Update]:
        if not self._hub.listeners():     # nobody watching: spare the read (a busy fleet)
            return []
        found = self._store.machine(machine)
        if found is None:
            return []
        data = asdict(found)
        data["last_seen"] = found.last_seen.isoformat() if found.last_seen else None
        return [("machine", data)]

    def _reject(self, topic: str, why: str) -> None:
        self.rejected += 1
        log.warning("%s: message ignored: %s", topic, why)


def _is_sale(doc: Mapping[str, Any]) -> bool:
    return (doc.get("group") == "sale" and doc.get("status") == "vended"
            and doc.get("kind") in ("vend_result", "vend_resolved"))


def _sale_update(machine: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    # Amounts stay the machine's decimal text: the page shows them, nothing adds them up here.
    keys = ("id", "tx", "slot", "item", "amount", "currency", "gateway", "asset", "at")
    update = {key: doc.get(key) for key in keys}
    update["machine"] = machine
    update["asset"] = update["asset"] or ""
    return update
