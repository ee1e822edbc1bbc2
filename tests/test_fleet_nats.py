"""The fleet link on a three-node NATS cluster (JetStream, MQTT listener on each node): the node
the kiosk is connected to is stopped mid-run, the kiosk goes on with another, and the console
receives every event of every sale, in journal order."""

from __future__ import annotations

from pathlib import Path

from brokers import Collector, NatsCluster, nats_cluster_fixture
from fleet_kiosk import load_fleet_kiosk, payload

from kiosk.sim import Sandbox

__all__ = ["nats_cluster_fixture"]

SALE_STEPS = ["payment_requested", "payment_created", "paid_verified", "vend_started",
              "vend_dispensing", "vend_result"]


def test_stopping_the_node_the_kiosk_uses_loses_no_event(nats_cluster: NatsCluster,
                                                         tmp_path: Path,
                                                         sandbox: Sandbox) -> None:
    urls = nats_cluster.mqtt_urls
    # The console on the last node, with a session the cluster keeps while it reconnects.
    console = Collector(urls[2], "vk/v1/#", client_id="console-nats", clean_session=False)
    kiosk = load_fleet_kiosk(tmp_path, sandbox, "m-001", {"broker": urls})
    sold: list[str] = []
    try:
        kiosk.wait_published(console, lambda m: m.topic.endswith("/status")
                             and payload(m)["online"] and payload(m)["in_service"],
                             timeout_s=30)
        used = kiosk.link.broker_url
        assert used in urls[:2]
        for number in range(8):
            if number == 3:
                nats_cluster.stop_node(urls.index(used), wait=False)
            sold.append(kiosk.sell("A1" if number % 2 else "A2"))
        kiosk.wait_published(console, lambda m: payload(m).get("tx") == sold[-1]
                             and payload(m)["kind"] == "vend_result", timeout_s=60)
        assert kiosk.link.broker_url not in ("", used)
    finally:
        kiosk.close()
        console.close()
    received = [payload(m) for m in console.on(f"{kiosk.topic}/event")]
    seqs = [int(str(e["id"]).rsplit("-", 1)[1]) for e in received]
    unique = list(dict.fromkeys(seqs))
    assert unique == sorted(unique), "events arrived out of journal order"
    for tx_id in sold:
        kinds = [e["kind"] for e in received if e.get("tx") == tx_id]
        assert [k for k in dict.fromkeys(kinds) if k in SALE_STEPS] == SALE_STEPS, tx_id
