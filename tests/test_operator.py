"""The operator menu: the pure model, the runtime with a real journal (PIN lockout surviving a
restart, every change journalled), the screens headless, ``kiosk set-pin``."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pygame
import pytest

from fakes import FakeTime
from harness import Harness, mixpay_toml, simulated_driver
from kiosk import cli
from kiosk import operator as op
from kiosk.config import Config, load_config
from kiosk.flow import Screen, StartTapped
from kiosk.journal import SCHEMA_VERSION, Journal
from kiosk.operator_pin import hash_pin, verify_pin, with_pin_hash
from kiosk.sim import Sandbox
from kiosk.ui.operator_screens import render_operator

PIN = "2468"


# ---------------------------------------------------------------- the pure model


def step(state: op.OperatorState, event: object, now: float = 0.0,
         sale_idle: bool = True) -> op.OpTransition:
    return op.OperatorMenu().step(state, event, now, sale_idle=sale_idle)


def logged_in(now: float = 0.0) -> op.OperatorState:
    state = step(op.OperatorState(has_pin=True), op.CornerHeld(), now).state
    state = step(state, op.LockRead(0, 0.0), now).state
    return step(state, op.PinChecked(True, 0, 0.0), now).state


def test_the_gesture_opens_the_pin_screen_only_when_no_sale_is_under_way() -> None:
    closed = op.OperatorState(has_pin=True)
    assert step(closed, op.CornerHeld(), sale_idle=False).state == closed
    opened = step(closed, op.CornerHeld())
    assert opened.state.screen is op.OpScreen.PIN and opened.effects == (op.ReadLock(),)
    assert step(closed, op.PinDigit("1")).state == closed  # digits do nothing while closed


def test_digits_are_collected_and_ok_asks_the_runtime_to_check() -> None:
    state = step(op.OperatorState(has_pin=True), op.CornerHeld()).state
    state = step(state, op.LockRead(0, 0.0)).state
    for digit in PIN:
        state = step(state, op.PinDigit(digit)).state
    assert state.entry == PIN
    assert step(state, op.PinClear()).state.entry == ""
    checked = step(state, op.PinOk())
    assert checked.effects == (op.CheckPin(PIN),) and checked.state.checking
    assert step(checked.state, op.PinDigit("9")).state.entry == PIN  # ignored while checking
    menu = step(checked.state, op.PinChecked(True, 0, 0.0))
    assert menu.state.screen is op.OpScreen.MENU
    assert menu.effects == (op.RecordOperator("menu_opened"),)


def test_without_a_pin_hash_the_menu_cannot_be_opened() -> None:
    state = step(op.OperatorState(has_pin=False), op.CornerHeld()).state
    assert state.screen is op.OpScreen.PIN
    for event in (op.PinDigit("1"), op.PinDigit("2"), op.PinDigit("3"), op.PinDigit("4"),
                  op.PinOk()):
        transition = step(state, event)
        state = transition.state
        assert transition.effects == ()
    assert state.screen is op.OpScreen.PIN and state.entry == ""


def test_five_wrong_pins_lock_for_fifteen_minutes() -> None:
    clock = op.BootClock("boot-1", 50.0)
    failures: int = 0
    for _ in range(4):
        failures, lock = op.register_failure(failures, 100.0, clock)
        assert lock is None
    assert op.register_failure(failures, 100.0, clock) == (
        5, op.Lockout(100.0 + 15 * 60, "boot-1", 50.0 + 15 * 60))
    state = step(op.OperatorState(has_pin=True), op.CornerHeld()).state
    state = step(state, op.PinChecked(False, 5, 100.0 + 900)).state
    assert state.locked(100.0) and not state.locked(100.0 + 900)
    assert step(state, op.PinDigit("1"), 200.0).state.entry == ""


def test_a_lock_ends_only_when_both_clocks_say_so() -> None:
    boot = op.BootClock("boot-1", 50.0)
    lock = op.Lockout.start(1000.0, boot)
    assert lock.locked_until(1000.0, boot) == 1900.0
    # The wall clock steps 15 minutes forward: the monotonic clock still counts 14:59.
    stepped = lock.locked_until(1901.0, op.BootClock("boot-1", 51.0))
    assert stepped == 1901.0 + 899.0
    # Back: the wall clock has the later end.
    assert lock.locked_until(500.0, op.BootClock("boot-1", 1000.0)) == 1900.0
    assert lock.locked_until(1900.0, op.BootClock("boot-1", 950.0)) == 0.0   # both past


def test_a_lock_from_another_boot_is_counted_again_in_full() -> None:
    lock = op.Lockout(1900.0, "boot-1", 950.0)
    later = op.BootClock("boot-2", 5.0)                # a reboot: a new monotonic clock
    assert lock.locked_until(1800.0, later) == 1900.0  # its count is not this boot's
    carried = lock.carried_over(1800.0, later)
    assert carried == op.Lockout(1900.0, "boot-2", 5.0 + 15 * 60)
    assert carried.locked_until(1800.0, later) == 1800.0 + 900.0
    assert carried.carried_over(1800.0, later) is None   # carried once
    assert lock.carried_over(1900.0, later) is None      # over by the wall clock already
    assert op.Lockout(1900.0).carried_over(1800.0, later) is not None   # an older journal's
    assert lock.carried_over(1800.0, op.BootClock("", 5.0)) is None     # no boot id to count


def test_a_journalled_lock_detail_is_read_tolerantly() -> None:
    assert op.Lockout.from_detail({"until": 5, "boot_id": "b", "monotonic_until": 7.5}) == \
        op.Lockout(5.0, "b", 7.5)
    assert op.Lockout.from_detail({"until": 5}) == op.Lockout(5.0)
    assert op.Lockout.from_detail({"until": "x", "boot_id": 3, "monotonic_until": True}) == \
        op.Lockout(0.0)
    lock = op.Lockout(5.0, "b", 7.5)
    assert op.Lockout.from_detail(lock.detail()) == lock


def test_boot_clock_reads_this_boot() -> None:
    clock = op.boot_clock()
    assert clock.boot_id == op.BOOT_ID.read_text().strip() and clock.monotonic > 0


def test_stock_changes_and_re_enable_become_effects() -> None:
    state = logged_in()
    state = step(state, op.OpShow(op.OpScreen.STOCK)).state
    state = step(state, op.SlotsLoaded((op.SlotRow("A1", "Water", 2, 3),
                                        op.SlotRow("A2", "Cola", 0, 5, True, "jam")))).state
    plus = step(state, op.StockAdjust("A1", 1))
    assert plus.effects == (op.SetStock("A1", 3),) and plus.state.row("A1").stock == 3
    assert step(state, op.StockAdjust("A2", -1)).effects == ()   # never below zero
    assert step(state, op.StockFull("A2")).effects == (op.SetStock("A2", 5, "set_full"),)
    enable = step(state, op.SlotEnable("A2"))
    assert enable.effects == (op.EnableSlot("A2"),)
    assert not enable.state.row("A2").disabled
    assert step(state, op.SlotEnable("A1")).effects == ()        # already on sale


def test_the_menu_closes_after_two_minutes_without_a_touch_and_on_exit() -> None:
    state = logged_in(now=0.0)
    state = step(state, op.OpShow(op.OpScreen.SALES), 60.0).state
    assert step(state, object(), 179.0).state.open
    closed = step(state, object(), 180.0)
    assert not closed.state.open
    assert closed.effects == (op.RecordOperator("menu_closed", {"reason": "idle"}),)
    assert not step(state, op.OpExit(), 61.0).state.open


def test_sales_are_summed_by_item_and_coin_for_today_and_the_period() -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
    old = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 30 * 86400))
    rows = [{"status": "vended", "created_at": stamp, "amount": "2.50", "currency": "USD",
             "item_name": "Water", "asset": "BTC"},
            {"status": "vended", "created_at": stamp, "amount": "1.50", "currency": "USD",
             "item_name": "Cola", "asset": "BTC"},
            {"status": "cancelled", "created_at": stamp, "amount": "9.00", "currency": "USD",
             "item_name": "Cola", "asset": "ETH"},
            {"status": "vended", "created_at": old, "amount": "2.50", "currency": "USD",
             "item_name": "Water", "asset": "ETH"}]
    summary = op.sales_summary(rows, now)
    assert summary.today.count == summary.period.count == 2
    assert summary.today.amounts == (("USD", "4.00"),)
    assert summary.today.by_coin == (("BTC", 2, "4.00 USD"),)
    assert set(summary.today.by_item) == {("Water", 1, "2.50 USD"), ("Cola", 1, "1.50 USD")}


# ---------------------------------------------------------------- PIN hashing and set-pin


def test_pin_hash_is_salted_self_describing_and_verified() -> None:
    first, second = hash_pin(PIN, iterations=1000), hash_pin(PIN, iterations=1000)
    assert first != second and first.startswith("pbkdf2_sha256$1000$")
    assert verify_pin(PIN, first) and not verify_pin("1357", first)
    assert not verify_pin(PIN, "") and not verify_pin(PIN, "md5$1$00$00")


def test_with_pin_hash_keeps_the_other_secrets() -> None:
    text = '[payment.wctpay]\nkey = "k"\n\n[operator]\npin_hash = "old"\n'
    assert with_pin_hash(text, "new") == (
        '[payment.wctpay]\nkey = "k"\n\n[operator]\npin_hash = "new"\n')
    assert with_pin_hash('[payment.wctpay]\nkey = "k"\n', "new").endswith(
        '\n[operator]\npin_hash = "new"\n')


def test_set_pin_writes_the_secrets_file_in_place(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kiosk.toml").write_text("")       # set-pin wants the config it sits beside
    (tmp_path / "kiosk.toml").touch()   # set-pin refuses a config that does not exist
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[operator]\npin_hash = ""\n')
    secrets.chmod(0o600)
    inode = secrets.stat().st_ino
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    assert cli.main(["set-pin", "--config", str(tmp_path / "kiosk.toml"),
                     "--pin-from-stdin"]) == 0
    assert secrets.stat().st_ino == inode
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    stored = secrets.read_text().split('"')[1]
    assert verify_pin(PIN, stored)
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert cli.main(["set-pin", "--config", str(tmp_path / "kiosk.toml"),
                     "--pin-from-stdin"]) == 1


# ---------------------------------------------------------------- journal


def test_a_version_2_journal_gets_the_operator_events_table(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE operator_events")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with Journal(path) as journal:
        journal.operator_event("pin_failed", {"failures": 1})
        assert journal.pin_lockout() == (1, 0.0)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    check.close()


def test_pin_lockout_counts_back_to_the_last_good_pin_or_lock(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as journal:
        journal.operator_event("pin_failed", {})
        journal.operator_event("pin_ok", {})
        journal.operator_event("restock", {"slot": "A1"})
        journal.operator_event("pin_failed", {})
        assert journal.pin_lockout() == (1, 0.0)
        journal.operator_event("pin_locked", {"until": 500.0})
        assert journal.pin_lockout() == (0, 500.0)
        journal.operator_event("pin_failed", {})
        assert journal.pin_lockout() == (1, 500.0)


# ---------------------------------------------------------------- runtime + real journal


class Kiosk(Harness):
    """The runtime harness with the operator menu's gestures, on ``clock`` for the wall clock."""

    poll_s = 0.01

    def __init__(self, config: Config, clock: FakeTime, boot: FakeBoot | None = None) -> None:
        self.clock = clock
        # The UI thread's ``now``: this boot's monotonic clock, which no wall-clock step moves.
        self.monotonic: Callable[[], float] = (
            time.monotonic if boot is None else lambda: boot.monotonic)
        super().__init__(config, simulated_driver(config), clock=self.monotonic,
                         wall_clock=clock)
        self.wait_for(lambda: self.runtime.state.screen is Screen.ATTRACT)

    @property
    def menu(self) -> op.OperatorState:
        return self.runtime.operator

    def locked(self) -> bool:
        """As the UI thread sees it: on the monotonic clock, whatever the wall clock says."""
        return self.menu.locked(self.monotonic())

    def timed_out(self) -> str:
        return f"timed out: flow {self.runtime.state.screen}, menu {self.menu}"

    def open_pin_screen(self) -> None:
        self.runtime.post(op.CornerHeld())
        self.wait_for(lambda: self.menu.screen is op.OpScreen.PIN and not self.menu.checking)

    def enter(self, pin: str) -> None:
        for digit in pin:
            self.runtime.post(op.PinDigit(digit))
        self.runtime.post(op.PinOk())
        self.wait_for(lambda: not self.menu.checking)

    def live_journal(self) -> Journal:
        return self.runtime.journal   # the same file the kiosk writes


def make_config(tmp_path: Path, pin_hash: str | None, sandbox: Sandbox) -> Config:
    path = mixpay_toml(tmp_path, sandbox, timeout_s=None, poll_interval_s=None)
    if pin_hash is not None:
        (tmp_path / "secrets.toml").write_text(f'[operator]\npin_hash = "{pin_hash}"\n')
        os.chmod(tmp_path / "secrets.toml", 0o600)
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path, module_sandbox: Sandbox) -> Config:
    """The kiosk is in service only while its gateway answers: one sandbox for the module."""
    return make_config(tmp_path, hash_pin(PIN, iterations=1000), module_sandbox)


@pytest.fixture
def kiosk(config: Config) -> Iterator[Kiosk]:
    running = Kiosk(config, FakeTime(time.time()))
    yield running
    running.close()


def test_the_right_pin_opens_the_menu_and_customers_are_kept_out(kiosk: Kiosk) -> None:
    kiosk.open_pin_screen()
    kiosk.enter(PIN)
    assert kiosk.menu.screen is op.OpScreen.MENU
    kiosk.runtime.post(StartTapped())
    kiosk.runtime.pump()
    assert kiosk.runtime.state.screen is Screen.ATTRACT   # no customer while the menu is open
    kiosk.runtime.post(op.OpExit())
    kiosk.wait_for(lambda: not kiosk.menu.open)
    kiosk.runtime.settle(5, watches=False)
    kinds = [e["kind"] for e in kiosk.live_journal().operator_events()]
    assert kinds == ["pin_ok", "menu_opened", "menu_closed"]


def test_the_gesture_from_the_item_list_returns_the_flow_to_attract(kiosk: Kiosk) -> None:
    kiosk.runtime.post(StartTapped())   # the gesture's press lands on "touch to start"
    kiosk.wait_for(lambda: kiosk.runtime.state.screen is Screen.CHOOSE_ITEM)
    kiosk.open_pin_screen()
    assert kiosk.runtime.state.screen is Screen.ATTRACT


class FakeBoot:
    """This boot's monotonic clock and id, for the runtime's ``op.boot_clock``."""

    def __init__(self, boot_id: str = "boot-1", monotonic: float = 1000.0) -> None:
        self.boot_id = boot_id
        self.monotonic = monotonic

    def __call__(self) -> op.BootClock:
        return op.BootClock(self.boot_id, self.monotonic)


@pytest.fixture
def boot(monkeypatch: pytest.MonkeyPatch) -> FakeBoot:
    fake = FakeBoot()
    monkeypatch.setattr(op, "boot_clock", fake)
    return fake


def lock_out(kiosk: Kiosk) -> None:
    kiosk.open_pin_screen()
    for attempt in range(1, 6):
        kiosk.enter("0000")
        assert kiosk.menu.failures == attempt
    assert kiosk.locked() and kiosk.menu.screen is op.OpScreen.PIN


def test_a_forward_clock_step_does_not_lift_the_lock(config: Config, boot: FakeBoot) -> None:
    clock = FakeTime(time.time())
    kiosk = Kiosk(config, clock, boot)
    try:
        lock_out(kiosk)
        clock.now += 15 * 60 + 1                 # NTP steps the wall clock; 1 s really passed
        boot.monotonic += 1
        kiosk.enter(PIN)
        assert kiosk.menu.screen is op.OpScreen.PIN
        assert kiosk.locked() and "locked" in kiosk.menu.message
        assert kiosk.menu.locked_until == pytest.approx(kiosk.monotonic() + 15 * 60 - 1)
        kiosk.runtime.post(op.OpBack())           # the PIN screen, opened again, shows it too
        kiosk.wait_for(lambda: not kiosk.menu.open)
        kiosk.open_pin_screen()
        assert kiosk.locked()
        clock.now += 15 * 60                       # 15 minutes really pass: both clocks move
        boot.monotonic += 15 * 60
        kiosk.enter(PIN)
        assert kiosk.menu.screen is op.OpScreen.MENU
    finally:
        kiosk.close()


def test_a_restart_in_the_same_boot_keeps_counting(config: Config, boot: FakeBoot) -> None:
    clock = FakeTime(time.time())
    first = Kiosk(config, clock, boot)
    try:
        lock_out(first)
    finally:
        first.close()
    clock.now += 60 * 60                           # the wall clock jumps an hour ahead
    boot.monotonic += 14 * 60                      # while the kiosk restarts 14 minutes later
    second = Kiosk(config, clock, boot)
    try:
        second.open_pin_screen()
        assert second.locked()
        clock.now += 61
        boot.monotonic += 61
        second.enter(PIN)
        assert second.menu.screen is op.OpScreen.MENU
        kinds = [e["kind"] for e in second.live_journal().operator_events()]
        assert "pin_locked" in kinds and kinds.count("pin_locked") == 1   # nothing carried
    finally:
        second.close()


def test_a_lock_journalled_before_the_rule_is_counted_in_full(config: Config,
                                                               boot: FakeBoot) -> None:
    clock = FakeTime(time.time())
    with Journal.open_in(config.machine.data_dir) as journal:
        journal.operator_event("pin_locked", {"failures": 5, "until": clock() + 60})
    kiosk = Kiosk(config, clock, boot)
    try:
        kiosk.open_pin_screen()
        assert kiosk.menu.locked_until == pytest.approx(kiosk.monotonic() + 15 * 60)
        clock.now += 61
        kiosk.enter(PIN)
        assert kiosk.menu.screen is op.OpScreen.PIN
        detail = kiosk.live_journal().operator_events()[-1]["detail"]
        assert detail["carried_over"] and detail["boot_id"] == "boot-1"
    finally:
        kiosk.close()


def test_operator_pin_lockout_survives_a_restart(config: Config, boot: FakeBoot) -> None:
    clock = FakeTime(time.time())
    first = Kiosk(config, clock, boot)
    try:
        lock_out(first)
        first.enter(PIN)                       # the right PIN does not help while locked
        assert first.menu.screen is op.OpScreen.PIN
        first.runtime.settle(5, watches=False)
        events = first.live_journal().operator_events()
        assert [e["kind"] for e in events] == ["pin_failed"] * 5 + ["pin_locked"]
        assert events[-1]["detail"]["until"] == pytest.approx(clock() + 15 * 60)
    finally:
        first.close()
    clock.now += 14 * 60                       # a reboot, 14 minutes later
    boot.boot_id, boot.monotonic = "boot-2", 20.0
    second = Kiosk(config, clock, boot)
    try:
        second.open_pin_screen()
        assert second.locked()
        second.enter(PIN)
        assert second.menu.screen is op.OpScreen.PIN
        clock.now += 61                        # the wall clock's 15 minutes are over, but
        boot.monotonic += 61                   # the new boot counts its own 15 in full
        second.enter(PIN)
        assert second.menu.screen is op.OpScreen.PIN
        clock.now += 15 * 60
        boot.monotonic += 15 * 60
        second.enter(PIN)
        assert second.menu.screen is op.OpScreen.MENU
    finally:
        second.close()


def test_no_pin_hash_means_the_menu_cannot_be_opened(tmp_path: Path,
                                                     module_sandbox: Sandbox) -> None:
    kiosk = Kiosk(make_config(tmp_path, None, module_sandbox), FakeTime(time.time()))
    try:
        kiosk.open_pin_screen()
        kiosk.enter("0000")
        assert kiosk.menu.screen is op.OpScreen.PIN and not kiosk.menu.has_pin
        assert kiosk.live_journal().operator_events() == []
    finally:
        kiosk.close()


def test_restock_re_enable_and_test_vend_are_journalled(kiosk: Kiosk) -> None:
    kiosk.open_pin_screen()
    kiosk.enter(PIN)
    kiosk.runtime.post(op.OpShow(op.OpScreen.TEST_VEND))
    kiosk.wait_for(lambda: bool(kiosk.menu.slots))
    kiosk.runtime.post(op.TestVendPressed("A2"))      # A2 jams on the simulated machine
    kiosk.wait_for(lambda: not kiosk.menu.vending_slot)
    kiosk.wait_for(lambda: "A2" in kiosk.runtime.state.disabled)
    kiosk.runtime.post(op.OpBack())
    kiosk.runtime.post(op.OpShow(op.OpScreen.STOCK))
    kiosk.wait_for(lambda: kiosk.menu.screen is op.OpScreen.STOCK
               and bool(kiosk.menu.row("A2") and kiosk.menu.row("A2").disabled))
    kiosk.runtime.post(op.SlotEnable("A2"))
    kiosk.runtime.post(op.StockAdjust("A1", -1))
    kiosk.runtime.post(op.StockFull("A2"))
    kiosk.wait_for(lambda: "A2" not in kiosk.runtime.state.disabled
               and kiosk.runtime.state.stock.get("A1") == 2)
    kiosk.runtime.settle(5, watches=False)
    slots = kiosk.live_journal().slot_states()
    assert slots["A1"].stock == 2 and not slots["A2"].disabled
    assert kiosk.runtime.state.stock["A2"] == slots["A2"].stock == kiosk.config.slot("A2").stock
    kinds = [e["kind"] for e in kiosk.live_journal().operator_events()]
    assert kinds[:2] == ["pin_ok", "menu_opened"]
    assert kinds[2:] == ["test_vend_started", "test_vend", "slot_enabled", "restock",
                         "set_full"]
    assert kiosk.live_journal().transactions() == []   # a test vend is not a sale


def test_sales_and_status_are_loaded_off_the_ui_thread(kiosk: Kiosk) -> None:
    kiosk.open_pin_screen()
    kiosk.enter(PIN)
    kiosk.runtime.post(op.OpShow(op.OpScreen.SALES))
    kiosk.wait_for(lambda: kiosk.menu.sales is not None)
    assert kiosk.menu.sales.today.count == 0
    kiosk.runtime.post(op.OpBack())
    kiosk.runtime.post(op.OpShow(op.OpScreen.STATUS))
    kiosk.wait_for(lambda: kiosk.menu.status is not None)
    status = kiosk.menu.status
    assert status.hardware[0] and status.gateway[0]
    assert status.gateway[1].startswith("mixpay: ") and status.network[0]


# ---------------------------------------------------------------- screens


@pytest.fixture(scope="module")
def surface() -> Iterator[pygame.Surface]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    pygame.display.init()
    pygame.font.init()
    yield pygame.Surface((800, 480))


def screens() -> list[op.OperatorState]:
    slots = tuple(op.SlotRow(f"A{n}", f"Item {n}", n, 5, n == 2, "jam") for n in range(1, 8))
    totals = op.Totals(2, (("USD", "4.00"),), (("Water", 2, "4.00 USD"),),
                       (("BTC", 2, "4.00 USD"),))
    return [op.OperatorState(screen=op.OpScreen.PIN, has_pin=True, entry="12"),
            op.OperatorState(screen=op.OpScreen.PIN, has_pin=False),
            op.OperatorState(screen=op.OpScreen.PIN, has_pin=True, locked_until=1e12),
            op.OperatorState(screen=op.OpScreen.MENU, has_pin=True),
            op.OperatorState(screen=op.OpScreen.STOCK, has_pin=True, slots=slots),
            op.OperatorState(screen=op.OpScreen.STOCK, has_pin=True, slots=slots, page=1),
            op.OperatorState(screen=op.OpScreen.TEST_VEND, has_pin=True, slots=slots),
            op.OperatorState(screen=op.OpScreen.SALES, has_pin=True,
                             sales=op.SalesSummary(totals, totals)),
            op.OperatorState(screen=op.OpScreen.STATUS, has_pin=True,
                             status=op.StatusReport((True, "ok"), (False, "down"),
                                                    (True, "ready")))]


@pytest.mark.parametrize("state", screens(), ids=lambda s: f"{s.screen.value}")
def test_operator_screens_render_with_big_targets_inside_the_screen(
        surface: pygame.Surface, state: op.OperatorState) -> None:
    buttons = render_operator(surface, state, 1000.0)
    assert buttons
    screen = surface.get_rect()
    for button in buttons:
        assert screen.contains(button.rect), button.name
        assert button.rect.width >= 48 and button.rect.height >= 48, button.name
    if state.screen is op.OpScreen.PIN and state.has_pin:
        assert {f"key-{d}" for d in "0123456789"} <= {b.name for b in buttons}
    if state.screen is op.OpScreen.STOCK:
        names = {b.name for b in buttons}
        assert "next-page" in names
        if state.page == 0:
            assert {"plus-A1", "minus-A1", "full-A1", "enable-A2"} <= names
