"""Alert rules, evaluated on a clock: each ``evaluate`` works out from the store which
conditions hold now, raises the new ones and clears those that went. An alert is keyed
``<rule>:<machine>[:<slot>]``, so one that holds across evaluations is raised once; every
raise and clear goes to the hub (the dashboards) and the webhook.

Rules (thresholds in ``AlertRules``):

    offline         status says offline, or nothing heard for ``offline_after``
    no_sales        in service, has sold before, no sale for ``no_sales_after``
    sold_out        an enabled slot with stock 0                    (per slot)
    low_stock       an enabled slot with stock 1..``low_stock``      (per slot)
    slot_disabled   a slot the machine disabled after a fault (not the operator)   (per slot)
    vend_failures   ``vend_failures`` failed vends in a row, or within ``vend_failure_window``
    out_of_service  online, not in service, with the kiosk's reason
    gateway         out of service because the payment gateway fails (instead of out_of_service)
    claims_open     claims open longer than ``claims_open_after``
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from vending_fleet.hub import Hub
from vending_fleet.model import Alert, Machine, Store
from vending_fleet.webhook import Webhook

log = logging.getLogger(__name__)

RULES = ("offline", "no_sales", "sold_out", "low_stock", "slot_disabled", "vend_failures",
         "out_of_service", "gateway", "claims_open")
# The kiosk's out-of-service reasons when payments fail: kiosk.gateway_health.UNAVAILABLE and
# kiosk.watcher's status fault ("payment status unavailable: ...")
GATEWAY_REASONS = ("payments unavailable", "payment status unavailable", "payment gateway")
FAILED_VEND = ("vend_failed", "vend_unknown")
_LONG_AGO = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class AlertRules:
    offline_after: timedelta = timedelta(minutes=15)
    no_sales_after: timedelta = timedelta(hours=6)
    low_stock: int = 2
    vend_failures: int = 3
    vend_failure_window: timedelta = timedelta(hours=1)
    vend_failure_lookback: timedelta = timedelta(hours=24)   # how far back "in a row" looks
    claims_open_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class AlertChange:
    alert: Alert
    state: Literal["raised", "cleared"]
    at: datetime

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body and the hub's "alert" update."""
        return {"alert": self.alert.key, "machine": self.alert.machine, "rule": self.alert.rule,
                "message": self.alert.message, "state": self.state, "at": self.at.isoformat()}


class Alerter:
    def __init__(self, store: Store, hub: Hub, rules: AlertRules = AlertRules(), *,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 webhook: Webhook | None = None) -> None:
        self._store = store
        self._hub = hub
        self._rules = rules
        self._clock = clock
        self._webhook = webhook
        self._lock = threading.Lock()          # one evaluation at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def evaluate(self) -> list[AlertChange]:
        """Raise what holds now and is not open, clear what is open and no longer holds."""
        with self._lock:
            now = self._clock()
            holding = {alert.key: alert for alert in conditions(self._store, self._rules, now)}
            active = {alert.key: alert for alert in self._store.alerts(active_only=True)}
            changes: list[AlertChange] = []
            for key, alert in holding.items():
                if key not in active and self._store.raise_alert(alert):
                    changes.append(AlertChange(alert, "raised", now))
            for key, alert in active.items():
                # only this module's rules: an alert raised by anything else is not ours to end
                if key not in holding and alert.rule in RULES and \
                        self._store.clear_alert(key, now):
                    changes.append(AlertChange(alert, "cleared", now))
            for change in changes:
                log.info("alert %s %s: %s", change.state, change.alert.key, change.alert.message)
                self._hub.publish("alert", change.payload())
                if self._webhook is not None:
                    self._webhook.deliver(change.payload())
            return changes

    def start(self, interval_s: float = 30.0) -> None:
        """Evaluate every ``interval_s`` on a thread of its own until ``stop``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), name="alerts",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate()
            except Exception:          # a store hiccup: try again next time
                log.exception("alert evaluation failed")
            self._stop.wait(interval_s)


def conditions(store: Store, rules: AlertRules, now: datetime) -> list[Alert]:
    """Every alert whose condition holds at ``now`` (``since`` = now)."""
    found: list[Alert] = []
    for machine in store.machines():
        found += _machine_alerts(store, rules, machine, now)
    found += _slot_alerts(store, rules, now)
    found += _claim_alerts(store, rules, now)
    return found


def _alert(rule: str, machine: str, message: str, now: datetime, part: str = "") -> Alert:
    key = f"{rule}:{machine}" + (f":{part}" if part else "")
    return Alert(key=key, machine=machine, rule=rule, message=message, since=now)


def _machine_alerts(store: Store, rules: AlertRules, machine: Machine,
                    now: datetime) -> list[Alert]:
    found: list[Alert] = []
    offline = _offline(machine, rules, now)
    if offline:
        found.append(_alert("offline", machine.id, offline, now))
    elif not machine.in_service:       # offline machines are never in service: said once
        if _gateway_reason(machine.reason):
            found.append(_alert("gateway", machine.id,
                                f"payment gateway failing: {machine.reason}", now))
        else:
            found.append(_alert("out_of_service", machine.id, _out_of_service(machine.reason),
                                now))
    else:
        no_sales = _no_sales(store, rules, machine, now)
        if no_sales:
            found.append(_alert("no_sales", machine.id, no_sales, now))
    failures = _vend_failures(store.events_of(machine.id, now - rules.vend_failure_lookback),
                              rules, now)
    if failures:
        found.append(_alert("vend_failures", machine.id, failures, now))
    return found


def _offline(machine: Machine, rules: AlertRules, now: datetime) -> str:
    if machine.last_seen is None:
        return "never heard from"
    if not machine.online:
        return f"offline ({machine.reason or 'no reason given'}) since " \
               f"{_when(machine.last_seen)}"
    if now - machine.last_seen > rules.offline_after:
        return f"silent since {_when(machine.last_seen)}"
    return ""


def _out_of_service(reason: str) -> str:
    # the operator's order reads "out of service: restocking" already (kiosk.runtime.health)
    if reason.startswith("out of service"):
        return reason
    return f"out of service: {reason or 'no reason given'}"


def _gateway_reason(reason: str) -> bool:
    return any(text in reason.lower() for text in GATEWAY_REASONS)


def _no_sales(store: Store, rules: AlertRules, machine: Machine, now: datetime) -> str:
    # end a day ahead: a machine's clock a little ahead of ours must not hide its sales
    last = store.sales(_LONG_AGO, now + timedelta(days=1), machine.id, limit=1)
    if not last:                       # never sold: a new machine, nothing to miss yet
        return ""
    if now - last[0].at < rules.no_sales_after:
        return ""
    return f"no sale for {_hours(now - last[0].at)} (the last at {_when(last[0].at)})"


def _vend_failures(events: Sequence[Mapping[str, Any]], rules: AlertRules,
                   now: datetime) -> str:
    """Failed vends (vend_result vend_failed / vend_unknown, or a jam) in a row, or within the
    window; an operator re-enabling a slot starts the count again (they went to fix it)."""
    in_row = 0
    failures: list[tuple[datetime, str]] = []
    for event in events:
        kind = event.get("kind")
        if kind == "slot_enabled":
            in_row, failures = 0, []
        elif kind == "vend_result":
            if _failed(event):
                in_row += 1
                failures.append((_at(event, now), str(event.get("slot", "?"))))
            else:
                in_row = 0
    recent = [slot for at, slot in failures if now - at <= rules.vend_failure_window]
    if in_row >= rules.vend_failures:
        slots = sorted({slot for _at_, slot in failures[-in_row:]})
        return f"{in_row} failed vends in a row (slots {', '.join(slots)})"
    if len(recent) >= rules.vend_failures:
        return f"{len(recent)} failed vends within {_hours(rules.vend_failure_window)} " \
               f"(slots {', '.join(sorted(set(recent)))})"
    return ""


def _failed(event: Mapping[str, Any]) -> bool:
    detail = event.get("detail")
    outcome = detail.get("outcome") if isinstance(detail, Mapping) else None
    return event.get("status") in FAILED_VEND or outcome == "jam"


def _at(event: Mapping[str, Any], default: datetime) -> datetime:
    try:
        at = datetime.fromisoformat(str(event.get("at")))
    except ValueError:
        return default
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _slot_alerts(store: Store, rules: AlertRules, now: datetime) -> list[Alert]:
    found: list[Alert] = []
    for slot in store.slots():
        where = f"slot {slot.slot} ({slot.name})"
        if not slot.enabled:
            if slot.disabled_reason and slot.disabled_reason != "operator":
                found.append(_alert("slot_disabled", slot.machine,
                                    f"{where} disabled: {slot.disabled_reason}", now, slot.slot))
        elif slot.stock <= 0:
            found.append(_alert("sold_out", slot.machine, f"{where} sold out", now, slot.slot))
        elif slot.stock <= rules.low_stock:
            found.append(_alert("low_stock", slot.machine, f"{where}: {slot.stock} left", now,
                                slot.slot))
    return found


def _claim_alerts(store: Store, rules: AlertRules, now: datetime) -> list[Alert]:
    old: dict[str, list[str]] = {}
    for claim in store.open_claims():          # oldest first
        if now - claim.opened_at > rules.claims_open_after:
            old.setdefault(claim.machine, []).append(
                f"{claim.code or claim.tx} ({claim.status}, {claim.amount} {claim.currency}, "
                f"since {_when(claim.opened_at)})")
    return [_alert("claims_open", machine,
                   f"{len(items)} claim(s) open longer than {_hours(rules.claims_open_after)}: "
                   + "; ".join(_first(items, 5)), now)
            for machine, items in old.items()]


def _first(items: Iterable[str], count: int) -> list[str]:
    listed = list(items)
    return listed[:count] + ([f"and {len(listed) - count} more"] if len(listed) > count else [])


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{span.total_seconds() / 60:.0f} min"
