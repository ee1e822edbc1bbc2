"""The EVA-DTS audit file (``kiosk dex``): a real journal with real sales, read back by an
independent reader (``dex_reader``), and compared with a machine's published file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from dex_reader import DexFile, parse, reference_crc16
from fakes import COLA, KIOSK, WATER, kiosk_toml, mixpay_table

import kiosk
from kiosk.claims import claim_code
from kiosk.config import Config, load_config
from kiosk.dex import RESET_KIND, audit_file, crc16
from kiosk.journal import Journal
from kiosk.payments.base import Order, PaymentRequest

UTC = timezone.utc
READ_AT = datetime(2026, 11, 21, 14, 30, 5, tzinfo=UTC)
PIE = {"id": "B1", "name": "Crème * brûlée", "price": "1.25"}   # an accent and a separator

# The first 80 lines of lanmark7/dex-utility TestData/Test-3.dex (a snack machine's file,
# DXS through SE; stored there with LF line ends): ST..SE is one whole transaction set.
PUBLISHED = """\
DXS*WTN4214682*VA*V0/6*1
ST*001*0001
ID1*WTN11120310057*GVC2        *9660***
ID4*2*001*1
CB1*11120310057*GVC2        *9660
VA1*225*3*225*3*0*0*0*0
VA2*93075*1241*93075*1241
VA3*18750*250*18750*250
CA1*MAK128S52356   *MCM5        ***
CA2*225*3*225*3
CA3*340*0*240*1*340*0*240*1*100*100
CA4*115*0*115*0
CA8*0*0
CA9*0*0*0*0
CA10**0
CA15*0*TUBE1*0*0*0*0*0*0*0*0
CA15*0*TUBE2*0*0*0*0*0*0*0*0
CA16*0*0
TA2*0*0*0*0*0*0*0*0
PA1*010*75*****
PA2*0*0*0*0*0*0*0*0*0*0*0*0
PA3*367*27525*367*27525
PA4*249*18675*249*18675
PA5*20130519*135527*0
EA2*ELA*70*70
PA1*012*75*****1
PA2*3*225*3*225*0*0*0*0*0*0*0*0
PA3*1*75*1*75
PA4*0*0*0*0
PA5*20120216*124038*0
PA1*020*75*****1
PA2*0*0*0*0*0*0*0*0*0*0*0*0
PA3*836*62700*836*62700
PA4*1*75*1*75
PA5*20120601*130938*0
EA2*EGS*0*0
EA3*0*241022*0348*0520650000*****5*0
EA7*373*373
MA5*ERROR*Optical Vend Error
MA5*ERROR*Coin Mech Comm
MA5*Coin Rej Rate*0
MA5*Bill Rej Rate*50
MA5*STS*010*010
MA5*STS*012*012
MA5*STS*020*020
MA5*OPTIONS*FREE,ESCROW,POS,BEEP,2WIRE
MA5*ATTACHED*NONE
MA5*CAN
MA5*BOTTLE
MA5*SNACK*010-099
MA5*AUTOR*1*ALL
MA5*OPTIC*1*ALL
MA5*PROMO*0
MA5*LANG*ENG
MA5*TIME*1*241022*0348*OFF
MA5*ENERGY1*0*MON,TUE,WED,THU,FRI*0000*MON,TUE,WED,THU,FRI*0600*F*50*1
MA5*ENERGY2*0*SUN,SAT*0000*SUN,SAT*2359*F*61*1
MA5*TEMP*Snack*OPEN*F*---
MA5*BLC1*0*ALL*0000*ALL*2359*ALL*0
MA5*BLC2*0**0000**2359**0
MA5*BLC3*0**0000**2359**0
MA5*BLC4*0**0000**2359**0
MA5*DISC*0**0000**2359*ALL*0
MA5*CPN1*ALL*0
MA5*CPN2*ALL*0
MA5*CPN3*ALL*0
MA5*CPN4*ALL*0
MA5*CPN5*ALL*0
MA5*TKN1*ALL*0
MA5*TKN2*ALL*0
MA5*TKN3*ALL*0
MA5*TKN4*ALL*0
MA5*TKN5*ALL*0
MA5*HLTH1*1*ALL*0
MA5*HLTH2*1**0
MA5*PPOS*1*"...Enjoy a Snack Now...                 "
MA5*PPOS*2*"                 ...Enjoy a Snack Now..."
SD1*000000
G85*33B8
SE*79*0001
DXE*1*1
"""


class Clock:
    """The journal's clock: from 10:00 UTC, one second on every reading."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "kiosk.toml"
    path.write_text(kiosk_toml(tmp_path / "data",
                               machine={"id": "vm-0042", "wait_for_time_sync": False},
                               payment={"mixpay": mixpay_table()},
                               slots=({**WATER, "stock": 5}, {**COLA, "stock": 5},
                                      {**PIE, "stock": 5})))
    return load_config(path)


@pytest.fixture
def journal(config: Config) -> Iterator[Journal]:
    config.machine.data_dir.mkdir(parents=True)
    with Journal(config.machine.data_dir / "journal.db", now=Clock()) as j:
        j.init_slots({"A1": 5, "A2": 5, "B1": 5})
        yield j


def sale(j: Journal, tx_id: str, slot: str, amount: str, outcome: str | None,
         *, disable: bool = False) -> None:
    """A sale through MixPay up to the vend's ``outcome`` (None: the payment expired)."""
    j.begin(Order(tx_id, slot, "item", Decimal(amount), "USD", None, 2_000_000_000), "mixpay")
    j.payment_created(tx_id, PaymentRequest(f"p-{tx_id}", f"https://pay/{tx_id}", 2_000_000_000))
    if outcome is None:
        j.abandoned(tx_id, "expired", {})
        return
    assert j.paid_verified(tx_id, {})
    assert j.start_vend(tx_id)
    j.vend_result(tx_id, outcome, {}, disable_slot=disable)


def operator_test_vend(j: Journal, slot: str, outcome: str) -> None:
    """What the operator menu's test vend journals (kiosk/runtime/operator.py)."""
    j.operator_event("test_vend_started", {"slot": slot})
    j.operator_change(slot, "test_vend", {"outcome": outcome, "detail": ""})


def trading_day(j: Journal) -> None:
    """Three paid vends (7.00), one of each failure, a refund, a claim, a test vend of each."""
    sale(j, "tx-1", "A1", "2.50", "vended")
    sale(j, "tx-2", "A1", "2.50", "vended")
    sale(j, "tx-3", "A2", "2.00", "vended")
    sale(j, "tx-jam", "A2", "2.00", "jam", disable=True)           # A2 out of sale
    j.claim_issued("tx-jam", claim_code("tx-jam"), "vend jam")
    sale(j, "tx-drop", "A1", "2.50", "no_drop")
    j.refund_requested("tx-drop", {"reason": "vend no_drop"})
    j.refund_done("tx-drop", {"reference": "r-1"})
    sale(j, "tx-lost", "B1", "1.25", "unknown")
    j.claim_issued("tx-lost", claim_code("tx-lost"), "vend unknown")
    sale(j, "tx-gone", "A1", "2.50", None)
    operator_test_vend(j, "A1", "vended")
    operator_test_vend(j, "B1", "motor_fault")


def read(j: Journal, config: Config, *, reset: bool = False,
         now: datetime = READ_AT) -> DexFile:
    return parse(audit_file(j, config, reset=reset, now=now))


def counts(dex: DexFile, tag: str) -> list[int]:
    return [dex.one(tag).num(n) for n in (1, 2, 3, 4)]


def test_the_file_reads_back_element_by_element(journal: Journal, config: Config) -> None:
    trading_day(journal)
    dex = read(journal, config)
    assert dex.crc_checks_out() and dex.crc_checks_out(crc16)
    assert dex.se_count_checks_out() and dex.one("SE")[2] == dex.one("ST")[2] == "0001"
    assert (dex.one("DXS")[1], dex.one("DXS")[2]) == ("VKS0000042", "VA")
    assert (dex.one("DXE")[1], dex.one("DXE")[2]) == ("1", "1")
    assert (dex.one("ID1")[1], dex.one("ID1")[2]) == ("vm-0042", "vending-kiosk")
    assert dex.one("CB1")[3] == kiosk.__version__
    assert (dex.one("ID4")[1], dex.one("ID4")[2], dex.one("ID4")[3]) == ("2", "1840", "USD")
    assert (dex.one("ID5")[1], dex.one("ID5")[2]) == ("20261121", "143005")
    # value, number; since initialisation, then since the last reset (none yet: the same)
    assert counts(dex, "VA1") == [700, 3, 700, 3]
    assert counts(dex, "VA2") == [250, 1, 250, 1]
    assert counts(dex, "VA3") == [0, 0, 0, 0]
    assert dex.one("DA1")[1] == "mixpay" and counts(dex, "DA2") == [700, 3, 700, 3]
    assert dex.all("DB1") == []


def test_products_count_number_then_value(journal: Journal, config: Config) -> None:
    trading_day(journal)
    products = read(journal, config).products()
    assert list(products) == ["A1", "A2", "B1"]
    a1, a2, b1 = products["A1"], products["A2"], products["B1"]
    assert (a1.pa1[2], a1.pa1[3], a2.pa1[2], b1.pa1[2]) == ("250", "Water", "200", "125")
    assert b1.pa1[3] == "Creme brulee"  # ASCII only, and no element separator
    assert [a1.blocks["PA2"].num(n) for n in (1, 2, 3, 4)] == [2, 500, 2, 500]
    assert [a2.blocks["PA2"].num(n) for n in (1, 2, 3, 4)] == [1, 200, 1, 200]
    assert [b1.blocks["PA2"].num(n) for n in (1, 2, 3, 4)] == [0, 0, 0, 0]
    assert [a1.blocks["PA3"].num(n) for n in (1, 2, 3, 4)] == [1, 250, 1, 250]
    assert [p.blocks["PA4"].num(1) for p in products.values()] == [0, 0, 0]
    total = sum(p.blocks["PA2"].num(2) for p in products.values())
    assert total == dex_value(journal, config)


def dex_value(journal: Journal, config: Config) -> int:
    return read(journal, config).one("VA1").num(1)


def test_events_list_failures_and_count_them(journal: Journal, config: Config) -> None:
    trading_day(journal)
    dex = read(journal, config)
    ea1 = [(seg[1], seg[2]) for seg in dex.all("EA1")]
    assert ea1 == [("EJC", "20261121"), ("ELA", "20261121"), ("EJZ", "20261121"),
                   ("EJB", "20261121")]
    ea2 = {seg[1]: (seg.num(2), seg.num(3), seg.num(5)) for seg in dex.all("EA2")}
    # since reset, since initialisation, active now (A2 is still out of sale after its jam)
    assert ea2 == {"EJB": (1, 1, 0), "EJC": (1, 1, 1), "EJZ": (1, 1, 0), "ELA": (1, 1, 0)}
    ea3 = dex.one("EA3")
    assert (ea3.num(1), ea3[2], ea3[3], ea3[5], ea3.num(9), ea3.num(10)) == (
        0, "20261121", "143005", "", 1, 0)


def test_a_read_without_reset_writes_nothing(journal: Journal, config: Config) -> None:
    trading_day(journal)
    before = journal.operator_events(1000)
    first = audit_file(journal, config, reset=False, now=READ_AT)
    assert audit_file(journal, config, reset=False, now=READ_AT) == first
    assert journal.operator_events(1000) == before


def test_read_and_reset(journal: Journal, config: Config) -> None:
    trading_day(journal)
    first = read(journal, config, reset=True)
    assert counts(first, "VA1") == [700, 3, 700, 3]   # the figures up to this reset
    assert first.one("EA3").num(1) == 1
    assert [e["kind"] for e in journal.operator_events(1000)].count(RESET_KIND) == 1

    later = READ_AT + timedelta(hours=2)
    second = read(journal, config, now=later)
    assert counts(second, "VA1") == [700, 3, 0, 0]
    assert counts(second, "VA2") == [250, 1, 0, 0]
    assert counts(second, "DA2") == [700, 3, 0, 0]
    assert [second.products()["A1"].blocks["PA2"].num(n) for n in (1, 2, 3, 4)] == [2, 500, 0, 0]
    assert {seg[1]: (seg.num(2), seg.num(3)) for seg in second.all("EA2")}["EJC"] == (0, 1)
    ea3 = second.one("EA3")
    assert (ea3.num(1), ea3[2], ea3[3], ea3[5], ea3[6], ea3.num(9), ea3.num(10)) == (
        1, "20261121", "163005", "20261121", "143005", 2, 1)

    sale(journal, "tx-4", "A2", "2.00", "vended")
    third = read(journal, config, reset=True, now=later)
    assert counts(third, "VA1") == [900, 4, 200, 1]
    assert third.one("EA3").num(1) == 2 and third.one("EA3").num(10) == 2
    fourth = read(journal, config, now=later + timedelta(minutes=1))
    assert counts(fourth, "VA1") == [900, 4, 0, 0] and fourth.one("EA3").num(1) == 2


def test_sales_through_an_earlier_gateway_are_cashless_device_2(journal: Journal,
                                                                 config: Config) -> None:
    sale(journal, "tx-1", "A1", "2.50", "vended")
    journal.begin(Order("tx-w", "A2", "Cola", Decimal("2.00"), "USD", None, 2_000_000_000),
                  "wctpay")
    journal.payment_created("tx-w", PaymentRequest("p-w", "https://pay/w", 2_000_000_000))
    assert journal.paid_verified("tx-w", {}) and journal.start_vend("tx-w")
    journal.vend_result("tx-w", "vended", {}, disable_slot=False)
    dex = read(journal, config)
    assert counts(dex, "VA1") == [450, 2, 450, 2]
    assert counts(dex, "DA2") == [250, 1, 250, 1]
    assert dex.one("DB1")[1] == "wctpay" and counts(dex, "DB2") == [200, 1, 200, 1]


def test_an_empty_journal_gives_a_whole_file_of_zeros(journal: Journal,
                                                      config: Config) -> None:
    dex = read(journal, config)
    assert dex.crc_checks_out() and dex.se_count_checks_out()
    assert counts(dex, "VA1") == [0, 0, 0, 0] and dex.all("EA1") == dex.all("EA2") == []
    assert [p.blocks["PA2"].num(1) for p in dex.products().values()] == [0, 0, 0]


def test_lines_end_with_crlf(journal: Journal, config: Config) -> None:
    text = audit_file(journal, config, reset=False, now=READ_AT)
    assert text.count("\r\n") == text.count("\n") == len(text.splitlines())
    assert text.isascii()


def test_the_crc_is_crc16_arc() -> None:
    assert crc16(b"123456789") == reference_crc16(b"123456789") == 0xBB3D


def test_a_published_machine_file_reads_and_checks_out() -> None:
    """Our reader and CRC on a real machine's file: G85, SE and the segments' layout."""
    sample = parse(PUBLISHED, crlf=False)
    assert sample.crc_checks_out(crc16) and sample.crc_checks_out()
    assert sample.se_count_checks_out()
    product = sample.products()["012"]
    price, pa2 = product.pa1.num(2), product.blocks["PA2"]
    assert pa2.num(2) == pa2.num(1) * price          # PA2: number, then value
    va1 = sample.one("VA1")
    assert va1.num(1) == 3 * price and va1.num(2) == 3  # VA1: value, then number
    assert sample.one("EA3")[2] == "241022" and sample.one("EA3").num(9) == 5


def test_our_file_has_the_published_files_order(journal: Journal, config: Config) -> None:
    trading_day(journal)
    ours, sample = read(journal, config), parse(PUBLISHED, crlf=False)
    shared = [tag for tag in dict.fromkeys(s.tag for s in sample.segs)
              if any(o.tag == tag for o in ours.segs)]
    assert {"DXS", "ST", "ID1", "ID4", "CB1", "VA1", "PA1", "PA2", "PA4", "EA2", "EA3", "G85",
            "SE", "DXE"} <= set(shared)
    first = {tag: min(i for i, s in enumerate(ours.segs) if s.tag == tag) for tag in shared}
    in_sample = {tag: min(i for i, s in enumerate(sample.segs) if s.tag == tag)
                 for tag in shared}
    # the envelope and the blocks come in the same order (within a product block, too)
    main = ["DXS", "ST", "ID1", "VA1", "VA2", "VA3", "PA1", "PA2", "PA3", "PA4", "EA3", "G85",
            "SE", "DXE"]
    assert sorted(main, key=first.__getitem__) == main
    assert sorted(main, key=in_sample.__getitem__) == main
    for dex in (ours, sample):
        pa = [s.tag for s in dex.segs if s.tag in ("PA1", "PA2", "PA3", "PA4")]
        assert pa == ["PA1", "PA2", "PA3", "PA4"] * (len(pa) // 4)


# -------------------------------------------------------------------------------- the command

def kiosk_dex(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*KIOSK, "dex", *args], capture_output=True, timeout=120)


def test_kiosk_dex_to_a_file_and_to_stdout(journal: Journal, config: Config,
                                           tmp_path: Path) -> None:
    trading_day(journal)
    out = tmp_path / "audit.dex"
    result = kiosk_dex("--config", str(config.path), "--output", str(out))
    assert result.returncode == 0, result.stderr
    from_file = parse(out.read_bytes().decode("ascii"))
    assert from_file.crc_checks_out() and counts(from_file, "VA1") == [700, 3, 700, 3]

    printed = kiosk_dex("--config", str(config.path))
    assert printed.returncode == 0, printed.stderr
    from_stdout = parse(printed.stdout.decode("ascii"))   # bytes: the CRLFs as written
    assert from_stdout.crc_checks_out() and from_stdout.one("ID1")[1] == "vm-0042"
    assert RESET_KIND not in [e["kind"] for e in journal.operator_events(1000)]


def test_kiosk_dex_reset_journals_the_read(journal: Journal, config: Config) -> None:
    trading_day(journal)
    assert kiosk_dex("--config", str(config.path), "--reset").returncode == 0
    assert [e["kind"] for e in journal.operator_events(1000)].count(RESET_KIND) == 1
    again = parse(kiosk_dex("--config", str(config.path)).stdout.decode("ascii"))
    assert counts(again, "VA1") == [700, 3, 0, 0] and again.one("EA3").num(1) == 1


def test_kiosk_dex_without_a_journal_says_so_in_one_line(config: Config,
                                                         tmp_path: Path) -> None:
    result = kiosk_dex("--config", str(config.path), "--output", str(tmp_path / "x.dex"))
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        f"kiosk: no journal in {config.machine.data_dir}"]
    assert not (tmp_path / "x.dex").exists()


def test_a_reset_whose_file_cannot_be_written_is_not_journalled(journal: Journal, config: Config,
                                                                tmp_path: Path) -> None:
    """The file is delivered first, the reset journalled after: a read-and-reset that never
    arrived leaves the period's figures where they were (and nothing half-written beside)."""
    trading_day(journal)
    where = tmp_path / "a-directory"
    where.mkdir()
    result = kiosk_dex("--config", str(config.path), "--reset", "--output", str(where))
    assert result.returncode != 0 and b"Traceback" not in result.stderr
    assert RESET_KIND not in [e["kind"] for e in journal.operator_events(1000)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".a-directory")) == []
    again = parse(kiosk_dex("--config", str(config.path)).stdout.decode("ascii"))
    assert counts(again, "VA1") == [700, 3, 700, 3]


def test_a_price_set_from_the_fleet_is_the_selections_price(journal: Journal,
                                                            config: Config) -> None:
    from kiosk.journal.commands import SlotChange

    journal.fleet_command("c-1", "price_set", {}, {}, change=SlotChange(
        "A1", price=Decimal("3.00"), config_price=Decimal("2.50")))
    dex = read(journal, config)
    [a1] = [s for s in dex.segs if s.tag == "PA1" and s[1] == "A1"]
    assert a1[2] == "300"


def test_a_test_vend_keeps_the_value_it_was_vended_at(journal: Journal,
                                                      config: Config) -> None:
    """Cumulative figures never change afterwards: a price lowered after two test vends
    leaves their value as it was (never a negative 'since reset')."""
    from kiosk.journal.commands import SlotChange

    for _ in range(2):
        journal.operator_event("test_vend_started", {"slot": "A1"})
        journal.operator_change("A1", "test_vend", {"outcome": "vended", "detail": "",
                                                    "price_minor": 250})
    assert counts(read(journal, config, reset=True), "VA2") == [500, 2, 500, 2]
    journal.fleet_command("c-1", "price_set", {}, {}, change=SlotChange(
        "A1", price=Decimal("1.50"), config_price=Decimal("2.50")))
    assert counts(read(journal, config), "VA2") == [500, 2, 0, 0]
