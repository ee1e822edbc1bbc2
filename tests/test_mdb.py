"""The MDB driver over a real pseudo-terminal against the simulated bridge and machine."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from hardware.base import KeypadSelection, VendOutcome, VendRequest, VendResult
from hardware.mdb import MdbDriver
from hardware.sim.mdb_bridge import SimulatedMdbMachine

ITEMS = {11: 250, 12: 300}
EURO = "C,SETCONF,mdb-currency-code=0x1978"
FAST: dict[str, Any] = {
    "setconf": [EURO], "patience_s": 2.0, "selection_timeout_s": 3.0, "dispense_timeout_s": 3.0,
    "silence_timeout_s": 3.0, "reconnect_backoff_s": (0.05, 0.1), "reply_timeout_s": 0.5,
    "enable_timeout_s": 1.0,
}
DENIES = ("C,STOP", "C,VEND,-1")
STARTUP = ["V", "C,0", "C,SETCONF,mdb-addr=0x10", EURO, "C,1"]

Rig = Callable[..., tuple[SimulatedMdbMachine, MdbDriver]]


@pytest.fixture
def rig() -> Iterator[Rig]:
    """Build a simulated machine and a driver connected to it; close both afterwards."""
    opened: list[SimulatedMdbMachine | MdbDriver] = []

    def build(items: Mapping[int, int] = ITEMS, faults: Mapping[int, str] | None = None,
              dispense_s: float = 0.05, customer_delay_s: float = 0.05,
              **driver: Any) -> tuple[SimulatedMdbMachine, MdbDriver]:
        machine = SimulatedMdbMachine(items, faults=faults, poll_interval_s=0.1,
                                      dispense_s=dispense_s, customer_delay_s=customer_delay_s)
        opened.append(machine)
        mdb = MdbDriver(port=machine.port, **{**FAST, **driver})
        opened.append(mdb)
        assert mdb.wait_ready(3).ready
        return machine, mdb

    yield build
    for thing in reversed(opened):
        thing.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def request(item: int = 11, price: int = 250) -> VendRequest:
    return VendRequest(f"slot{item}", price, mdb_item=item)


def approvals(machine: SimulatedMdbMachine) -> list[str]:
    return [line for line in machine.host_lines()
            if line.startswith("C,VEND,") and line != "C,VEND,-1"]


def listen(driver: MdbDriver) -> queue.Queue[KeypadSelection]:
    selections: queue.Queue[KeypadSelection] = queue.Queue()
    driver.set_selection_listener(selections.put)
    return selections


def vend_soon(pool: ThreadPoolExecutor, driver: MdbDriver, req: VendRequest) -> Future[VendResult]:
    return pool.submit(driver.vend, req)


# -- start-up -------------------------------------------------------------------------------


def test_start_up_probes_the_version_configures_and_enables(rig: Rig) -> None:
    machine, driver = rig()
    assert machine.host_lines()[:5] == STARTUP
    assert machine.config == {"mdb-addr": "0x10", "mdb-currency-code": "0x1978"}
    assert driver.version == "v,3.1.0.0,SIMMDB0001"
    assert driver.health().ready


def test_second_cashless_address(rig: Rig) -> None:
    machine, _ = rig(address=0x60)
    assert machine.config["mdb-addr"] == "0x60"


def test_probe_reports_the_version_or_the_fault(rig: Rig) -> None:
    machine, driver = rig()
    [probe] = driver.probes([request()], move_motors=True)
    assert probe.name == "mdb_bridge" and probe.passed
    assert "v,3.1.0.0,SIMMDB0001" in probe.reason and "enabled" in probe.reason
    machine.unplug()
    [probe] = driver.probes([request()], move_motors=False)
    assert not probe.passed and "MDB bridge not answering" in probe.reason
    assert approvals(machine) == []


# -- touchscreen first -------------------------------------------------------------------------


def test_touchscreen_sale_opens_a_session_with_the_paid_amount(rig: Rig) -> None:
    machine, driver = rig()
    assert driver.vend_prompt(request()) == "Select 11 on the machine's keypad"
    result = driver.vend(request())
    assert result.outcome is VendOutcome.VENDED
    assert machine.host_lines()[5:] == ["C,START,2.50", "C,VEND,2.50"]
    assert machine.vended == [11]


def test_wrong_items_are_denied_until_the_paid_one_is_pressed(rig: Rig) -> None:
    machine, driver = rig(items={11: 250, 12: 250, 13: 300})
    machine.choose(12, 13, 11)  # same price, other item; other price; then the right one
    assert driver.vend(request(11, 250)).vended
    assert machine.host_lines()[5:] == ["C,START,2.50", "C,STOP", "C,START,2.50", "C,STOP",
                                        "C,START,2.50", "C,VEND,2.50"]
    assert machine.vended == [11]


def test_the_simulated_customer_tries_another_item_of_the_same_price(rig: Rig) -> None:
    machine, driver = rig(items={11: 250, 12: 250})
    assert driver.vend(request(12, 250)).vended  # presses 11 first, is denied, presses 12
    assert machine.host_lines()[5:] == ["C,START,2.50", "C,STOP", "C,START,2.50", "C,VEND,2.50"]
    assert machine.vended == [12]


def test_vend_failure_is_a_failed_outcome(rig: Rig) -> None:
    machine, driver = rig(faults={11: "fail"})
    result = driver.vend(request())
    assert result.outcome is VendOutcome.NO_DROP and "c,ERR,VEND 3" in result.detail
    assert machine.vended == [] and len(approvals(machine)) == 1


def test_no_result_after_approval_is_unknown_and_the_vend_is_never_denied(rig: Rig) -> None:
    machine, driver = rig(faults={11: "no_answer"}, dispense_timeout_s=0.6)
    result = driver.vend(request())
    assert result.outcome is VendOutcome.UNKNOWN
    assert "no VEND SUCCESS" in result.detail and "0.6 s dispense budget" in result.detail
    assert not machine.wait_for_host("C,STOP", timeout_s=0.3)  # the machine may still drop it
    lines = machine.host_lines()
    after_approval = lines[lines.index("C,VEND,2.50") + 1:]
    assert not set(after_approval) & set(DENIES) and approvals(machine) == ["C,VEND,2.50"]


def test_a_dispense_outlasting_the_selection_budget_is_vended(rig: Rig) -> None:
    # The reproduction of issue #9: VEND SUCCESS came after the one old budget had run out.
    machine, driver = rig(selection_timeout_s=0.5, dispense_timeout_s=3.0, dispense_s=1.0)
    result = driver.vend(request())
    assert result.outcome is VendOutcome.VENDED and machine.vended == [11]
    assert not set(machine.host_lines()) & set(DENIES)


def test_the_walk_to_the_keypad_does_not_eat_the_dispense_budget(rig: Rig) -> None:
    machine, driver = rig(selection_timeout_s=3.0, dispense_timeout_s=0.9,
                          customer_delay_s=0.8, dispense_s=0.3)  # 1.1 s in all
    assert driver.vend(request()).outcome is VendOutcome.VENDED
    assert machine.vended == [11] and not set(machine.host_lines()) & set(DENIES)


def test_nobody_pressing_times_out_and_ends_the_session(rig: Rig) -> None:
    machine, driver = rig(selection_timeout_s=0.5)
    result = driver.vend(request(11, 999))  # no item costs 9.99: the customer never presses
    assert result.outcome is VendOutcome.TIMEOUT
    assert "nobody selected item 11" in result.detail and "selection budget" in result.detail
    assert machine.wait_for_host("C,STOP")
    assert machine.host_lines()[5:] == ["C,START,9.99", "C,STOP"]


def test_bridge_refusing_the_session_denies(rig: Rig, pool: ThreadPoolExecutor) -> None:
    machine, driver = rig()
    sale = vend_soon(pool, driver, request(11, 999))
    assert machine.wait_for_host("C,START,9.99")
    machine.inject('c,ERR,"START -3"')
    result = sale.result(timeout=2)
    assert result.outcome is VendOutcome.DENIED and "START -3" in result.detail
    assert machine.wait_for_host("C,STOP") and approvals(machine) == []


def test_vend_while_the_bridge_is_away_is_denied_without_a_session(rig: Rig) -> None:
    machine, driver = rig()
    machine.unplug()
    assert _eventually(lambda: not driver.health().ready)
    result = driver.vend(request())
    assert result.outcome is VendOutcome.DENIED and "not answering" in result.detail
    assert "C,START,2.50" not in machine.host_lines()


# -- keypad first ------------------------------------------------------------------------------


def test_keypad_selection_is_paid_then_approved(rig: Rig) -> None:
    machine, driver = rig()
    selections = listen(driver)
    machine.press(12)
    assert selections.get(timeout=2) == KeypadSelection(12, 300)
    assert driver.vend_prompt(request(12, 300)) == ""  # already pressed
    assert driver.vend(request(12, 300)).vended
    assert "C,START,3.00" not in machine.host_lines()
    assert approvals(machine) == ["C,VEND,3.00"] and machine.vended == [12]


def test_keypad_selection_released_is_denied(rig: Rig) -> None:
    machine, driver = rig()
    selections = listen(driver)
    machine.press(11)
    selections.get(timeout=2)
    driver.release_selection()
    assert machine.wait_for_host("C,STOP")
    assert approvals(machine) == []


def test_patience_runs_out_then_a_late_vend_is_denied(rig: Rig) -> None:
    machine, driver = rig(patience_s=0.3)
    selections = listen(driver)
    machine.press(11)
    selections.get(timeout=2)
    assert machine.wait_for_host("C,STOP")
    result = driver.vend(request())
    assert result.outcome is VendOutcome.DENIED and "patience" in result.detail
    assert approvals(machine) == [] and "C,START,2.50" not in machine.host_lines()


def test_keypad_selection_without_a_listener_is_denied(rig: Rig) -> None:
    machine, _ = rig()
    machine.press(11)
    assert machine.wait_for_host("C,STOP")


def test_deny_command_is_configurable(rig: Rig) -> None:
    machine, driver = rig(deny_command="C,VEND,-1")
    selections = listen(driver)
    machine.press(11)
    selections.get(timeout=2)
    driver.release_selection()
    assert machine.wait_for_host("C,VEND,-1")
    assert "C,STOP" not in machine.host_lines() and approvals(machine) == []


# -- robustness --------------------------------------------------------------------------------


def test_garbage_unknown_lines_and_poll_noise_are_skipped(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    machine, driver = rig()
    caplog.set_level(logging.WARNING, logger="hardware.mdb")
    machine.inject(b"\xff\xfe\x00\x81junk\n")            # binary, not UTF-8
    machine.inject("c,STATUS,VEND,abc,11")               # malformed known line
    machine.inject("z,SOMETHING,NEW")                    # unknown
    machine.inject(b"c,STA" + b"\x07" * 300)             # a partial line drowned in junk
    machine.inject("\nr,ACK")
    assert driver.vend(request()).vended
    assert driver.health().ready and approvals(machine) == ["C,VEND,2.50"]
    skipped = " ".join(r.getMessage() for r in caplog.records)
    assert "garbage" in skipped and "z,SOMETHING,NEW" in skipped and "junk" in skipped


def test_unplugged_bridge_is_reported_then_reconnected(rig: Rig) -> None:
    machine, driver = rig()
    machine.unplug()
    assert _eventually(lambda: not driver.health().ready)
    assert driver.health().reason.startswith("MDB bridge not answering")
    machine.replug()
    assert driver.wait_ready(3).ready
    lines = machine.host_lines()
    assert lines[:5] == STARTUP and lines[-5:] == STARTUP
    assert driver.vend(request()).vended


def test_silent_bridge_is_a_fault_then_recovers(rig: Rig) -> None:
    machine, driver = rig(silence_timeout_s=0.6)
    machine.hang()
    assert _eventually(lambda: "not answering" in driver.health().reason, timeout_s=3)
    assert "no line" in driver.health().reason
    assert machine.host_lines().count("V") >= 2  # the keep-alive asked before giving up
    machine.recover()
    assert driver.wait_ready(3).ready


@pytest.mark.parametrize("lose", ["reset", "unplug"])
def test_reset_between_approval_and_success_counts_as_vended(
        rig: Rig, pool: ThreadPoolExecutor, lose: str) -> None:
    machine, driver = rig(faults={11: "no_answer"})
    sale = vend_soon(pool, driver, request())
    assert machine.wait_for_host("C,VEND,2.50")
    getattr(machine, lose)()
    result = sale.result(timeout=3)
    assert result.outcome is VendOutcome.VENDED and "counts" in result.detail


def test_never_two_approvals_in_one_session(rig: Rig, pool: ThreadPoolExecutor) -> None:
    machine, driver = rig(faults={11: "no_answer"})
    sale = vend_soon(pool, driver, request())
    assert machine.wait_for_host("C,VEND,2.50")
    machine.inject("c,STATUS,VEND,2.50,11")   # mid-vend (uninterruptible): ignored
    machine.inject("c,STATUS,VEND,3.00,12")
    machine.inject("c,VEND,SUCCESS")
    assert sale.result(timeout=2).vended
    assert "C,STOP" not in machine.host_lines()
    machine.inject("c,STATUS,VEND,2.50,11")   # a second vend in the paid session: denied
    assert machine.wait_for_host("C,STOP")
    assert approvals(machine) == ["C,VEND,2.50"]


def test_loop_url_is_accepted_but_an_echo_is_not_a_bridge() -> None:
    driver = MdbDriver(port="loop://", reply_timeout_s=0.2, reconnect_backoff_s=(5,))
    try:
        assert _eventually(lambda: "no reply to V" in driver.health().reason)
    finally:
        driver.close()


@pytest.mark.parametrize(("kwargs", "complaint"), [
    ({"port": "nope://x"}, "nope"),
    ({"address": 0x20}, "0x10 or 0x60"),
    ({"setconf": ["C,SETCONF,mdb-addr=0x60"]}, "address="),
    ({"setconf": ["C,1"]}, "C,SETCONF"),
    ({"deny_command": ""}, "deny_command"),
    ({"reconnect_backoff_s": ()}, "reconnect_backoff_s"),
    ({"selection_timeout_s": 0}, "selection_timeout_s"),
    ({"dispense_timeout_s": -1}, "dispense_timeout_s"),
])
def test_bad_settings_are_refused(kwargs: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        MdbDriver(**{"port": "loop://", **kwargs})


def test_close_disables_the_reader_and_is_safe_twice(rig: Rig) -> None:
    machine, driver = rig()
    driver.close()
    driver.close()
    assert machine.wait_for_host("C,0", count=2)
    assert not driver.health().ready


def _eventually(check: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout_s / 0.02)):
        if check():
            return True
        done.wait(0.02)
    return check()


# -- supervision ---------------------------------------------------------------------------


def test_a_bug_in_the_reader_is_out_of_service_then_retried(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import hardware.mdb as mdb_module

    machine, driver = rig()
    parse = mdb_module.proto.parse_line
    failing = threading.Event()
    failing.set()

    def buggy(raw: str, **kwargs: Any) -> Any:
        if failing.is_set():
            raise KeyError("injected")
        return parse(raw, **kwargs)

    monkeypatch.setattr(mdb_module.proto, "parse_line", buggy)
    with caplog.at_level(logging.ERROR, logger="hardware.mdb"):
        deadline = threading.Event()
        for _ in range(100):           # the next line the bridge sends meets the bug
            health = driver.health()
            if not health.ready:
                break
            deadline.wait(0.05)
    assert not health.ready and "MDB reader failing: KeyError" in health.reason
    assert any("the MDB reader failed" in r.message and r.exc_info for r in caplog.records)
    failing.clear()                    # the cause goes: the reader reconnects by itself
    assert driver.wait_ready(5).ready
    assert driver.vend(request()).vended
    assert machine.vended == [11]


# -- sim:// : the simulated bridge opened through pyserial's URL handlers ----------------------

def test_sim_url_opens_a_simulated_bridge_through_the_real_driver() -> None:
    import serial

    from hardware.sim.mdb_bridge import close_simulated_bridge, simulated_bridge

    url = "sim://test-mdb?items=11:250,12:300&faults=12:fail&poll_interval_s=0.1&dispense_s=0.05"
    driver = MdbDriver(port=url, **FAST)
    try:
        assert driver.wait_ready(3).ready
        machine = simulated_bridge(url)     # the very machine the driver's port opened
        assert machine.host_lines()[:5] == STARTUP
        assert machine.config == {"mdb-currency-code": "0x1978", "mdb-addr": "0x10"}
        assert driver.vend(request()).outcome is VendOutcome.VENDED
        failed = driver.vend(request(12, 300))
        assert failed.outcome is VendOutcome.NO_DROP and "c,ERR,VEND 3" in failed.detail
        assert machine.vended == [11]
        assert approvals(machine) == ["C,VEND,2.50", "C,VEND,3.00"]
        machine.unplug()                    # the same reconnect path as a pulled USB bridge
        assert _eventually(lambda: not driver.health().ready)
        machine.replug()                    # the driver reopens sim://...: the same machine
        assert driver.wait_ready(5).ready
        assert driver.vend(request()).vended and machine.vended == [11, 11]
    finally:
        driver.close()
        close_simulated_bridge(url)
    with pytest.raises(ValueError, match="unknown sim:// option 'prices'"):
        MdbDriver(port="sim://?prices=11:250", **FAST)
    with pytest.raises(ValueError, match="unknown fault"):
        serial.serial_for_url("sim://?items=11:250&faults=11:explode", do_not_open=True)
