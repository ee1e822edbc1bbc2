"""Fault injection for a real ``kiosk`` subprocess (tests/test_faults.py), without touching
production code.

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one, so
a test that prepends this folder to the subprocess's ``PYTHONPATH`` gets these patches in that
process only. Nothing happens unless ``KIOSK_FAULT_DIR`` is set:

``KIOSK_FAULT_DIR``  a directory the test owns. The kiosk appends what it draws to
                     ``screens.jsonl`` there: one JSON line each time the screen, its
                     out-of-service reason or the sale on it changes (``screen``, ``fault``,
                     ``tx``, ``link``, ``t`` on the monotonic clock), and each text it writes
                     on a screen for the first time to ``texts.jsonl`` (``screen``, ``text``,
                     ``t``). A fault is on while a trigger file of its name exists in that
                     directory.
``KIOSK_FAULTS``     a comma-separated list of the faults to install (each one only acts while
                     its trigger file exists; where the change takes a moment to reach the
                     kiosk, ``<fault>.ack`` then says what it now runs with):

``watcher-exception``  ``PaymentWatcher.turn`` raises ``KeyError`` (a bug, not a gateway error).
``refund-exception``   ``RefundWorker.turn`` raises ``KeyError``.
``sale-exception``     ``PaymentEffects.create_payment`` (a task of the sale worker) raises
                       ``KeyError``.
``misc-exception``     ``PaymentEffects.load_assets`` (a task of the misc worker) raises
                       ``KeyError``.
``mdb-reader-exception``  ``hardware.mdb_protocol.parse_line`` raises ``KeyError`` on the MDB
                       driver's reader thread (``.ack``: ``raised`` once it has, ``parsing`` once
                       a line is parsed again).
``customer-waits``     the autopilot's next customer stays away from the attract screen (does
                       not tap Start): the test decides when somebody walks up.
``machine-unplugged``  the simulated vend machine reports itself not ready, through its own
                       technician's knob (``SimulatedDriver.set_health``).
``gpio-unplugged``     gpiozero cannot load a pin factory (a Pi without its GPIO header); once
                       the trigger is gone the next attempt gets a ``MockFactory`` with a
                       simulated spiral machine on the pins of ``assets/kiosk.example.toml``.
``clock-offset``       the wall clock (``time.time``, ``time.time_ns``, ``datetime.now``) runs
                       the number of seconds in the trigger file ahead (negative: behind) of the
                       real one; the monotonic clock is left alone, as an NTP step leaves it.
"""

from __future__ import annotations

import datetime as _datetime
import functools
import importlib.abc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

FAULT_DIR = os.environ.get("KIOSK_FAULT_DIR", "")
FAULTS = {name for name in os.environ.get("KIOSK_FAULTS", "").split(",") if name}
POLL_S = 0.02        # how often trigger files are looked at by the threads below


def _on(name: str) -> bool:
    return os.path.exists(os.path.join(FAULT_DIR, name))


def _ack(name: str, state: str) -> None:
    """Tell the test the kiosk now runs with ``state`` of fault ``name`` (``<name>.ack``)."""
    partial = os.path.join(FAULT_DIR, f".{name}.ack.part")
    with open(partial, "w", encoding="utf-8") as out:
        out.write(state)
    os.replace(partial, os.path.join(FAULT_DIR, f"{name}.ack"))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hooks[name](module)`` right after module ``name`` is first executed."""

    def __init__(self, hooks: dict[str, Callable[[ModuleType], None]]) -> None:
        self._hooks = hooks

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        hook = self._hooks.pop(name, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            hook(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


# -- what the screen shows

def _record_screens(app: ModuleType) -> None:
    from kiosk.ui.widgets import record_text

    render = app.render
    log_path = os.path.join(FAULT_DIR, "screens.jsonl")
    texts_path = os.path.join(FAULT_DIR, "texts.jsonl")
    last: list[tuple[object, ...]] = [()]
    written: set[tuple[str, str]] = set()

    def recording_render(surface: Any, state: Any, *args: Any, **kwargs: Any) -> Any:
        sale = state.sale
        request = sale.request if sale is not None else None
        seen = (state.screen.value, state.hardware_fault,
                sale.tx_id if sale is not None else None, request.link if request else None)
        if seen != last[0]:
            last[0] = seen
            line = dict(zip(("screen", "fault", "tx", "link"), seen, strict=True),
                        t=time.monotonic())
            with open(log_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")
        with record_text() as drawn:
            buttons = render(surface, state, *args, **kwargs)
        new = [(state.screen.value, ink.text) for ink in drawn
               if (state.screen.value, ink.text) not in written]
        if new:
            written.update(new)
            now = time.monotonic()
            with open(texts_path, "a", encoding="utf-8") as out:
                out.writelines(json.dumps({"screen": screen, "text": text, "t": now}) + "\n"
                               for screen, text in dict.fromkeys(new))
        return buttons

    app.render = recording_render


# -- worker bugs

def _failing_turn(name: str) -> Callable[[ModuleType, str], None]:
    def patch(module: ModuleType, cls_name: str) -> None:
        cls = getattr(module, cls_name)
        turn = cls.turn

        def failing_turn(self: Any) -> float:
            if _on(name):
                raise KeyError(f"injected {name}")
            return float(turn(self))

        cls.turn = failing_turn

    return patch


FAILING_TASKS = {"sale-exception": "create_payment", "misc-exception": "load_assets"}


def _failing_task(name: str, method: str) -> Callable[[ModuleType], None]:
    """``PaymentEffects.<method>``, a task an ``EffectWorker`` runs, raises while ``name``
    is on."""
    def patch(payments: ModuleType) -> None:
        task = getattr(payments.PaymentEffects, method)

        @functools.wraps(task)
        def failing_task(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _on(name):
                raise KeyError(f"injected {name}")
            return task(self, *args, **kwargs)

        setattr(payments.PaymentEffects, method, failing_task)

    return patch


def _failing_mdb_reader(proto: ModuleType) -> None:
    """Every bridge line the MDB driver's reader thread parses raises while the fault is on."""
    parse_line = proto.parse_line
    said = ["parsing"]

    def failing_parse_line(*args: Any, **kwargs: Any) -> Any:
        state = "raised" if _on("mdb-reader-exception") else "parsing"
        if state != said[0]:
            said[0] = state
            _ack("mdb-reader-exception", state)
        if state == "raised":
            raise KeyError("injected mdb-reader-exception")
        return parse_line(*args, **kwargs)

    proto.parse_line = failing_parse_line


# -- when the next customer walks up

def _customers_wait(autopilot: ModuleType) -> None:
    cls = autopilot.Autopilot
    choose = cls.choose

    def waiting_choose(self: Any, state: Any, buttons: Any, now: float) -> Any:
        if state.screen.value == "attract" and _on("customer-waits"):
            return None
        return choose(self, state, buttons, now)

    cls.choose = waiting_choose


# -- vend hardware

def _unpluggable_simulated_machine(module: ModuleType) -> None:
    from hardware.base import DriverHealth

    cls = module.SimulatedDriver
    init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        threading.Thread(target=_follow_plug, args=(self, DriverHealth), daemon=True,
                         name="fault-machine-plug").start()

    cls.__init__ = __init__


def _follow_plug(driver: Any, health: Any) -> None:
    plugged = True
    while True:
        unplugged = _on("machine-unplugged")
        if unplugged == plugged:
            plugged = not unplugged
            driver.set_health(health(True) if plugged else
                              health(False, "simulated machine unplugged (fault injection)"))
            _ack("machine-unplugged", "plugged" if plugged else "unplugged")
        time.sleep(POLL_S)


def _gpio_header_missing(devices: ModuleType) -> None:
    from gpiozero.exc import BadPinFactory

    def default_pin_factory() -> Any:
        if _on("gpio-unplugged"):
            raise BadPinFactory("no GPIO header (fault injection)")
        from gpiozero.pins.mock import MockFactory

        from hardware.sim.gpio_machine import MockSpiralMachine

        factory = MockFactory()
        factory.fault_machine = MockSpiralMachine(  # kept alive with the factory
            factory, wiring="direct", motor_pins=(5, 6, 13, 19), home_pin=20, drop_pin=21)
        return factory

    devices.Device._default_pin_factory = staticmethod(default_pin_factory)


# -- the wall clock

_offset_s = [0.0]


def _follow_offset() -> None:
    path = os.path.join(FAULT_DIR, "clock-offset")
    while True:
        try:
            with open(path, encoding="ascii") as text:
                offset = float(text.read().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        if offset != _offset_s[0]:
            _offset_s[0] = offset
            _ack("clock-offset", repr(offset))
        time.sleep(POLL_S)


def _step_the_wall_clock() -> None:
    real_time, real_time_ns = time.time, time.time_ns

    def stepped_time() -> float:
        return real_time() + _offset_s[0]

    def stepped_time_ns() -> int:
        return real_time_ns() + int(_offset_s[0] * 1e9)

    class SteppedDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return super().now(tz) + _datetime.timedelta(seconds=_offset_s[0])

        @classmethod
        def utcnow(cls) -> Any:
            return super().utcnow() + _datetime.timedelta(seconds=_offset_s[0])

    time.time, time.time_ns = stepped_time, stepped_time_ns  # type: ignore[assignment]
    _datetime.datetime = SteppedDatetime  # type: ignore[misc]
    threading.Thread(target=_follow_offset, daemon=True, name="fault-clock").start()


def _install() -> None:
    hooks: dict[str, Callable[[ModuleType], None]] = {"kiosk.ui.app": _record_screens}
    if "watcher-exception" in FAULTS:
        hooks["kiosk.watcher"] = lambda m: _failing_turn("watcher-exception")(m, "PaymentWatcher")
    if "refund-exception" in FAULTS:
        hooks["kiosk.refunds"] = lambda m: _failing_turn("refund-exception")(m, "RefundWorker")
    tasks = [_failing_task(name, method) for name, method in FAILING_TASKS.items()
             if name in FAULTS]
    if tasks:
        def patch_payments(payments: ModuleType) -> None:
            for patch in tasks:
                patch(payments)

        hooks["kiosk.runtime.payments"] = patch_payments
    if "mdb-reader-exception" in FAULTS:
        hooks["hardware.mdb_protocol"] = _failing_mdb_reader
    if "customer-waits" in FAULTS:
        hooks["kiosk.autopilot"] = _customers_wait
    if "machine-unplugged" in FAULTS:
        hooks["hardware.sim.driver"] = _unpluggable_simulated_machine
    if "gpio-unplugged" in FAULTS:
        hooks["gpiozero.devices"] = _gpio_header_missing
    if "clock-offset" in FAULTS:
        _step_the_wall_clock()  # before anything binds time.time as a default argument
    sys.meta_path.insert(0, _AfterImport(hooks))


if FAULT_DIR:
    _install()
