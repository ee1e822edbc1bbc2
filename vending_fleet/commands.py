"""Signed commands to a machine (docs/fleet-protocol.md, section 4): checked here as the machine
would check their arguments, signed with the fleet's key, recorded, audited, then published at
QoS 1 on ``<prefix>/<machine>/cmd``. The machine's reply arrives through the ingester
(``Store.record_reply``); ``wait_reply`` watches the store for it.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.errors import CommandRefused
from kiosk.fleet.commands import ARGUMENTS, LONGEST_LIFETIME, MAX_MESSAGE_BYTES, check_arguments
from kiosk.fleet.signing import sign
from vending_fleet.hub import Hub
from vending_fleet.model import AuditEntry, CommandRecord, Store

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], bool]
SENT = "sent"
NOT_SENT = "not_sent"         # the hub's word for a command the broker client would not take
_MACHINE = re.compile(r"[A-Za-z0-9._-]{1,100}")     # one topic level: no "+", "#" or "/"


class CommandError(ValueError):
    """A command the console refuses to send (the message says why, naming the argument)."""


class NotSent(CommandError):
    """The MQTT client did not take the command (it was recorded and audited, as "sent")."""


def check_command(machine: str, command: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` as the machine will take them (kiosk.fleet.commands' checks 14-18), else
    ``CommandError``: refused here, nothing is published or recorded."""
    if not isinstance(machine, str) or not _MACHINE.fullmatch(machine):
        raise CommandError(f"not a machine id: {json.dumps(machine)} (letters, digits, "
                           '".", "_" and "-")')
    if command not in ARGUMENTS:
        raise CommandError(f"unknown command {json.dumps(command)} (known: "
                           f"{', '.join(ARGUMENTS)})")
    try:
        return check_arguments(command, dict(args))     # the machine's own checks
    except CommandRefused as exc:
        raise CommandError(str(exc)) from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def new_command_id() -> str:
    return f"c-{uuid.uuid4().hex}"


def paho_publisher(client: mqtt.Client) -> Publish:
    """``publish`` for ``CommandSender`` over a connected paho client: QoS 1, never retained (a
    retained command would be offered again on every reconnect). True once queued; paho
    delivers it, resending until the broker's PUBACK."""
    import paho.mqtt.client as mqtt

    def publish(topic: str, payload: bytes) -> bool:
        info = client.publish(topic, payload, qos=1, retain=False)
        # NO_CONN: a QoS 1 message is kept and sent once paho has reconnected (the command
        # carries its own expiry, so a late one is refused rather than applied late)
        return info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)

    return publish


class CommandSender:
    def __init__(self, store: Store, hub: Hub, publish: Publish, key: Ed25519PrivateKey, *,
                 prefix: str = "vk/v1", lifetime: timedelta = timedelta(minutes=10),
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 new_id: Callable[[], str] = new_command_id) -> None:
        if not timedelta(0) < lifetime <= LONGEST_LIFETIME:
            raise ValueError(f"command lifetime {lifetime}: machines take 1 s to a day")
        self._store = store
        self._hub = hub
        self._publish = publish
        self._key = key
        self._prefix = prefix.rstrip("/")
        self._lifetime = lifetime
        self._clock = clock
        self._new_id = new_id

    def topic(self, machine: str) -> str:
        return f"{self._prefix}/{machine}/cmd"

    def envelope(self, machine: str, command: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """The signed command (checked first: ``CommandError``)."""
        checked = check_command(machine, command, args)
        # whole seconds: what the protocol's examples show, and any reader parses
        issued = self._clock().astimezone(timezone.utc).replace(microsecond=0)
        doc = {"id": self._new_id(), "machine": machine, "command": command, "args": checked,
               "issued_at": _iso(issued), "expires_at": _iso(issued + self._lifetime)}
        signed = sign(doc, self._key)
        if len(_payload(signed)) > MAX_MESSAGE_BYTES:
            raise CommandError(f"{command}: the command is larger than a machine takes "
                               f"({MAX_MESSAGE_BYTES} bytes); shorten its arguments")
        return signed

    def send(self, machine: str, command: str, args: Mapping[str, Any],
             user: str) -> CommandRecord:
        """Check, sign, record, audit and publish a command; its record (status "sent").
        ``CommandError`` before anything is recorded when it would be refused; ``NotSent``
        when the MQTT client would not take it."""
        doc = self.envelope(machine, command, args)
        sent_at = self._clock()
        record = CommandRecord(id=doc["id"], machine=machine, command=command,
                               args=doc["args"], sent_by=user, sent_at=sent_at, status=SENT,
                               reply=None)
        # recorded before publishing: a machine's reply can come back within milliseconds,
        # and the ingester must find its command
        self._store.command_sent(record)
        self._store.audit(AuditEntry(sent_at, user, "command", {
            "id": record.id, "machine": machine, "command": command, "args": record.args,
            "expires_at": doc["expires_at"]}))
        if not self._try_publish(machine, doc):
            # The store cannot mark a recorded command unsent: the record stays "sent" (no
            # reply will come; the command expires), the audit trail and the user are told.
            self._store.audit(AuditEntry(self._clock(), user, "command_not_sent",
                                         {"id": record.id, "machine": machine,
                                          "command": command}))
            self._hub.publish("command", {**_update(record), "status": NOT_SENT})
            raise NotSent(f"{command} to {machine} not sent: the broker connection would not "
                          "take it (is the console connected to the broker?)")
        self._hub.publish("command", _update(record))
        log.info("command %s %s sent to %s by %s", record.id, command, machine, user)
        return record

    def _try_publish(self, machine: str, doc: Mapping[str, Any]) -> bool:
        try:
            return self._publish(self.topic(machine), _payload(doc))
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("command %s to %s not published: %s", doc["id"], machine, exc)
            return False

    def wait_reply(self, command_id: str, timeout_s: float, *,
                   poll_s: float = 0.1) -> CommandRecord:
        """The command's record once its reply is stored (status no longer "sent"), or as it
        stands after ``timeout_s``. ``LookupError`` if no such command was recorded."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self._find(command_id)
            if record is None:
                raise LookupError(f"no command {command_id} was sent")
            if record.status != SENT or time.monotonic() >= deadline:
                return record
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))

    def _find(self, command_id: str) -> CommandRecord | None:
        # the Store has no look-up by id: the newest commands of all machines are enough for
        # one just sent
        return next((r for r in self._store.commands(None, limit=1000) if r.id == command_id),
                    None)


def _payload(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def _update(record: CommandRecord) -> dict[str, Any]:
    """The hub's "command" update (JSON-ready)."""
    return {"id": record.id, "machine": record.machine, "command": record.command,
            "args": dict(record.args), "sent_by": record.sent_by,
            "sent_at": record.sent_at.isoformat(), "status": record.status}
