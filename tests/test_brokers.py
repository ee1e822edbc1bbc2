"""The broker fixtures of ``brokers.py`` do what the fleet tests rely on, checked with plain paho
clients: mosquitto's TLS, passwords, per-machine ACL, persistence and wills; the NATS cluster's
MQTT across nodes, retained messages, wills and a node going away."""

from __future__ import annotations

import ssl
import time

import paho.mqtt.client as mqtt
import pytest
from brokers import (  # noqa: F401  (the fixtures are found by pytest through this import)
    OBSERVER,
    Collector,
    Mosquitto,
    NatsCluster,
    connect,
    console_collector,
    disconnect,
    drop,
    module_mosquitto_fixture,
    module_nats_cluster_fixture,
    mosquitto_fixture,
    publish,
)


def machine_client(broker: Mosquitto, machine_id: str, *, keepalive: int = 30,
                   will: tuple[str, bytes, int, bool] | None = None,
                   loop: bool = True) -> mqtt.Client:
    """``machine_id`` connected to ``broker`` over TLS with its password."""
    username, password = broker.machine(machine_id)
    return connect(broker.url, client_id=machine_id, username=username, password=password,
                   ca_file=broker.ca_file, keepalive=keepalive, will=will, loop=loop)


# -- mosquitto: TLS and passwords ------------------------------------------------------------

def test_tls_verifies_against_the_test_ca(module_mosquitto: Mosquitto) -> None:
    broker = module_mosquitto
    assert broker.url.startswith("mqtts://127.0.0.1:")
    assert broker.ca_file.is_file()
    username, password = broker.console
    client = connect(broker.url, username=username, password=password, ca_file=broker.ca_file)
    disconnect(client)
    # the certificate names localhost as well as 127.0.0.1
    client = connect(f"mqtts://localhost:{broker.port}", username=username, password=password,
                     ca_file=broker.ca_file)
    disconnect(client)
    # the system CAs don't know the test CA: the handshake fails before any MQTT
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(broker.url, username=username, password=password, ca_file=None)


def test_passwords_are_required(module_mosquitto: Mosquitto) -> None:
    broker = module_mosquitto
    with pytest.raises(ConnectionError, match="[Nn]ot authori[sz]ed"):
        connect(broker.url, username="console", password="wrong", ca_file=broker.ca_file)
    with pytest.raises(ConnectionError, match="[Nn]ot authori[sz]ed"):
        connect(broker.plain_url)  # anonymous, plain listener
    username, password = broker.machine("m-001")
    disconnect(connect(broker.plain_url, username=username, password=password))


# -- mosquitto: the ACL ----------------------------------------------------------------------

def test_a_machine_publishes_only_under_its_own_topics(module_mosquitto: Mosquitto) -> None:
    broker = module_mosquitto
    with console_collector(broker) as console, \
            console_collector(broker, "#", user=OBSERVER) as everything:
        machine = machine_client(broker, "m-001")
        try:
            for topic in ("status", "state", "event", "reply"):
                publish(machine, f"vk/v1/m-001/{topic}", topic.encode())
            publish(machine, "homeassistant/sensor/m-001/config", b"{}")
            # refused by the ACL, yet acknowledged (MQTT 3.1.1 can't say no): dropped
            publish(machine, "vk/v1/m-002/status", b"forged")
            publish(machine, "vk/v1/m-001/cmd", b"self-command")
            publish(machine, "other/topic", b"stray")
            publish(machine, "vk/v1/m-001/status", b"last")
        finally:
            disconnect(machine)
        console.wait_for(lambda message: message.payload == b"last")
        everything.wait_for(lambda message: message.payload == b"last")
        assert [(m.topic, m.payload) for m in console.messages] == [
            ("vk/v1/m-001/status", b"status"), ("vk/v1/m-001/state", b"state"),
            ("vk/v1/m-001/event", b"event"), ("vk/v1/m-001/reply", b"reply"),
            ("vk/v1/m-001/status", b"last")]
        routed = {message.topic for message in everything.messages}
        assert "homeassistant/sensor/m-001/config" in routed
        assert routed.isdisjoint({"vk/v1/m-002/status", "vk/v1/m-001/cmd", "other/topic"})


def test_a_machine_reads_only_its_own_commands(module_mosquitto: Mosquitto) -> None:
    broker = module_mosquitto
    with console_collector(broker, "vk/v1/m-001/cmd", user="m-001") as own, \
            console_collector(broker, "vk/v1/m-002/cmd", user="m-001") as other, \
            console_collector(broker, "vk/v1/#", user="m-001") as wide:
        # mosquitto 2.0.11 grants the refused subscriptions; it delivers nothing on them
        assert own.granted == other.granted == wide.granted == [1]
        console = connect(broker.url, username=broker.console[0], password=broker.console[1],
                          ca_file=broker.ca_file)
        try:
            publish(console, "vk/v1/m-002/cmd", b"for m-002")
            publish(console, "vk/v1/m-001/cmd", b"for m-001")
            # the console may write commands but not a machine's status
            publish(console, "vk/v1/m-001/status", b"forged by console")
        finally:
            disconnect(console)
        own.wait_for(lambda message: message.payload == b"for m-001")
        time.sleep(0.3)
        assert [m.payload for m in own.messages] == [b"for m-001"]
        assert other.messages == []
        assert [m.payload for m in wide.messages] == [b"for m-001"]


def test_a_will_outside_the_machine_s_topics_is_dropped(module_mosquitto: Mosquitto) -> None:
    broker = module_mosquitto
    with console_collector(broker, "#", user=OBSERVER) as everything:
        # mosquitto 2.0.11 accepts the CONNECT; the will is checked when it would be published
        machine = machine_client(broker, "m-001",
                                 will=("vk/v1/m-002/status", b"forged will", 1, True))
        drop(machine)
        sentinel = machine_client(broker, "m-001")
        try:
            time.sleep(0.5)
            publish(sentinel, "vk/v1/m-001/event", b"sentinel")
        finally:
            disconnect(sentinel)
        everything.wait_for(lambda message: message.payload == b"sentinel")
        assert [m for m in everything.messages if m.topic == "vk/v1/m-002/status"] == []


# -- mosquitto: persistence and wills --------------------------------------------------------

def test_retained_status_survives_a_restart(mosquitto: Mosquitto) -> None:
    machine = machine_client(mosquitto, "m-001")
    publish(machine, "vk/v1/m-001/status", b"online", retain=True)
    disconnect(machine)
    port, plain_port = mosquitto.port, mosquitto.plain_port
    with console_collector(mosquitto) as console:
        console.wait_topic("vk/v1/m-001/status")
        mosquitto.stop()
        assert not mosquitto.running
        mosquitto.start()
        assert (mosquitto.port, mosquitto.plain_port) == (port, plain_port)
        # the collector reconnected on its own and subscribed again: the retained copy again
        message = console.wait_for(lambda m: m.topic == "vk/v1/m-001/status" and m.retain, 8)
        assert message.payload == b"online"
    with console_collector(mosquitto) as fresh:
        message = fresh.wait_topic("vk/v1/m-001/status")
        assert (message.payload, message.retain) == (b"online", True)


def test_a_will_is_published_when_the_connection_drops(mosquitto: Mosquitto) -> None:
    with console_collector(mosquitto) as console:
        machine = machine_client(mosquitto, "m-001", keepalive=1,
                                 will=("vk/v1/m-001/status", b"offline", 1, True))
        publish(machine, "vk/v1/m-001/status", b"online", retain=True)
        console.wait_for(lambda message: message.payload == b"online")
        drop(machine)
        will = console.wait_for(lambda message: message.payload == b"offline", 5)
        assert will.topic == "vk/v1/m-001/status"
    with console_collector(mosquitto) as fresh:
        message = fresh.wait_topic("vk/v1/m-001/status")
        assert (message.payload, message.retain) == (b"offline", True)


def test_a_will_is_published_when_keepalive_lapses(module_mosquitto: Mosquitto) -> None:
    broker = module_mosquitto
    with console_collector(broker, "vk/v1/m-002/status") as console:
        # connected, then silent: no loop, so no PINGREQ. mosquitto 2.0.11 notices the lapsed
        # keepalive only on its periodic check: 5-6 s after, even with a keepalive of 1 s
        machine = machine_client(broker, "m-002", keepalive=1, loop=False,
                                 will=("vk/v1/m-002/status", b"offline", 1, True))
        started = time.monotonic()
        try:
            console.wait_for(lambda message: message.payload == b"offline", 10)
        finally:
            drop(machine)
        assert time.monotonic() - started >= 1.0


# -- NATS cluster ----------------------------------------------------------------------------

def test_nats_qos1_crosses_nodes(module_nats_cluster: NatsCluster) -> None:
    urls = module_nats_cluster.mqtt_urls
    assert len(urls) == 3 and len(set(urls)) == 3
    with Collector(urls[1], "vk/v1/#") as console:
        assert console.granted == [1]
        machine = connect(urls[0], client_id="n-m-001")
        try:
            publish(machine, "vk/v1/m-001/event", b"vend-1", qos=1)
        finally:
            disconnect(machine)
        message = console.wait_topic("vk/v1/m-001/event")
        assert (message.payload, message.qos, message.retain) == (b"vend-1", 1, False)


def test_nats_downgrades_qos2_subscriptions_and_refuses_qos2_publishes(
        module_nats_cluster: NatsCluster) -> None:
    urls = module_nats_cluster.mqtt_urls
    with Collector(urls[2], "vk/v1/q2/#", qos=2) as subscriber:
        assert subscriber.granted == [1]
        client = connect(urls[2], client_id="n-qos2")
        try:
            client.publish("vk/v1/q2/x", b"exactly once", qos=2)
            deadline = time.monotonic() + 5
            while client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not client.is_connected()  # the server closed the connection
        finally:
            disconnect(client)
        assert subscriber.messages == []


def test_nats_retained_messages_are_shared_by_the_nodes(
        module_nats_cluster: NatsCluster) -> None:
    urls = module_nats_cluster.mqtt_urls
    machine = connect(urls[0], client_id="n-m-002")
    try:
        publish(machine, "vk/v1/m-002/status", b"online", retain=True)
    finally:
        disconnect(machine)
    for url in urls[1:]:
        with Collector(url, "vk/v1/m-002/status") as fresh:
            message = fresh.wait_topic("vk/v1/m-002/status")
            assert (message.payload, message.retain) == (b"online", True)


def test_nats_publishes_a_will_when_the_connection_drops(
        module_nats_cluster: NatsCluster) -> None:
    urls = module_nats_cluster.mqtt_urls
    with Collector(urls[1], "vk/v1/m-003/status") as console:
        machine = connect(urls[0], client_id="n-m-003", keepalive=2,
                          will=("vk/v1/m-003/status", b"offline", 1, True))
        publish(machine, "vk/v1/m-003/status", b"online", retain=True)
        console.wait_for(lambda message: message.payload == b"online")
        drop(machine)
        console.wait_for(lambda message: message.payload == b"offline", 8)
    with Collector(urls[2], "vk/v1/m-003/status") as fresh:
        message = fresh.wait_topic("vk/v1/m-003/status")
        assert (message.payload, message.retain) == (b"offline", True)


def test_nats_keeps_working_when_a_node_stops(module_nats_cluster: NatsCluster) -> None:
    cluster = module_nats_cluster
    urls = cluster.mqtt_urls
    with Collector(urls[2], "vk/v1/m-004/#") as console:
        machine = connect(urls[0], client_id="n-m-004")
        publish(machine, "vk/v1/m-004/event", b"before")
        console.wait_for(lambda message: message.payload == b"before")
        try:
            cluster.stop_node(0)
            drop(machine)  # its paho loop would only retry node 0
            # what a kiosk does: the next URL, same client id
            deadline = time.monotonic() + 10
            while True:
                try:
                    machine = connect(urls[1], client_id="n-m-004")
                    break
                except (ConnectionError, OSError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            publish(machine, "vk/v1/m-004/event", b"after", timeout=10)
            console.wait_for(lambda message: message.payload == b"after", 10)
            disconnect(machine)
        finally:
            cluster.start_node(0)
    # node 0 is back in the cluster and serves MQTT again
    with Collector(urls[2], "vk/v1/m-004/#") as console:
        again = connect(urls[0], client_id="n-m-004b")
        try:
            publish(again, "vk/v1/m-004/event", b"back")
        finally:
            disconnect(again)
        console.wait_for(lambda message: message.payload == b"back", 10)
