"""Home Assistant MQTT discovery (``[fleet] home_assistant = true``): retained config messages on
``homeassistant/<component>/<node_id>/<object_id>/config`` that make one machine a Home
Assistant device, its entities reading the machine's own retained ``status`` and ``state``
topics with Jinja ``value_template``s. Nothing else to install: a small operator points Home
Assistant at the broker and sees the machine online or not, in service or why not, today's sales
and income, open claims and the stock of every slot.

Pure data: ``discovery`` builds the messages; the fleet link publishes them (retained, QoS 1)
after each connection and whenever the set of slots changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.fleet.topics import Topics

DISCOVERY_PREFIX = "homeassistant"
MODEL = "vending-kiosk"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_STATE_MAX = 255            # Home Assistant refuses a longer state


@dataclass(frozen=True)
class Entity:
    """One row of the table: a Home Assistant entity reading ``leaf`` (``status``/``state``)."""

    component: str          # "sensor" or "binary_sensor"
    object_id: str
    name: str
    leaf: str
    template: str
    extra: tuple[tuple[str, Any], ...] = ()
    available_when_online: bool = True


ONLINE = "{{ 'ON' if value_json.online else 'OFF' }}"
# device_class "problem": ON is the problem, so out of service is ON.
OUT_OF_SERVICE = "{{ 'OFF' if value_json.in_service else 'ON' }}"
REASON = ("{{ 'in service' if value_json.in_service else "
          f"(value_json.reason or 'unknown')[:{_STATE_MAX}] }}}}")
AVAILABILITY = "{{ 'online' if value_json.online else 'offline' }}"

ENTITIES: tuple[Entity, ...] = (
    # Not bound to availability itself: offline must show as "disconnected", not "unavailable".
    Entity("binary_sensor", "online", "Online", "status", ONLINE,
           (("device_class", "connectivity"),), available_when_online=False),
    Entity("binary_sensor", "service", "Service", "status", OUT_OF_SERVICE,
           (("device_class", "problem"),)),
    Entity("sensor", "reason", "Out of service reason", "status", REASON,
           (("icon", "mdi:alert-circle-outline"),)),
    Entity("sensor", "sales_today", "Sales today", "state",
           "{{ value_json.sales_today.count }}",
           (("state_class", "total_increasing"), ("icon", "mdi:cart"))),
    Entity("sensor", "open_claims", "Open claims", "state", "{{ value_json.open_claims }}",
           (("state_class", "measurement"), ("icon", "mdi:account-alert"))),
)


def node_id(machine_id: str) -> str:
    """The machine id as a Home Assistant node id (letters, digits, ``_`` and ``-``): unchanged
    when it already is one, else the other characters replaced and a short hash of the id
    appended, so that ``m.1`` and ``m_1`` stay two devices."""
    return _safe(machine_id)


def _safe(text: str) -> str:
    cleaned = _UNSAFE.sub("_", text)
    if cleaned == text and text:
        return text
    return f"{cleaned}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def stock_template(slot_id: str) -> str:
    """The stock of slot ``slot_id`` picked from ``state``'s ``slots`` by its id (not its
    position: slots may be added or reordered); "None" (unknown) if the slot is gone."""
    quoted = json.dumps(slot_id)       # a JSON string is a Jinja string literal
    return ("{{ value_json.slots | selectattr('slot', 'equalto', " + quoted + ")"
            " | map(attribute='stock') | first | default('None') }}")


def discovery(topics: Topics, machine_id: str, version: str, state: Mapping[str, Any], *,
              prefix: str = DISCOVERY_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """The discovery config messages for this machine, as (topic, payload): publish each one
    retained, as JSON. ``state`` is the ``state`` snapshot (``KioskObserver.state()``): its
    currency and slots decide the income unit and the stock sensors."""
    node = node_id(machine_id)
    device = {"identifiers": [machine_id], "name": machine_id, "model": MODEL,
              "sw_version": version}
    availability = [{"topic": topics.status, "value_template": AVAILABILITY,
                     "payload_available": "online", "payload_not_available": "offline"}]
    currency = str(state.get("currency", ""))
    entities = list(ENTITIES)
    money = (("device_class", "monetary"), ("unit_of_measurement", currency)) if currency else ()
    entities.append(Entity("sensor", "income_today", "Income today", "state",
                           "{{ value_json.sales_today.amount }}", (*money, ("icon", "mdi:cash"))))
    for slot in state.get("slots", ()):
        slot_id = str(slot["slot"])
        label = f"Stock {slot_id}" + (f" ({slot['name']})" if slot.get("name") else "")
        entities.append(Entity("sensor", f"stock_{_safe(slot_id)}", label, "state",
                               stock_template(slot_id),
                               (("state_class", "measurement"), ("icon", "mdi:package-variant"))))
    messages: list[tuple[str, dict[str, Any]]] = []
    for entity in entities:
        config: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{MODEL}_{node}_{entity.object_id}",
            "state_topic": topics.of(entity.leaf),
            "value_template": entity.template,
            "qos": 1,
            "device": device,
            **dict(entity.extra),
        }
        if entity.available_when_online:
            config["availability"] = availability
        messages.append((f"{prefix}/{entity.component}/{node}/{entity.object_id}/config",
                         config))
    return messages
