"""The real kiosk (``kiosk run --headless --autopilot``) with its fleet link, killed outright
mid-run like a power cut: the broker says it is offline at once (its last will), and once it is
started again every event of every sale reaches the console, in journal order, duplicates only
of what was in flight (recognisable by id)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from brokers import Collector, Mosquitto, console_collector, mosquitto_fixture
from fleet_kiosk import FLEET_KEY, payload
from test_faults import KioskRun, fault_config

from kiosk.fleet.signing import public_key_text
from kiosk.journal import Journal
from kiosk.sim import Sandbox

__all__ = ["mosquitto_fixture"]

WILL_WITHIN_S = 30.0        # the bound for the last will


def fleet_run(tmp_path: Path, name: str, config: Path, customers: int) -> KioskRun:
    workdir = tmp_path / name
    workdir.mkdir()
    return KioskRun(workdir, config, threading.Event(), autopilot=customers)


def test_a_killed_kiosk_goes_offline_and_loses_no_event(mosquitto: Mosquitto, tmp_path: Path,
                                                        sandbox: Sandbox) -> None:
    console = console_collector(mosquitto, client_id="console-crash", clean_session=False)
    config = fault_config(tmp_path, sandbox, machine={"id": "m-001"},
                          fleet={"broker": mosquitto.url, "ca_file": str(mosquitto.ca_file),
                                 "keepalive_s": 5,
                                 "command_public_key": public_key_text(FLEET_KEY)})
    user, password = mosquitto.machine("m-001")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[fleet]\nusername = "{user}"\npassword = "{password}"\n')
    secrets.chmod(0o600)
    topic = "vk/v1/m-001"
    first = fleet_run(tmp_path, "first", config, customers=20)
    try:
        first.start()
        started = time.monotonic()
        # three sales vended, then the plug is pulled in the middle of the next ones
        first.wait_for(lambda screens: sum(s["screen"] == "thank_you" for s in screens) >= 3
                       or None, 120, "three sales", pay_after=started)
        console.wait_for(lambda m: m.topic == f"{topic}/status" and payload(m)["online"],
                         timeout=30)
        first.kill()
        killed = time.monotonic()
        console.wait_for(lambda m: m.topic == f"{topic}/status"
                         and payload(m)["online"] is False, timeout=WILL_WITHIN_S)
        assert time.monotonic() - killed < WILL_WITHIN_S
        second = fleet_run(tmp_path, "second", config, customers=1)
        second.start()
        assert second.exit(120, pay_after=time.monotonic()) == 0
    finally:
        first.kill()
    with Journal.open_in(tmp_path / "data") as journal:
        facts = [(tx["id"], event["kind"]) for tx in journal.transactions()
                 for event in tx["events"]]
        left = journal.outbox_size()
    received = _wait_for_every_fact(console, topic, facts)
    console.close()
    seqs = [int(str(e["id"]).rsplit("-", 1)[1]) for e in received]
    assert list(dict.fromkeys(seqs)) == sorted(set(seqs)), "out of journal order"
    by_id: dict[str, dict[str, Any]] = {}
    for event in received:   # a duplicate is the same event again, never a different one
        assert by_id.setdefault(str(event["id"]), event) == event
    assert left <= 1          # at most the last state snapshot waits


def _wait_for_every_fact(console: Collector, topic: str,
                         facts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every journal event of every sale, as the console received it (waiting a while for the
    last ones)."""
    deadline = time.monotonic() + 30
    while True:
        received = [payload(m) for m in console.on(f"{topic}/event")]
        got = {(str(e.get("tx")), str(e["kind"])) for e in received if e.get("group") == "sale"}
        missing = [fact for fact in facts if fact not in got]
        if not missing:
            return received
        assert time.monotonic() < deadline, f"never published: {missing[:10]}"
        time.sleep(0.2)
