"""The fleet link: one supervised thread that keeps a connection to the broker, publishes the
journal's outbox in order, keeps ``status`` and ``state`` current, and hands commands over.

Nothing here can slow a sale: the journal only adds outbox rows inside transactions it makes
anyway and pokes a socket; the broker's absence costs a reconnect attempt now and then, with a
back-off. Publishing is at least once: a row leaves the outbox only after the broker's PUBACK,
so a row sent just before a connection or the kiosk died is sent again (same ``id``).
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kiosk.errors import FleetError
from kiosk.config.fleet import FleetConfig
from kiosk.fleet.homeassistant import discovery
from kiosk.fleet.session import BrokerSession, Login, Will
from kiosk.fleet.topics import Topics
from kiosk.journal import Journal
from kiosk.journal.outbox_rows import EVENT, STATE
from kiosk.worker import SupervisedLoop

log = logging.getLogger(__name__)

WINDOW = 20                     # rows published and not yet acknowledged, at most
IDLE_WAIT_S = 5.0               # a turn at least this often: health changes, a fresh alive()
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 60.0
# status again this often though nothing changed: the console tells a quiet machine from a
# silent one (a dead broker connection whose last will never came) by it
HEARTBEAT_S = 300.0


class Observer(Protocol):
    """What the link reads of the running kiosk, from its own thread."""

    def service(self) -> tuple[bool, str]:
        """(in service, the reason when not)."""

    def state(self) -> dict[str, Any]:
        """The ``state`` snapshot's body: slots, prices, stock, claims (``kiosk.fleet.state``)."""


class CommandInbox(Protocol):
    def receive(self, payload: bytes) -> None:
        """A message on the machine's ``cmd`` topic (check it, apply it, journal the reply)."""


@dataclass(frozen=True)
class Identity:
    machine_id: str
    version: str


class FleetLink(SupervisedLoop):
    def __init__(self, config: FleetConfig, identity: Identity, journal: Journal,
                 observer: Observer, commands: CommandInbox | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("fleet link", clock)
        self._config = config
        self._identity = identity
        self._topics = Topics(config.topic_prefix, identity.machine_id)
        self._journal = journal
        self._observer = observer
        self._commands = commands
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._session: BrokerSession | None = None
        self._broker_index = 0
        self._retry_at = clock()
        # (not _backoff_s: SupervisedLoop's own, reset after every turn that returns)
        self._reconnect_backoff_s = RECONNECT_MIN_S
        self._inflight: dict[int, int] = {}      # paho message id -> outbox seq
        self._acked: list[int] = []
        self._queued_seq = 0                     # the last outbox row handed to this session
        self._service: tuple[bool, str] | None = None
        self._announced = False                  # this session published our status
        self._status_at = 0.0                    # monotonic: when it last did
        self._state: dict[str, Any] | None = None
        self._discovered: list[tuple[str, dict[str, Any]]] | None = None   # Home Assistant's
        self._look_at_state = True
        self.problem = "not connected yet"       # why the fleet cannot hear us, or ""
        journal.enable_outbox(config.outbox_limit, self.outbox_added)

    # -- any thread

    @property
    def broker_url(self) -> str:
        """The broker the link is connected to now, or ""."""
        session = self._session
        return session.broker.url if session is not None and session.connected else ""

    def outbox_added(self, facts: bool) -> None:
        """The journal committed outbox rows: publish them now; ``facts``: a journal change
        the state snapshot may show, so look at it again (not after the link's own
        telemetry rows, which would only read the journal to find the same snapshot)."""
        if facts:
            self._look_at_state = True
        self.wake()

    def wake(self) -> None:
        """Out of the wait now (something to publish, or to stop)."""
        try:
            self._wake_w.send(b"!")     # the thread waits on this socket, not the condition
        except BlockingIOError:
            pass          # already full of wake-ups: one is as good as many
        except OSError:
            pass          # the link has stopped: a journal commit after that must not fail

    def stop(self, timeout_s: float = 15.0) -> None:
        self.wake()                       # out of its wait, to see that it must stop
        super().stop(timeout_s)
        session, self._session = self._session, None
        if session is not None:
            session.close((self._topics.status, self._status(online=False, why="stopped")))
        self._wake_r.close()
        self._wake_w.close()

    # -- the link's thread

    def turn(self) -> float:
        self._observe()
        session = self._session
        if session is None or session.closed:
            self._session = session = self._reconnect(session)
            if session is None:
                return 0.0
        self._drain(session)
        session.pump(self._wake_r, IDLE_WAIT_S)
        if session.connected and not self._announced:
            self._connected(session)
        elif session.connected and self._monotonic() - self._status_at >= HEARTBEAT_S:
            self._publish_status(session)
        if self._acked:
            acked, self._acked = self._acked, []
            self._journal.outbox_sent(acked)
        return 0.0

    def _reconnect(self, ended: BrokerSession | None) -> BrokerSession | None:
        """A new session once the back-off allows; None (after waiting) until then."""
        if ended is not None:
            self._lost(ended)
        wait_s = self._retry_at - self._monotonic()
        if wait_s > 0:
            self._sleep(min(wait_s, IDLE_WAIT_S))
            return None
        brokers = self._config.brokers
        broker = brokers[self._broker_index % len(brokers)]
        config = self._config
        try:
            session = BrokerSession(
                broker, Login(self._identity.machine_id, config.username, config.password,
                              config.ca_file, config.keepalive_s),
                Will(self._topics.status, self._status(online=False, why="connection lost")),
                on_acked=self._on_acked, on_message=self._on_message)
        except FleetError as exc:
            self._failed(str(exc))
            return None
        session.subscribe(self._topics.cmd)
        self._inflight, self._acked, self._queued_seq = {}, [], 0
        self._announced = False
        return session

    def _connected(self, session: BrokerSession) -> None:
        log.info("fleet link connected to %s", session.broker.url)
        self.problem = ""
        self._reconnect_backoff_s = RECONNECT_MIN_S
        self._announced = True
        self._publish_status(session)
        self._discovered = None
        self._publish_discovery(session)

    def _lost(self, session: BrokerSession) -> None:
        why = session.refusal or f"{session.broker.url}: connection lost"
        if session.connected or self._announced or session.refusal:
            log.warning("fleet link: %s", why)
        self._announced = False
        self._failed(why)

    def _failed(self, why: str) -> None:
        if why != self.problem:
            log.warning("fleet link: %s; trying again in %.1f s", why,
                        self._reconnect_backoff_s)
        self.problem = why
        self._broker_index += 1            # the next node of a cluster, if there is one
        self._retry_at = self._monotonic() + self._reconnect_backoff_s
        self._reconnect_backoff_s = min(RECONNECT_MAX_S, self._reconnect_backoff_s * 2)

    def _sleep(self, seconds: float) -> None:
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            self._wake_r.recv(4096)

    def _drain(self, session: BrokerSession) -> None:
        """Hand the next outbox rows to the broker, in order, up to the window."""
        room = WINDOW - len(self._inflight)
        if not session.connected or room <= 0:
            return
        for row in self._journal.outbox_batch(room, after=self._queued_seq):
            payload = {"id": row.id, "machine": self._identity.machine_id, **row.payload}
            mid = session.publish(self._topics.of(row.topic), payload,
                                  retain=row.topic == STATE)
            if mid is None:
                return
            self._inflight[mid] = row.seq
            self._queued_seq = row.seq

    def _on_acked(self, mid: int) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is not None:
            self._acked.append(seq)

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == self._topics.cmd and self._commands is not None:
            try:
                self._commands.receive(payload)
            except Exception:  # noqa: BLE001 - paho would swallow it silently
                # (the broker has the PUBACK all the same: the fleet gets no reply, and its
                # resend of the same command is applied once)
                log.exception("fleet link: a command could not be handled")

    def _observe(self) -> None:
        """Going out of or back into service is an event, and changes ``status``; a journal
        change may change ``state``: both reach the outbox only when they changed."""
        service = self._observer.service()
        if service != self._service:
            in_service, reason = service
            self._journal.report(EVENT, {"group": "service",
                                         "kind": "in_service" if in_service else
                                         "out_of_service", "reason": reason}, fact=False)
            self._service = service     # only once reported: a failed write is tried again
            if self._session is not None and self._session.connected:
                self._publish_status(self._session)
            self._look_at_state = True       # the snapshot's health part changed
        if self._look_at_state:
            self._look_at_state = False
            try:
                state = self._observer.state()
                if state == self._state:
                    return
                self._journal.report(STATE, {"kind": "state", **state}, fact=False)
            except BaseException:
                self._look_at_state = True      # not reported: look again on the next turn
                raise
            self._state = state
            if self._session is not None and self._session.connected:
                self._publish_discovery(self._session)

    def _publish_discovery(self, session: BrokerSession) -> None:
        """Home Assistant's discovery messages (retained), when asked for: after each
        connection, and again when the slots, their names or the currency change."""
        if not self._config.home_assistant:
            return
        state = self._state if self._state is not None else self._observer.state()
        messages = discovery(self._topics, self._identity.machine_id, self._identity.version,
                             state)
        if messages == self._discovered:
            return
        for topic, config in messages:
            if session.publish(topic, config, retain=True) is None:
                return            # the connection went: again after the next CONNACK
        self._discovered = messages

    def _publish_status(self, session: BrokerSession) -> None:
        session.publish(self._topics.status, self._status(online=True), retain=True)
        self._status_at = self._monotonic()

    def _status(self, *, online: bool, why: str = "") -> Mapping[str, Any]:
        in_service, reason = self._service or (False, "starting up")
        status: dict[str, Any] = {"online": online, "machine": self._identity.machine_id,
                                  "version": self._identity.version}
        if online:
            status |= {"in_service": in_service, "reason": reason}
        else:
            status |= {"in_service": False, "reason": why}
        return status
