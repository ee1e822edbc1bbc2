"""One connection to the broker: a paho-mqtt client driven by the fleet link's own thread.

paho's network loop is not started: ``pump`` waits on the client's socket and on the link's
wake-up socket itself, so a journal commit on another thread is published at once, no thread
runs that the kiosk does not supervise, and an idle link sleeps until the next keep-alive.
Each connection is a new client: whatever the last one left unacknowledged is published again
from the outbox, never from paho's memory.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from kiosk.errors import FleetError
from kiosk.config.fleet import Broker

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Will:
    """What the broker publishes for the kiosk when its connection dies unannounced."""

    topic: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Login:
    client_id: str
    username: str
    password: str
    ca_file: Path | None
    keepalive_s: int


class BrokerSession:
    """A connection in progress or established; ``closed`` once it has ended for any reason."""

    def __init__(self, broker: Broker, login: Login, will: Will | None, *,
                 on_acked: Callable[[int], None],
                 on_message: Callable[[str, bytes], None]) -> None:
        self.broker = broker
        self.connected = False        # CONNACK accepted
        self.closed = False
        self.refusal = ""             # why the broker refused us, if it did
        self._on_acked = on_acked
        self._on_message = on_message
        self._subscriptions: list[str] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=login.client_id,
                             clean_session=False, protocol=MQTTProtocolVersion.MQTTv311)
        client.suppress_exceptions = True        # a callback's bug must not break the link
        client.connect_timeout = CONNECT_TIMEOUT_S
        if login.username:
            client.username_pw_set(login.username, login.password or None)
        if broker.tls:   # verified against the operator's CA, or the system's trusted ones
            client.tls_set(ca_certs=str(login.ca_file) if login.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will is not None:
            client.will_set(will.topic, _encode(will.payload), qos=1, retain=True)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.on_message = self._message
        self._client = client
        try:
            client.connect(broker.host, broker.port, keepalive=login.keepalive_s)
        except (OSError, ValueError) as exc:     # refused, unreachable, TLS, name lookup
            self.closed = True
            raise FleetError(f"{broker.url}: {_reason(exc)}") from exc

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 once connected (and again on every new connection)."""
        self._subscriptions.append(topic)
        if self.connected:
            self._client.subscribe(topic, qos=1)

    def publish(self, topic: str, payload: Mapping[str, Any], *, retain: bool) -> int | None:
        """Queue one QoS 1 message; its message id (``on_acked`` gets it with the PUBACK), or
        None when the connection has gone."""
        info = self._client.publish(topic, _encode(payload), qos=1, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            return None
        return info.mid

    def pump(self, wake: socket.socket | None, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the socket or ``wake`` (a byte there: something new
        to publish, which the caller looks for next), then do the I/O due."""
        sock = self._client.socket()
        if sock is None or self.closed:
            self.closed = True
            return
        pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
        writers = [sock] if self._client.want_write() else []
        try:
            readers = [sock] if wake is None else [sock, wake]
            readable, writable, _ = select.select(readers, writers, [],
                                                  0.0 if pending else timeout_s)
        except (OSError, ValueError):     # the socket was closed under us
            self._lost()
            return
        if wake is not None and wake in readable:
            wake.recv(4096)
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        if sock in readable or pending:
            rc = self._client.loop_read()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and (sock in writable
                                                     or self._client.want_write()):
            rc = self._client.loop_write()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            rc = self._client.loop_misc()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost()

    def close(self, last_words: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Say goodbye (a retained status first, when given) and disconnect."""
        if self.connected and last_words is not None:
            info = self._client.publish(last_words[0], _encode(last_words[1]), qos=1,
                                        retain=True)
            for _ in range(20):           # a moment for its PUBACK: the status must stick
                if info.is_published() or self.closed:
                    break
                self.pump(None, 0.05)
        if not self.closed:
            self._client.disconnect()
            self._client.loop_write()
        self._lost()

    # -- paho's callbacks, on this thread (inside pump)

    def _connected(self, client: mqtt.Client, userdata: object, flags: object,
                   reason: ReasonCode, properties: object) -> None:
        if reason.is_failure:
            self.refusal = f"{self.broker.url}: the broker refused the connection: {reason}"
            return
        self.connected = True
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)

    def _disconnected(self, client: mqtt.Client, userdata: object, flags: object,
                      reason: ReasonCode, properties: object) -> None:
        self._lost()

    def _published(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode,
                   properties: object) -> None:
        self._on_acked(mid)

    def _message(self, client: mqtt.Client, userdata: object,
                 message: mqtt.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))

    def _lost(self) -> None:
        self.connected = False
        if not self.closed:
            self.closed = True
            try:
                sock = self._client.socket()
                if sock is not None:
                    sock.close()
            except OSError:
                pass


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the broker's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, socket.gaierror):
        return "the broker's host name does not resolve"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
