"""``kiosk selftest``: what a technician runs at the machine, and what it proves.

Each check has a name, the slot it concerns where it has one, pass or fail, and a reason a
technician can act on. The run is journalled. Checks that depend on a valid config are reported
as failed (not silently skipped) when the config is not valid.

A check can pass with a warning: something to fix that does not stop the machine from selling.
The "secrets" check is one: it carries the config's warnings (``Config.warnings``: a secrets
file other users can read, a secret in the config file, an unsound operator PIN hash, plain
http allowed by ``insecure_http``). It passes, so an unattended self-test does not fail a
working machine, but the table shows WARN and the JSON marks it, ``"warning": true`` on the
check and the count in ``"warnings"`` at the top (keys added to the existing shape).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hardware.base import VendDriver, VendRequest
from kiosk.config import Config, load_config
from kiosk.errors import ConfigError, KioskError
from kiosk.journal import Journal
from kiosk.money import to_minor
from kiosk.payments.base import Gateway
from kiosk.time_sync import clock_fault, kernel_time_synced

MIN_FREE_BYTES = 100 * 1024 * 1024   # a year of sales is a few MB; below this, logs fill it
PLAUSIBLE_AFTER = 1_735_689_600       # 2025-01-01: a Pi without RTC boots in 1970
INPUT_DEVICES = Path("/proc/bus/input/devices")
HEADLESS_DRIVERS = frozenset({"offscreen", "dummy"})


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    reason: str
    slot: str | None = None
    warning: bool = False            # passed, with something to fix in ``reason``
    skipped: bool = False            # not run, as asked (--no-network, --no-motors)


@dataclass(frozen=True)
class SelftestOptions:
    slot: str | None = None          # test only this slot's motor
    move_motors: bool = True
    network: bool = True


@dataclass(frozen=True)
class Environment:
    """Where the machine-facing checks look: the real system unless a test says otherwise."""

    input_devices: Path = INPUT_DEVICES
    time_synced: Callable[[], bool | None] = kernel_time_synced
    now: Callable[[], float] = time.time


def run_selftest(config_path: Path, options: SelftestOptions,
                 environment: Environment = Environment(), *,
                 driver: VendDriver | None = None,
                 gateway: Gateway | None = None) -> list[Check]:
    """Every check, in the order a technician reads them; journalled when the data dir works."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return [Check("config", False, f"{len(exc.issues)} error(s): {exc.issues[0]}"),
                *_without_config()]
    checks = [Check("config", True, f"{len(config.slots)} slots, gateway "
                                    f"{config.payment.gateway}, driver {config.vend.driver}")]
    checks += [_display(), _touch(environment), _data_dir(config), _clock(config, environment)]
    checks += _vend_hardware(config, options, driver)
    checks.append(_network(config, gateway) if options.network
                  else Check("network", True, "skipped (--no-network)", skipped=True))
    if config.fleet is not None:
        checks.append(_fleet(config) if options.network
                      else Check("fleet", True, "skipped (--no-network)", skipped=True))
    checks.append(_secrets(config))   # last: the checks before it keep their places
    _journal(config, checks)
    return checks


def running_selftest(config: Config, driver: VendDriver, gateway: Gateway,
                     environment: Environment = Environment()) -> list[Check]:
    """The checks that move nothing, on a kiosk that is running (a fleet command): its own
    driver and gateway, left open; the screen not looked at (the kiosk is drawing on it). The
    caller journals the run."""
    checks = [Check("config", True, f"{len(config.slots)} slots, gateway "
                                    f"{config.payment.gateway}, driver {config.vend.driver}"),
              _data_dir(config), _clock(config, environment)]
    checks += _probes(config, SelftestOptions(move_motors=False), driver)
    checks += [_reach(config, gateway), _secrets(config)]
    return checks


def report_json(checks: list[Check]) -> dict[str, Any]:
    return {"passed": all(c.passed for c in checks), "warnings": sum(c.warning for c in checks),
            "skipped": sum(c.skipped for c in checks), "checks": [asdict(c) for c in checks]}


def report_table(checks: list[Check]) -> str:
    width = max(len(_label(c)) for c in checks)
    lines = [f"{_verdict(c)}  {_label(c):<{width}}  {c.reason}" for c in checks]
    failed = sum(not c.passed for c in checks)
    warned = sum(c.warning for c in checks)
    lines.append(f"{len(checks) - failed} of {len(checks)} checks passed"
                 + (f", {warned} with warnings" if warned else ""))
    return "\n".join(lines)


def _verdict(check: Check) -> str:
    if check.skipped:
        return "SKIP"
    if not check.passed:
        return "FAIL"
    return "WARN" if check.warning else "PASS"


def _label(check: Check) -> str:
    return f"{check.name} [{check.slot}]" if check.slot else check.name


def _without_config() -> Iterator[Check]:
    for name in ("data_dir", "vend_hardware", "network", "secrets"):
        yield Check(name, False, "not checked: the config is not valid")


def _secrets(config: Config) -> Check:
    """The config's warnings; they pass (the kiosk sells), marked for the technician."""
    if not config.warnings:
        return Check("secrets", True, "no warnings: secrets file private, no secret in the "
                                      "config file, PIN hash sound or unset, no plain http")
    return Check("secrets", True, "; ".join(f"WARNING {w}" for w in config.warnings),
                 warning=True)


def _display() -> Check:
    """SDL initialises the configured driver (SDL_VIDEODRIVER, kmsdrm on the Pi)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    try:
        pygame.display.init()
        name = pygame.display.get_driver()
        sizes = pygame.display.get_desktop_sizes()
    except pygame.error as exc:
        return Check("display", False, f"SDL could not open a display: {exc}")
    finally:
        pygame.display.quit()
    size = f"{sizes[0][0]}x{sizes[0][1]}" if sizes else "no mode reported"
    if name in HEADLESS_DRIVERS:  # SDL's stand-ins draw nowhere: no customer sees a thing
        if os.environ.get("SDL_VIDEODRIVER") == name:
            return Check("display", True, f"SDL driver {name} as SDL_VIDEODRIVER asks: no "
                                          f"panel is driven")
        return Check("display", False, f"no display: SDL fell back to its {name} driver "
                                       f"({size}); is the panel connected and KMS enabled?")
    return Check("display", True, f"SDL driver {name}, {size}")


def _touch(environment: Environment) -> Check:
    """A touch panel is an input device with absolute multi-touch axes (or says so by name)."""
    try:
        text = environment.input_devices.read_text(errors="replace")
    except OSError as exc:
        return Check("touch", False, f"cannot read {environment.input_devices}: {exc.strerror}")
    for block in text.split("\n\n"):
        name = next((line.split("=", 1)[1].strip('"') for line in block.splitlines()
                     if line.startswith("N: Name=")), "")
        if _has_multitouch(block) or "touch" in name.lower():
            return Check("touch", True, f"found {name or 'a touch device'}")
    return Check("touch", False, "no touch input device found (is the panel's USB/DSI cable in?)")


def _has_multitouch(block: str) -> bool:
    """The ABS bitmap is printed as kernel longs, most significant first. All 64 ABS codes fit
    in one 64-bit long, so two words mean a 32-bit kernel (Pi OS armhf)."""
    for line in block.splitlines():
        if line.startswith("B: ABS="):
            words = [int(word, 16) for word in line.split("=", 1)[1].split()]
            bits = 0
            for word in words:
                bits = (bits << 32) | word if len(words) > 1 else word
            return bool(bits & (1 << 0x35))  # ABS_MT_POSITION_X
    return False


def _data_dir(config: Config) -> Check:
    data_dir = config.machine.data_dir
    probe = data_dir / ".selftest-write"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
        free = shutil.disk_usage(data_dir).free
    except OSError as exc:
        return Check("data_dir", False, f"{data_dir} is not writable: {exc.strerror}")
    if free < MIN_FREE_BYTES:
        return Check("data_dir", False, f"only {free // 2**20} MB free in {data_dir}")
    return Check("data_dir", True, f"{data_dir} writable, {free // 2**20} MB free")


def _clock(config: Config, environment: Environment) -> Check:
    now = environment.now()
    if now < PLAUSIBLE_AFTER:
        return Check("clock", False, f"clock reads {time.strftime('%Y-%m-%d', time.gmtime(now))}"
                                     ": not set (no network time yet?)")
    if not config.machine.wait_for_time_sync:
        detail = "not checked ([machine] wait_for_time_sync = false)"
    else:
        # The kiosk's own question: it takes no money until the answer is yes.
        fault = clock_fault(environment.time_synced())
        if fault:
            return Check("clock", False, f"{fault}: the kiosk sells once it is")
        detail = "NTP-synchronised"
    return Check("clock", True, f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(now))} UTC, "
                                f"{detail}")


def _vend_hardware(config: Config, options: SelftestOptions,
                   driver: VendDriver | None) -> list[Check]:
    from kiosk.assembly import build_driver

    slots = [s for s in config.slots if options.slot in (None, s.id)]
    if not slots:
        return [Check("vend_hardware", False, f"no slot {options.slot!r} in the config")]
    try:
        driver = driver or build_driver(config)
    except (KioskError, OSError) as exc:
        return [Check("vend_hardware", False, f"driver {config.vend.driver} not usable: {exc}")]
    try:
        return _probes(config, options, driver)
    finally:
        driver.close()


def _probes(config: Config, options: SelftestOptions, driver: VendDriver) -> list[Check]:
    from kiosk.assembly import vend_request

    requests: list[VendRequest] = [
        vend_request(config, s.id, to_minor(s.price, config.machine.currency))
        for s in config.slots if options.slot in (None, s.id)]
    probes = driver.probes(requests, options.move_motors)
    checks = [Check(p.name, p.passed, p.reason, p.slot) for p in probes]
    if not options.move_motors:
        checks.append(Check("motors", True, "skipped (--no-motors)", skipped=True))
    return checks


def _network(config: Config, gateway: Gateway | None) -> Check:
    from kiosk.assembly import build_gateway

    try:
        gateway = gateway or build_gateway(config)
    except KioskError as exc:
        return Check("network", False, f"{config.payment.gateway} not reachable: {exc}")
    try:
        return _reach(config, gateway)
    finally:
        gateway.close()


def _reach(config: Config, gateway: Gateway) -> Check:
    try:
        said = gateway.check_reachable(config.slots[0].price, config.machine.currency)
    except KioskError as exc:
        return Check("network", False, f"{config.payment.gateway} not reachable: {exc}")
    return Check("network", True, f"{config.payment.gateway}: {said}")


def _fleet(config: Config) -> Check:
    from kiosk.fleet.probe import probe_broker   # paho, only with a fleet

    assert config.fleet is not None
    passed, reason = probe_broker(config.fleet, config.machine.id)
    return Check("fleet", passed, reason)


def _journal(config: Config, checks: list[Check]) -> None:
    try:
        with Journal.open_in(config.machine.data_dir) as journal:
            journal.record_selftest(all(c.passed for c in checks), [asdict(c) for c in checks])
    except KioskError as exc:
        checks.append(Check("journal", False, f"could not journal this run: {exc}"))
