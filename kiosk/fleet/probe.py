"""The self-test's question to the fleet's broker: can this machine log in (TLS verified, its
credentials accepted)? Under its own client id, so a running kiosk keeps its connection."""

from __future__ import annotations

import time

from kiosk.config.fleet import FleetConfig
from kiosk.errors import FleetError
from kiosk.fleet.session import BrokerSession, Login

PROBE_TIMEOUT_S = 10.0


def probe_broker(config: FleetConfig, machine_id: str) -> tuple[bool, str]:
    """(passed, what a technician reads), trying each broker of the cluster until one lets
    the machine in."""
    problems = []
    for broker in config.brokers:
        login = Login(f"{machine_id}-selftest", config.username, config.password,
                      config.ca_file, config.keepalive_s)
        try:
            session = BrokerSession(broker, login, None, on_acked=lambda mid: None,
                                    on_message=lambda topic, payload: None)
        except FleetError as exc:
            problems.append(str(exc))
            continue
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while not (session.connected or session.closed) and time.monotonic() < deadline:
            session.pump(None, 0.2)
        connected = session.connected
        session.close()
        if connected:
            secured = "TLS verified" if broker.tls else "plain MQTT (no TLS)"
            return True, f"{broker.url}: logged in ({secured})"
        problems.append(session.refusal or f"{broker.url}: no answer to the login")
    return False, "; ".join(problems)
