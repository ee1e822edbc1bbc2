"""The Qibixx bridge's line protocol: every documented line shape, amounts, commands."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware import mdb_protocol as proto
from hardware.mdb_protocol import Kind, parse_line


def parse(raw: bytes,
          failure_prefixes: Sequence[str] = proto.DEFAULT_FAILURE_PREFIXES) -> proto.BridgeLine:
    return parse_line(raw, decimals=2, failure_prefixes=failure_prefixes)


@pytest.mark.parametrize(("minor", "decimals", "text"), [
    (250, 2, "2.50"), (5, 2, "0.05"), (0, 2, "0.00"), (9920, 2, "99.20"),
    (100, 0, "100"), (1234, 3, "1.234"),
])
def test_amounts_are_decimals_in_the_currency(minor: int, decimals: int, text: str) -> None:
    assert proto.format_amount(minor, decimals) == text
    assert proto.parse_amount(text, decimals) == minor


@pytest.mark.parametrize(("text", "minor"), [("2.5", 250), ("1", 100), ("135.00", 13500)])
def test_amounts_as_the_vmc_may_write_them(text: str, minor: int) -> None:
    assert proto.parse_amount(text, 2) == minor


@pytest.mark.parametrize("text", ["1.005", "-1", "abc", "", "1e3", "NaN", " 1", "1.", ".5"])
def test_malformed_or_too_precise_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        proto.parse_amount(text, 2)


def test_negative_amounts_cannot_be_formatted() -> None:
    with pytest.raises(ValueError):
        proto.format_amount(-1, 2)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=4))
def test_amounts_round_trip(minor: int, decimals: int) -> None:
    assert proto.parse_amount(proto.format_amount(minor, decimals), decimals) == minor


def test_commands() -> None:
    assert proto.start_session(250, 2) == "C,START,2.50"
    assert proto.approve("1.00") == "C,VEND,1.00"
    assert proto.set_address(0x10) == "C,SETCONF,mdb-addr=0x10"
    assert proto.set_address(0x60) == "C,SETCONF,mdb-addr=0x60"
    assert proto.encode(proto.ENABLE) == b"C,1\n"
    assert (proto.VERSION, proto.DISABLE, proto.DENY) == ("V", "C,0", "C,STOP")


def test_version_line() -> None:
    line = parse(b"v,3.1.0.0,0123ABCD")
    assert line.kind is Kind.VERSION and line.text == "v,3.1.0.0,0123ABCD"


@pytest.mark.parametrize("state", ["INACTIVE", "DISABLED", "ENABLED", "IDLE", "ONLINE", "OFFLINE"])
def test_status_lines(state: str) -> None:
    line = parse(f"c,STATUS,{state}".encode())
    assert (line.kind, line.status, line.price_minor) == (Kind.STATUS, state, None)


def test_session_idle_with_funds() -> None:
    line = parse(b"c,STATUS,IDLE,2.50")
    assert (line.kind, line.status, line.price_minor, line.price_text) == (
        Kind.STATUS, "IDLE", 250, "2.50")


@pytest.mark.parametrize(("raw", "price", "item"), [
    (b"c,STATUS,VEND,1.00,5", 100, 5),        # the vendor's transcript
    (b"c,STATUS,VEND,99.20,18", 9920, 18),    # ln-vending's test line
    (b"c,STATUS,VEND,1,65535", 100, 65535),   # whole amount; 0xFFFF = undefined item
])
def test_vend_requests(raw: bytes, price: int, item: int) -> None:
    line = parse(raw)
    assert (line.kind, line.price_minor, line.item) == (Kind.VEND_REQUEST, price, item)
    assert line.price_text == raw.split(b",")[3].decode()


def test_crlf_line_endings_are_tolerated() -> None:
    assert parse(b"c,STATUS,ENABLED\r").status == "ENABLED"


def test_vend_success() -> None:
    assert parse(b"c,VEND,SUCCESS").kind is Kind.VEND_SUCCESS


@pytest.mark.parametrize("raw", [b"c,ERR,VEND 3", b'c,ERR,"VEND -3"', b"c,VEND,FAIL",
                                 b'c,ERR,"START -1"'])
def test_default_failure_prefixes(raw: bytes) -> None:
    assert parse(raw).kind is Kind.FAILURE


def test_failure_prefixes_are_configurable() -> None:
    prefixes = ("c,ERR,VEND",)
    assert parse(b"c,ERR,VEND 3", failure_prefixes=prefixes).kind is Kind.FAILURE
    assert parse(b'c,ERR,"START -1"', failure_prefixes=prefixes).kind is Kind.ERROR
    assert parse(b'c,ERR,"cashless is on"', failure_prefixes=prefixes).kind is Kind.ERROR


def test_setconf_answer() -> None:
    assert parse(b"c,SET,OK").kind is Kind.SET_OK


@pytest.mark.parametrize("raw", [b"r,ACK", b"c,0", b"c,1", b"x,ACK", b"d,STATUS,IDLE",
                                 b"l,ACK", b"f,ACK", b"h,1.0,caps"])
def test_known_chatter(raw: bytes) -> None:
    assert parse(raw).kind is Kind.CHATTER


@pytest.mark.parametrize("raw", [b"hello", b"c,FOO,1", b"C,1", b"v"])
def test_unknown_text(raw: bytes) -> None:
    assert parse(raw).kind is Kind.UNKNOWN


@pytest.mark.parametrize("raw", [
    b"\xff\xfe\x00", b"c,STATUS,\x00ENABLED", "c,STATUS,ÉNABLED".encode(),
    b"c,STATUS,VEND,abc,5", b"c,STATUS,VEND,1.00", b"c,STATUS,VEND,1.00,x",
    b"c,STATUS,VEND,1.005,5", b"c,STATUS,VEND,1.00,5,6", b"c,STATUS,IDLE,1.00,extra",
    b"c,STATUS,IDLE,-1", b"c,STATUS,",
])
def test_garbage(raw: bytes) -> None:
    assert parse(raw).kind is Kind.GARBAGE


def test_lines_are_split_across_reads() -> None:
    lines = proto.LineSplitter()
    assert lines.feed(b"r,AC") == 0 and lines.next_line() is None
    assert lines.feed(b"K\nc,STATUS,ENA") == 0
    assert lines.next_line() == b"r,ACK" and lines.next_line() is None
    lines.feed(b"BLED\r\nv,1\n")
    assert [lines.next_line(), lines.next_line(), lines.next_line()] == [
        b"c,STATUS,ENABLED\r", b"v,1", None]


def test_a_run_of_junk_without_a_line_end_is_dropped() -> None:
    lines = proto.LineSplitter()
    assert lines.feed(b"\x07" * 200) == 0
    assert lines.feed(b"\x07" * 100) == 300
    lines.feed(b"r,ACK\n")
    assert lines.next_line() == b"r,ACK"


@given(st.binary(max_size=80))
def test_parsing_never_raises(raw: bytes) -> None:
    assert isinstance(parse(raw).kind, Kind)
