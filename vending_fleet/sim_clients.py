"""The simulated machines' MQTT side: one paho client each, and what its callbacks keep.

Every machine is its own MQTT connection with client id = machine id (as a real one; a broker
ACL that names machines by user name sees each), a persistent session, QoS 1 and a retained
last will (``online: false``, ``"connection lost"``). The clients never run paho's own loop:
``SocketLoop`` (sim_sockets.py) drives them all from the simulator's one thread, so every
callback here runs on that thread too. What a machine says and does stays with the
``Simulator``; it hears of a connection and of a command through two hooks.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from vending_fleet.sim_machine import BACKOFF_MIN_S, VERSION, Machine
from vending_fleet.sim_sockets import SocketLoop

if TYPE_CHECKING:      # simulator.py imports this module: its types only for the checker
    from vending_fleet.simulator import SimOptions, SimStats

__all__ = ["MachineClients"]

log = logging.getLogger(__name__)


class MachineClients:
    """Builds each machine's paho client and keeps ``SimStats``' connection and ack counts.

    ``machines`` is the simulator's own dict, filled after this is built (each ``Machine``
    needs its client first); the callbacks look machines up in it by their userdata, the id.
    """

    def __init__(self, options: SimOptions, *, tls: bool, stats: SimStats,
                 sockets: SocketLoop, machines: Mapping[str, Machine],
                 on_connected: Callable[[Machine], None],
                 on_command: Callable[[Machine, bytes], None],
                 stopping: Callable[[], bool]) -> None:
        self._options = options
        self._tls = tls
        self._stats = stats
        self._sockets = sockets
        self._machines = machines
        self._on_connected = on_connected      # subscribed: the machine says it is online
        self._on_command = on_command          # a payload on the machine's cmd topic
        self._stopping = stopping              # a disconnect then is expected: not logged

    def client(self, machine_id: str) -> mqtt.Client:
        options = self._options
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=machine_id,
                             clean_session=False, protocol=MQTTProtocolVersion.MQTTv311,
                             userdata=machine_id)
        client.suppress_exceptions = True
        if options.username:
            client.username_pw_set(options.username.replace("{id}", machine_id),
                                   options.password or None)
        if self._tls:
            client.tls_set(ca_certs=str(options.ca_file) if options.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        topic = f"{options.prefix}/{machine_id}/status"
        will = {"online": False, "machine": machine_id, "version": VERSION,
                "in_service": False, "reason": "connection lost"}
        client.will_set(topic, _json(will), qos=1, retain=True)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_message = self._message
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        return client

    def publish(self, machine: Machine, leaf: str, doc: Mapping[str, Any], *,
                retain: bool = False) -> int:
        """``doc`` at QoS 1 on the machine's ``leaf`` topic; the message id (its PUBACK's)."""
        info = machine.client.publish(f"{self._options.prefix}/{machine.id}/{leaf}",
                                      _json(doc), qos=1, retain=retain)
        self._sockets.update_writer(machine)    # queued bytes: watch the socket for writing
        return info.mid

    # -- paho's callbacks

    def _socket_open(self, client: mqtt.Client, machine_id: str, sock: Any) -> None:
        self._sockets.opened(self._machines[machine_id], sock)

    def _socket_close(self, client: mqtt.Client, machine_id: str, sock: Any) -> None:
        machine = self._machines[machine_id]
        self._sockets.closed(machine, sock)
        if machine.connected:
            machine.connected = False
            self._stats.connected -= 1
            self._stats.disconnects += 1

    def _connected(self, client: mqtt.Client, machine_id: str, _flags: Any, code: Any,
                   _properties: Any) -> None:
        machine = self._machines[machine_id]
        if code.is_failure:
            log.warning("%s: the broker refused the connection: %s", machine_id, code)
            return
        machine.connected = True
        machine.backoff = BACKOFF_MIN_S
        stats = self._stats
        stats.connects += 1
        stats.connected += 1
        stats.max_connected = max(stats.max_connected, stats.connected)
        client.subscribe(f"{self._options.prefix}/{machine_id}/cmd", qos=1)
        self._on_connected(machine)

    def _disconnected(self, client: mqtt.Client, machine_id: str, _flags: Any, code: Any,
                      _properties: Any) -> None:
        if not self._stopping():
            log.debug("%s: disconnected (%s)", machine_id, code)

    def _published(self, client: mqtt.Client, machine_id: str, mid: int, _code: Any,
                   _properties: Any) -> None:
        machine = self._machines[machine_id]
        if mid in machine.pending:             # an event's PUBACK (not a status or state)
            machine.pending.discard(mid)
            self._stats.events_acked += 1

    def _message(self, client: mqtt.Client, machine_id: str,
                 message: mqtt.MQTTMessage) -> None:
        self._on_command(self._machines[machine_id], bytes(message.payload))


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")
