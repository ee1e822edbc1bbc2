"""The running console (``vending-fleet serve``): the store, one MQTT connection feeding the
ingester, the command sender publishing over it, the alert rules on a clock, and the web app
served by uvicorn. Stopped cleanly by SIGTERM or SIGINT (uvicorn's handlers, in the main
thread) or by ``stop()``.

Threads: uvicorn's event loop (the caller's, in ``serve_forever``; its own in ``start``), paho's
network loop (``loop_start``: this is a server, one more thread is nothing), the alerter's, the
webhook's. The broker connection is one paho client with a fixed client id and a kept session
(``clean_session = false``): QoS 1 events published while the console is away wait at the
broker. After a lost or refused connection paho tries again with a back-off (1 s doubling to
60 s), rotating through the cluster's nodes; every (re)connect subscribes again.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from vending_fleet.commands import paho_publisher
from vending_fleet.config import BrokerSettings, ConsoleConfig
from vending_fleet.hub import Hub
from vending_fleet.model import Store

log = logging.getLogger(__name__)

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class BrokerLink:
    """The console's MQTT connection: every message to ``on_message(topic, payload, at)``;
    ``publish(topic, payload)`` for commands (QoS 1, never retained)."""

    def __init__(self, settings: BrokerSettings, topics: list[str],
                 on_message: Callable[[str, bytes, datetime], None]) -> None:
        if not settings.brokers:
            raise ValueError("no broker to connect to")
        self.settings = settings
        self.topics = topics
        self._on_message = on_message
        self._node = 0
        self.connected = threading.Event()
        self.connects = 0
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             clean_session=False, protocol=MQTTProtocolVersion.MQTTv311)
        client.suppress_exceptions = True          # a bug in a callback must not end the loop
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(10_000)
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        if settings.brokers[0].tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.on_connect = self._connected
        client.on_connect_fail = self._connect_failed
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        self.client = client
        self._publish = paho_publisher(client)

    @property
    def url(self) -> str:
        return self.settings.brokers[self._node].url

    def start(self) -> None:
        """Connect in the background (the console starts with the broker down, too)."""
        broker = self.settings.brokers[self._node]
        log.info("connecting to the broker at %s as %s", broker.url, self.settings.client_id)
        self.client.connect_async(broker.host, broker.port, self.settings.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def publish(self, topic: str, payload: bytes) -> bool:
        """A command out (``commands.paho_publisher``: queued while the broker is away too,
        so "not sent" never hides a command paho will still deliver)."""
        return self._publish(topic, payload)

    def _connected(self, client: mqtt.Client, _userdata: Any, _flags: Any, code: Any,
                   _properties: Any) -> None:
        if code.is_failure:
            log.warning("broker %s refused the console: %s", self.url, code)
            self._next_node()
            return
        self.connects += 1
        result, _mid = client.subscribe([(topic, 1) for topic in self.topics])
        log.info("connected to %s; subscribed to %s (%s)", self.url, ", ".join(self.topics),
                 "ok" if result == mqtt.MQTT_ERR_SUCCESS else result)
        self.connected.set()

    def _connect_failed(self, _client: mqtt.Client, _userdata: Any) -> None:
        log.warning("broker %s cannot be reached; trying again", self.url)
        self._next_node()

    def _disconnected(self, _client: mqtt.Client, _userdata: Any, _flags: Any, code: Any,
                      _properties: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and code.is_failure:
            log.warning("lost the broker %s (%s); reconnecting", self.url, code)
            self._next_node()

    def _next_node(self) -> None:
        if len(self.settings.brokers) < 2:
            return
        self._node = (self._node + 1) % len(self.settings.brokers)
        broker = self.settings.brokers[self._node]
        # Only the address changes: paho's loop reconnects to it after its back-off.
        self.client._host = broker.host          # noqa: SLF001 - paho has no setter
        self.client._port = broker.port          # noqa: SLF001

    def _message(self, _client: mqtt.Client, _userdata: Any,
                 message: mqtt.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload), utc_now())


class ConsoleService:
    """``ConsoleService(config).start()`` (everything on threads of its own: tests, the demo)
    or ``serve_forever()`` (uvicorn in this thread, SIGTERM/SIGINT stop it); ``stop()``."""

    def __init__(self, config: ConsoleConfig, *, store: Store | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        from vending_fleet.keys import load_key    # KeyFileError before anything starts

        self.config = config
        self.clock = clock
        self.key = load_key(config.signing_key)
        self._own_store = store is None
        self.store: Store | None = store
        self.hub = Hub()
        self.link: BrokerLink | None = None
        self.ingest_queue: Any = None
        self.alerter: Any = None
        self.webhook: Any = None
        self.server: Any = None
        self._sock: socket.socket | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port served on (the one chosen for ``listen = "...:0"`` once started)."""
        return self._port or self.config.port

    @property
    def url(self) -> str:
        host = self.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.port}"

    def _build(self) -> Any:
        """Open the store, connect the broker, start the alerts; the web app (ASGI)."""
        import uvicorn

        from vending_fleet.alerts import Alerter, AlertRules
        from vending_fleet.commands import CommandSender
        from vending_fleet.ingest import Ingester, subscriptions
        from vending_fleet.ingest_queue import IngestQueue
        from vending_fleet.store import open_store
        from vending_fleet.web import create_app

        config = self.config
        settings = config.broker
        if self.store is None:
            self.store = open_store(config.database)
        store = self.store
        self.ingester = Ingester(store, self.hub, settings.topic_prefix)
        self.ingest_queue = IngestQueue(self.ingester)
        topics = subscriptions(settings.topic_prefix, settings.share_group or None)
        self.link = BrokerLink(settings, topics, self.ingest_queue.put)
        self.commands = CommandSender(store, self.hub, self.link.publish, self.key,
                                      prefix=settings.topic_prefix)
        alerts = config.alerts
        if alerts.webhook:
            from vending_fleet.webhook import Webhook

            self.webhook = Webhook(alerts.webhook)
        rules = AlertRules(offline_after=alerts.offline_after,
                           no_sales_after=alerts.no_sales_after, low_stock=alerts.low_stock,
                           vend_failures=alerts.vend_failures,
                           vend_failure_window=alerts.vend_failure_window,
                           claims_open_after=alerts.claims_open_after)
        self.alerter = Alerter(store, self.hub, rules, clock=self.clock, webhook=self.webhook)
        app = create_app(store, self.hub, self.commands, clock=self.clock,
                         secure_cookies=config.secure_cookies)
        self._sock = _listening_socket(config.host, config.port)
        self._port = int(self._sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=3))
        self.ingest_queue.start()
        self.link.start()
        self.alerter.start(alerts.evaluate_every_s)
        return app

    def start(self, timeout_s: float = 15.0) -> ConsoleService:
        """Everything on threads of its own; returns once the web server answers."""
        self._build()
        assert self.server is not None and self._sock is not None
        sock = self._sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="web",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the console's web server did not start on {self.url}")
            time.sleep(0.02)
        log.info("console serving on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT, then stop everything."""
        self._build()
        assert self._sock is not None
        log.info("console serving on %s", self.url)
        try:
            self._serve(self._sock)
        finally:
            self.stop()

    def _serve(self, sock: socket.socket) -> None:
        try:
            self.server.run(sockets=[sock])
        except Exception:
            log.exception("the web server stopped")

    def stop(self) -> None:
        """Idempotent: web server, alerts, broker, what is queued for the store, webhook,
        store; in that order."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        self.hub.close()             # the browsers' live streams end: nothing to wait out
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        stops: list[tuple[str, Callable[[], None] | None]] = [
            ("alerts", self.alerter.stop if self.alerter is not None else None),
            ("broker", self.link.stop if self.link is not None else None),
            ("ingest", self.ingest_queue.stop if self.ingest_queue is not None else None),
            ("webhook", self.webhook.close if self.webhook is not None else None)]
        for name, stop in stops:
            if stop is None:
                continue
            try:
                stop()
            except Exception:   # noqa: BLE001 - stopping the rest matters more
                log.exception("stopping the %s failed", name)
        if self._sock is not None:
            self._sock.close()
        if self._own_store and self.store is not None:
            self.store.close()
        log.info("console stopped")


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
