"""`kiosk selftest`: every check, its JSON report, the exit status and the journalled run."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fakes import (
    KIOSK,
    NOWHERE,
    WATER,
    centrapay_table,
    kiosk_toml,
    mdb_vend,
    mixpay_table,
    simulated_machine,
    wctpay_table,
)
from kiosk.journal import Journal
from kiosk.operator_pin import hash_pin
from kiosk.sim import Sandbox
from kiosk.selftest import Environment, SelftestOptions, report_json, report_table, run_selftest

TOUCH_PANEL = """I: Bus=0018 Vendor=0000 Product=0000 Version=0000
N: Name="raspberrypi-ts"
H: Handlers=mouse0 event0
B: ABS=2608000 3

I: Bus=0003 Vendor=046d Product=c52b Version=0111
N: Name="Logitech USB Keyboard"
H: Handlers=sysrq kbd event1
"""
KEYBOARD_ONLY = TOUCH_PANEL.split("\n\n")[1]

def selftest_toml(data_dir: Path, base: str, *, gateway: str = "mixpay",
                  api_key: str = "sandbox-key", **parts: Any) -> str:
    """Every gateway at ``base`` (a sandbox's url), ``gateway`` the one in use, and the
    simulated machine unless ``parts`` say otherwise."""
    payment = {"gateway": gateway, "assets": ["BTC"], "mixpay": mixpay_table(base),
               "centrapay": centrapay_table(base, api_key=api_key), "wctpay": wctpay_table(base)}
    return kiosk_toml(data_dir, payment=payment,
                      **{**simulated_machine("jam"), **parts})


def write_config(tmp_path: Path, sandbox: Sandbox, gateway: str = "mixpay",
                 api_key: str = "sandbox-key") -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(selftest_toml(tmp_path / "data", sandbox.url, gateway=gateway,
                                  api_key=api_key))
    return path


def environment(tmp_path: Path, devices: str = TOUCH_PANEL, synced: bool | None = True,
                now: float = 1_800_000_000.0) -> Environment:
    (tmp_path / "devices").write_text(devices)
    return Environment(input_devices=tmp_path / "devices", time_synced=lambda: synced,
                       now=lambda: now)


@pytest.fixture(autouse=True)
def dummy_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def by_name(checks: list) -> dict:  # type: ignore[type-arg]
    return {(c.name, c.slot): c for c in checks}


def test_a_healthy_machine_passes_every_check(tmp_path: Path, module_sandbox: Sandbox) -> None:
    checks = run_selftest(write_config(tmp_path, module_sandbox), SelftestOptions(slot="A1"),
                          environment(tmp_path))
    assert all(c.passed for c in checks), report_table(checks)
    names = [c.name for c in checks]
    assert names[:5] == ["config", "display", "touch", "data_dir", "clock"]
    found = by_name(checks)
    assert "dummy" in found[("display", None)].reason
    assert "raspberrypi-ts" in found[("touch", None)].reason
    assert found[("motor", "A1")].passed and ("motor", "A2") not in found  # --slot A1
    assert "coin" in found[("network", None)].reason


def test_failures_are_named_with_their_slot_and_reason(
        tmp_path: Path, module_sandbox: Sandbox) -> None:
    checks = run_selftest(write_config(tmp_path, module_sandbox), SelftestOptions(),
                          environment(tmp_path, KEYBOARD_ONLY, synced=False))
    found = by_name(checks)
    assert not found[("touch", None)].passed
    assert not found[("clock", None)].passed and "NTP" in found[("clock", None)].reason
    assert found[("motor", "A1")].passed
    assert not found[("motor", "A2")].passed and "jam" in found[("motor", "A2")].reason
    report = report_json(checks)
    assert report["passed"] is False
    assert {"name": "motor", "slot": "A2", "passed": False, "reason": "simulated jam",
            "warning": False, "skipped": False} in report["checks"]


def test_no_motors_and_no_network_skip_what_they_say(
        tmp_path: Path, module_sandbox: Sandbox) -> None:
    checks = run_selftest(write_config(tmp_path, module_sandbox),
                          SelftestOptions(move_motors=False, network=False),
                          environment(tmp_path))
    found = by_name(checks)
    assert not any(c.name == "motor" and c.slot for c in checks)
    assert "skipped" in found[("motors", None)].reason
    assert "skipped" in found[("network", None)].reason
    assert found[("motors", None)].skipped and found[("network", None)].skipped
    assert report_json(checks)["skipped"] == 2
    assert "SKIP  network" in report_table(checks)


def test_a_display_sdl_only_fakes_is_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk.selftest import _display

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")      # asked for (tests, demos): passes
    asked = _display()
    assert asked.passed and "no panel" in asked.reason
    monkeypatch.setenv("SDL_VIDEODRIVER", "offscreen,dummy")   # SDL falls back by itself
    fallen = _display()
    assert not fallen.passed and fallen.reason.startswith("no display: SDL fell back")


def test_a_clock_in_1970_fails(tmp_path: Path, module_sandbox: Sandbox) -> None:
    checks = run_selftest(write_config(tmp_path, module_sandbox), SelftestOptions(network=False),
                          environment(tmp_path, now=86_400.0))
    assert "1970-01-02" in by_name(checks)[("clock", None)].reason


@pytest.mark.parametrize("gateway", ["mixpay", "wctpay", "centrapay"])
def test_each_gateway_is_reached_with_its_credentials(tmp_path: Path, module_sandbox: Sandbox,
                                                      gateway: str) -> None:
    good = run_selftest(write_config(tmp_path, module_sandbox, gateway), SelftestOptions(),
                        environment(tmp_path))
    assert by_name(good)[("network", None)].passed, report_table(good)
    if gateway == "centrapay":
        bad = run_selftest(write_config(tmp_path, module_sandbox, gateway, api_key="wrong-key"),
                           SelftestOptions(), environment(tmp_path))
        network = by_name(bad)[("network", None)]
        assert not network.passed and "wrong-key" not in network.reason


def test_an_invalid_config_fails_the_checks_that_need_it(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("[machine]\ncolour = 1\n")
    checks = run_selftest(path, SelftestOptions(), environment(tmp_path))
    assert not checks[0].passed and "colour" in checks[0].reason
    assert all(not c.passed for c in checks)


def test_every_run_is_journalled(tmp_path: Path, module_sandbox: Sandbox) -> None:
    path = write_config(tmp_path, module_sandbox)
    run_selftest(path, SelftestOptions(network=False), environment(tmp_path, KEYBOARD_ONLY))
    run_selftest(path, SelftestOptions(network=False), environment(tmp_path))
    with Journal.open_in(tmp_path / "data") as journal:
        runs = journal.selftests()
    assert [run["passed"] for run in runs] == [False, False]  # A2's jam fails both
    assert any(c["name"] == "touch" and not c["passed"] for c in runs[1]["checks"])


def test_the_command_prints_json_and_exits_1_on_failure(
        tmp_path: Path, module_sandbox: Sandbox) -> None:
    path = write_config(tmp_path, module_sandbox)
    result = subprocess.run([*KIOSK, "selftest", "--config", str(path), "--json", "--slot", "A2",
                             "--no-network"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["passed"] is False
    assert any(c["name"] == "motor" and c["slot"] == "A2" and not c["passed"]
               for c in report["checks"])
    table = subprocess.run([*KIOSK, "selftest", "--config", str(path), "--no-motors",
                            "--no-network"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "SDL_VIDEODRIVER": "dummy"}).stdout
    assert "PASS  config" in table and "checks passed" in table


def test_a_multitouch_panel_is_found_by_its_axes_on_32_and_64_bit_kernels(tmp_path: Path) -> None:
    from kiosk.selftest import _touch

    for bitmap in ("2608000 3", "260800000000003"):
        devices = f'N: Name="Goodix Capacitive TouchScreen"\nB: ABS={bitmap}\n'
        assert _touch(environment(tmp_path, devices.replace("Touch", "Panel"))).passed
    assert not _touch(environment(tmp_path, 'N: Name="mouse"\nB: ABS=3\n')).passed


def mdb_toml(data_dir: Path, port: object) -> str:
    """Gateways nothing answers on (the checks run without the network), the MDB bridge at
    ``port``."""
    return selftest_toml(data_dir, NOWHERE, api_key="k", vend=mdb_vend(port),
                         slots=({**WATER, "mdb_item": 11},))


def test_the_mdb_bridge_check_speaks_to_a_real_bridge_over_a_pty(tmp_path: Path) -> None:
    from hardware.sim.mdb_bridge import SimulatedMdbMachine

    with SimulatedMdbMachine({11: 250}) as machine:
        path = tmp_path / "kiosk.toml"
        path.write_text(mdb_toml(tmp_path / "data", machine.port))
        checks = run_selftest(path, SelftestOptions(network=False), environment(tmp_path))
    bridge = by_name(checks)[("mdb_bridge", None)]
    assert bridge.passed and "SIMMDB" in bridge.reason, report_table(checks)
    assert "V" in machine.host_lines()


def test_the_mdb_bridge_check_fails_when_nothing_answers(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(mdb_toml(tmp_path / "data", tmp_path / "no-such-tty"))
    checks = run_selftest(path, SelftestOptions(network=False), environment(tmp_path))
    bridge = by_name(checks)[("mdb_bridge", None)]
    assert not bridge.passed and bridge.reason


def test_gpio_motor_checks_turn_each_slot_through_the_real_driver(tmp_path: Path,
                                                                   module_sandbox: Sandbox) -> None:
    from hardware.sim.gpio_machine import mock_gpio_driver

    driver, machine = mock_gpio_driver(faults={"2": "jam_returning"}, turn_timeout_s=0.6)
    try:
        config = write_config(tmp_path, module_sandbox)
        text = config.read_text().replace('[[slot]]\nid = "A1"', '[[slot]]\nmotor = 1\nid = "A1"')
        config.write_text(text.replace('[[slot]]\nid = "A2"', '[[slot]]\nmotor = 2\nid = "A2"'))
        checks = run_selftest(config, SelftestOptions(network=False), environment(tmp_path),
                              driver=driver)
        found = by_name(checks)
        assert found[("drop_beam", None)].passed
        assert found[("motor", "A1")].passed and "home to home" in found[("motor", "A1")].reason
        assert not found[("motor", "A2")].passed
        assert "home not regained" in found[("motor", "A2")].reason
        assert machine.turns("1") == 1
    finally:
        machine.close()


def test_config_warnings_pass_as_the_secrets_check_marked_warn(tmp_path: Path,
                                                                module_sandbox: Sandbox) -> None:
    """The test config keeps gateway secrets in kiosk.toml, and its secrets file is readable by
    everyone: the machine sells, the technician is told."""
    config = write_config(tmp_path, module_sandbox)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[operator]\npin_hash = "{hash_pin("2468", iterations=1000)}"\n')
    secrets.chmod(0o644)
    checks = run_selftest(config, SelftestOptions(move_motors=False, network=False),
                          environment(tmp_path))
    check = by_name(checks)[("secrets", None)]
    assert checks[-1] is check and check.passed and check.warning
    for words in ("[payment.wctpay] key: a secret in this file", "readable by group or others",
                  "weak: 1000 PBKDF2 iterations"):
        assert words in check.reason
    assert "sandbox-secret" not in check.reason
    report = report_json(checks)
    assert report["passed"] is True and report["warnings"] == 1
    assert {"name": "secrets", "passed": True, "warning": True}.items() <= \
        report["checks"][-1].items()
    table = report_table(checks)
    assert "WARN  secrets" in table and table.endswith("checks passed, 1 with warnings")


def test_without_warnings_the_secrets_check_simply_passes(tmp_path: Path,
                                                          module_sandbox: Sandbox) -> None:
    config = write_config(tmp_path, module_sandbox)
    config.write_text(re.sub(r"(?m)^(key|api_secret|api_key) = .*\n", "", config.read_text()))
    checks = run_selftest(config, SelftestOptions(move_motors=False, network=False),
                          environment(tmp_path))
    check = by_name(checks)[("secrets", None)]
    assert check.passed and not check.warning and check.reason.startswith("no warnings")
    assert report_json(checks)["warnings"] == 0 and "PASS  secrets" in report_table(checks)


def test_an_invalid_config_leaves_the_secrets_unchecked(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[display]\nrotation = "90"\n')
    checks = run_selftest(path, SelftestOptions(), environment(tmp_path))
    assert [c.name for c in checks] == ["config", "data_dir", "vend_hardware", "network",
                                        "secrets"]
    assert not any(c.passed for c in checks)
