"""Home Assistant MQTT discovery (kiosk.fleet.homeassistant): the config messages' topics, ids and
state topics; their value_templates rendered against the status and state a running kiosk's
fleet link really publishes (with Jinja2 when installed, else a small emulation of exactly the
template shapes the module writes); and the messages published retained as the machine to a
real Mosquitto, reaching a later subscriber to ``homeassistant/#``."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from brokers import OBSERVER, Mosquitto, connect, console_collector, disconnect, \
    mosquitto_fixture, publish
from fleet_kiosk import PREFIX, load_fleet_kiosk, payload

from kiosk import __version__
from kiosk.fleet.homeassistant import discovery, node_id
from kiosk.fleet.topics import Topics
from kiosk.sim import Sandbox

__all__ = ["mosquitto_fixture"]    # the fixture, found by pytest through this import

TOPICS = Topics(PREFIX, "m-001")
# The shapes the fleet link publishes (FleetLink._status, KioskObserver.state via the outbox).
STATUS: dict[str, Any] = {"online": True, "machine": "m-001", "version": "1.2.3",
                          "in_service": True, "reason": ""}
STATE: dict[str, Any] = {
    "id": "m-001-7", "machine": "m-001", "kind": "state", "currency": "USD",
    "slots": [{"slot": "A1", "name": "Water", "price": "2.50", "stock": 50, "enabled": True,
               "disabled_reason": ""},
              {"slot": "A2", "name": "Cola", "price": "2.00", "stock": 49, "enabled": True,
               "disabled_reason": ""}],
    "config_version": "abcdef012345", "open_claims": 0,
    "sales_today": {"count": 1, "amount": "2.00"},
    "health": {"in_service": True, "reason": ""}}

Render = Callable[[str, Mapping[str, Any]], str]


def by_object(messages: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {topic.split("/")[-2]: config for topic, config in messages}


# -- the messages -----------------------------------------------------------------------------

def test_messages_for_two_slots() -> None:
    messages = discovery(TOPICS, "m-001", "1.2.3", STATE)
    topics = [topic for topic, _ in messages]
    assert topics == [
        "homeassistant/binary_sensor/m-001/online/config",
        "homeassistant/binary_sensor/m-001/service/config",
        "homeassistant/sensor/m-001/reason/config",
        "homeassistant/sensor/m-001/sales_today/config",
        "homeassistant/sensor/m-001/open_claims/config",
        "homeassistant/sensor/m-001/income_today/config",
        "homeassistant/sensor/m-001/stock_A1/config",
        "homeassistant/sensor/m-001/stock_A2/config"]
    configs = [config for _, config in messages]
    unique_ids = [config["unique_id"] for config in configs]
    assert len(set(unique_ids)) == len(unique_ids)
    for config in configs:
        assert config["state_topic"] in (TOPICS.status, TOPICS.of("state"))
        assert config["state_topic"].startswith(f"{PREFIX}/m-001/")
        assert config["device"] == {"identifiers": ["m-001"], "name": "m-001",
                                    "model": "vending-kiosk", "sw_version": "1.2.3"}
        assert json.loads(json.dumps(config)) == config
    entities = by_object(messages)
    assert entities["online"]["device_class"] == "connectivity"
    assert "availability" not in entities["online"]      # offline shows as off, not unavailable
    for name in ("service", "reason", "sales_today", "income_today", "stock_A2"):
        assert entities[name]["availability"] == [{
            "topic": TOPICS.status, "value_template": entities[name]["availability"][0][
                "value_template"], "payload_available": "online",
            "payload_not_available": "offline"}]
    assert entities["service"]["device_class"] == "problem"
    assert entities["income_today"]["unit_of_measurement"] == "USD"
    assert entities["income_today"]["device_class"] == "monetary"
    assert entities["stock_A2"]["name"] == "Stock A2 (Cola)"


def test_node_ids_are_safe_and_distinct() -> None:
    assert node_id("m-001") == "m-001"
    dotted, underscored = node_id("m.1"), node_id("m_1")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", dotted) and dotted != underscored
    topic, config = discovery(Topics(PREFIX, "m.1"), "m.1", "1", STATE)[0]
    assert topic == f"homeassistant/binary_sensor/{dotted}/online/config"
    assert config["state_topic"] == f"{PREFIX}/m.1/status"    # the machine's real topics
    assert config["device"]["identifiers"] == ["m.1"]


def test_no_slots_no_stock_sensors() -> None:
    topics = [topic for topic, _ in discovery(TOPICS, "m-001", "1", {"currency": "EUR"})]
    assert not any("/stock_" in topic for topic in topics)


# -- the templates ----------------------------------------------------------------------------

def jinja_render(template: str, value_json: Mapping[str, Any]) -> str:
    jinja2 = pytest.importorskip("jinja2")
    text: str = jinja2.Environment().from_string(template).render(value_json=value_json)
    return text


_WRAPPED = re.compile(r"\{\{ (.*) \}\}")
_PATH = re.compile(r"value_json((?:\.\w+)+)")
_CHOICE = re.compile(r"'([\w ]+)' if value_json\.(\w+) else '([\w ]+)'")
_OR_CUT = re.compile(r"'([\w ]+)' if value_json\.(\w+) else "
                     r"\(value_json\.(\w+) or '([\w ]+)'\)\[:(\d+)\]")
_PICK = re.compile(r"value_json\.(\w+) \| selectattr\('(\w+)', 'equalto', (\"[^\"]*\")\)"
                   r" \| map\(attribute='(\w+)'\) \| first \| default\('None'\)")


def emulated_render(template: str, value_json: Mapping[str, Any]) -> str:
    """Jinja for exactly the shapes kiosk.fleet.homeassistant writes; any other shape fails
    (then teach this, or install jinja2)."""
    wrapped = _WRAPPED.fullmatch(template)
    assert wrapped, template
    expr = wrapped.group(1)
    if m := _PATH.fullmatch(expr):
        value: Any = value_json
        for key in m.group(1).split(".")[1:]:
            value = value[key]
        return str(value)
    if m := _CHOICE.fullmatch(expr):
        return m.group(1) if value_json[m.group(2)] else m.group(3)
    if m := _OR_CUT.fullmatch(expr):
        if value_json[m.group(2)]:
            return m.group(1)
        return str(value_json[m.group(3)] or m.group(4))[:int(m.group(5))]
    if m := _PICK.fullmatch(expr):
        wanted = json.loads(m.group(3))
        found = [item[m.group(4)] for item in value_json[m.group(1)]
                 if item.get(m.group(2)) == wanted]
        return str(found[0]) if found else "None"
    raise AssertionError(f"the emulation does not know this template: {template}")


RENDERERS = [pytest.param(emulated_render, id="emulated"), pytest.param(jinja_render, id="jinja2")]


def values(render: Render, status: Mapping[str, Any],
           state: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
    """object id -> (its state, its availability or None), as Home Assistant would see them."""
    payloads = {TOPICS.status: status, TOPICS.of("state"): state}
    seen = {}
    for name, config in by_object(discovery(TOPICS, "m-001", "1.2.3", state)).items():
        available = None
        if "availability" in config:
            rule = config["availability"][0]
            available = render(rule["value_template"], payloads[rule["topic"]])
            assert available in (rule["payload_available"], rule["payload_not_available"])
        seen[name] = (render(config["value_template"], payloads[config["state_topic"]]),
                      available)
    return seen


@pytest.mark.parametrize("render", RENDERERS)
def test_templates_read_status_and_state(render: Render) -> None:
    seen = values(render, STATUS, STATE)
    assert seen == {"online": ("ON", None), "service": ("OFF", "online"),
                    "reason": ("in service", "online"), "sales_today": ("1", "online"),
                    "open_claims": ("0", "online"), "income_today": ("2.00", "online"),
                    "stock_A1": ("50", "online"), "stock_A2": ("49", "online")}
    # the slots reordered: stock still found by id, not position
    swapped = {**STATE, "slots": list(reversed(STATE["slots"]))}
    assert values(render, STATUS, swapped)["stock_A2"] == ("49", "online")
    # a slot gone from the state: unknown ("None"), not another slot's stock
    gone = {**STATE, "slots": STATE["slots"][:1]}
    config = by_object(discovery(TOPICS, "m-001", "1", STATE))["stock_A2"]
    assert render(config["value_template"], gone) == "None"


@pytest.mark.parametrize("render", RENDERERS)
def test_templates_out_of_service_and_offline(render: Render) -> None:
    broken = {**STATUS, "in_service": False, "reason": "vend motor jammed"}
    seen = values(render, broken, STATE)
    assert seen["service"] == ("ON", "online") and seen["online"] == ("ON", None)
    assert seen["reason"] == ("vend motor jammed", "online")
    will = {"online": False, "machine": "m-001", "version": "1.2.3", "in_service": False,
            "reason": "connection lost"}
    seen = values(render, will, STATE)
    assert seen["online"] == ("OFF", None)
    assert {available for name, (_, available) in seen.items() if name != "online"} \
        == {"offline"}
    long = {**broken, "reason": "x" * 400}
    assert len(values(render, long, STATE)["reason"][0]) == 255


# -- against a real broker --------------------------------------------------------------------

def test_discovery_published_retained_as_the_machine(mosquitto: Mosquitto) -> None:
    messages = discovery(TOPICS, "m-001", "1.2.3", STATE)
    username, password = mosquitto.machine("m-001")
    machine = connect(mosquitto.url, client_id="m-001-discovery", username=username,
                      password=password, ca_file=mosquitto.ca_file)
    try:
        for topic, config in messages:
            publish(machine, topic, json.dumps(config), qos=1, retain=True)
    finally:
        disconnect(machine)
    # subscribed after the fact: everything arrives, retained, as published
    observer = console_collector(mosquitto, "homeassistant/#", user=OBSERVER)
    try:
        for topic, config in messages:
            message = observer.wait_topic(topic)
            assert message.retain and message.json() == config
        assert len(observer.messages) == len(messages)
    finally:
        observer.close()


def test_templates_against_a_running_kiosk(mosquitto: Mosquitto, tmp_path: Path,
                                           sandbox: Sandbox) -> None:
    """The real status and state a kiosk's fleet link published, after one sale of A2."""
    kiosk = load_fleet_kiosk(tmp_path, sandbox, "m-001",
                             {"broker": mosquitto.url, "ca_file": str(mosquitto.ca_file),
                              "home_assistant": True},
                             mosquitto.machine("m-001"))
    console = console_collector(mosquitto)
    observer = console_collector(mosquitto, "homeassistant/#", user=OBSERVER)
    try:
        kiosk.sell("A2")
        state_message = kiosk.wait_published(
            console, lambda m: m.topic == TOPICS.of("state")
            and payload(m)["sales_today"]["count"] == 1
            and [s["stock"] for s in payload(m)["slots"]] == [50, 49], timeout_s=15)
        status_message = kiosk.wait_published(
            console, lambda m: m.topic == TOPICS.status and payload(m)["online"] is True
            and payload(m)["in_service"] is True, timeout_s=15)
        # the link published its own discovery messages, retained
        for topic, config in discovery(TOPICS, "m-001", __version__, payload(state_message)):
            assert observer.wait_topic(topic, timeout=10).json() == config
    finally:
        kiosk.close()
        console.close()
        observer.close()
    state, status = payload(state_message), payload(status_message)
    seen = values(emulated_render, status, state)
    assert seen["online"] == ("ON", None) and seen["service"] == ("OFF", "online")
    assert seen["sales_today"] == ("1", "online") and seen["income_today"] == ("2.00", "online")
    assert seen["stock_A1"] == ("50", "online") and seen["stock_A2"] == ("49", "online")
    assert seen["open_claims"] == ("0", "online")
    if importlib.util.find_spec("jinja2") is not None:
        assert values(jinja_render, status, state) == seen
