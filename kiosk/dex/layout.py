"""The audit file's text: segments in the EVA-DTS order, then G85, SE and the DXE trailer.

Each segment is its identifier and elements joined by ``*``; each line ends with CRLF. The
transaction set runs from ``ST`` to ``SE``: ``SE`` counts its lines (both included), ``G85``
checks the bytes from ``ST`` up to the line before it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from kiosk import __version__
from kiosk.config import Config
from kiosk.dex.counters import Counters, Reading, Tally
from kiosk.dex.crc import g85_value
from kiosk.dex.resets import History
from kiosk.money import minor_exponent

CRLF = "\r\n"
SET_CONTROL = "0001"               # one transaction set per file
MODEL = "vending-kiosk"
EVA_DTS_VERSION = "V0/6"           # DXS03 as most machines send it
MAX_EA1 = 50                       # the latest failures listed one by one; EA2 counts them all
# ISO 4217 numeric codes; ID402 carries them behind a "1" (EUR -> 1978), as machines send it.
ISO_NUMERIC: dict[str, str] = {
    "USD": "840", "EUR": "978", "GBP": "826", "CHF": "756", "CAD": "124", "AUD": "036",
    "NZD": "554", "SGD": "702", "HKD": "344", "AED": "784", "SEK": "752", "NOK": "578",
    "DKK": "208", "PLN": "985", "CZK": "203", "MXN": "484", "BRL": "986", "ZAR": "710",
    "INR": "356", "CNY": "156", "TRY": "949", "JPY": "392", "KRW": "410", "VND": "704",
    "KWD": "414", "BHD": "048",
}

Segment = Sequence[str | int]


@dataclass(frozen=True)
class Read:
    """What one read reports: the counters, this read's time, the reset history before it."""

    reading: Reading
    since_reset: Counters
    history: History
    reset: bool
    now: datetime


def render(config: Config, read: Read) -> str:
    """The whole file, DXS to DXE."""
    body = [_line(s) for s in _set(config, read)]
    check = "".join(body).encode("ascii")
    body.append(_line(("G85", g85_value(check))))
    body.append(_line(("SE", len(body) + 1, SET_CONTROL)))
    header = _line(("DXS", _sender(config.machine.id), "VA", EVA_DTS_VERSION, 1))
    return header + "".join(body) + _line(("DXE", 1, 1))


def _set(config: Config, read: Read) -> Iterator[Segment]:
    """ST and every data segment, in the order machines send them."""
    yield "ST", "001", SET_CONTROL
    yield from _identity(config, read.now)
    total, interim = read.reading.counters, read.since_reset
    yield ("VA1", *_pair(total.paid, interim.paid))
    yield ("VA2", *_pair(total.test, interim.test))
    yield ("VA3", *_pair(total.free, interim.free))
    yield from _cashless(config, total, interim)
    yield from _products(read.reading, interim)
    yield from _events(read)
    yield _reads(read)


def _identity(config: Config, now: datetime) -> Iterator[Segment]:
    machine_id = _text(config.machine.id)
    yield "ID1", machine_id, MODEL, _build()
    yield "CB1", machine_id, MODEL, _text(__version__)
    currency = config.machine.currency.upper()
    numeric = ISO_NUMERIC.get(currency)
    yield "ID4", minor_exponent(currency), f"1{numeric}" if numeric else "", currency
    yield "ID5", _date(now), _time(now)


def _cashless(config: Config, total: Counters, interim: Counters) -> Iterator[Segment]:
    """Device 1 (DA) is the gateway in use; sales through earlier gateways are device 2 (DB)."""
    gateway = config.payment.gateway
    yield "DA1", _text(gateway), "crypto", _build()
    yield ("DA2", *_pair(total.gateway(gateway), interim.gateway(gateway)))
    others = sorted(name for name in total.cashless if name != gateway)
    if others:
        yield "DB1", _text("+".join(others)), "crypto", _build()
        yield ("DB2", *_pair(_sum(total.gateway(n) for n in others),
                             _sum(interim.gateway(n) for n in others)))


def _products(reading: Reading, interim: Counters) -> Iterator[Segment]:
    for selection in reading.selections:
        total, since = reading.counters.slot(selection.id), interim.slot(selection.id)
        price = "" if selection.price is None else selection.price
        yield "PA1", _text(selection.id), price, _text(selection.name)
        for tag, kind in (("PA2", "paid"), ("PA3", "test"), ("PA4", "free")):
            yield (tag, *_counted(getattr(total, kind), getattr(since, kind)))


def _events(read: Read) -> Iterator[Segment]:
    for event in read.reading.events[-MAX_EA1:]:
        at = event.at.astimezone(read.now.tzinfo)
        yield "EA1", event.code, _date(at), _time(at)
    total, interim = read.reading.counters.events, read.since_reset.events
    for code in sorted(total):
        yield "EA2", code, interim.get(code, 0), total[code], "", int(code in read.reading.active)


def _reads(read: Read) -> Segment:
    """EA3: resets including this read's own, this read's and the last reset read's time."""
    before = read.history.resets
    resets = before + int(read.reset)
    last = read.history.last_read
    last_at = last.astimezone(read.now.tzinfo) if last else None
    return ("EA3", resets, _date(read.now), _time(read.now), "",
            _date(last_at) if last_at else "", _time(last_at) if last_at else "", "", "",
            before + 1, resets)


def _pair(total: Tally, interim: Tally) -> tuple[int, int, int, int]:
    """VA/DA order: value then number, since initialisation then since reset."""
    return total.value, total.count, interim.value, interim.count


def _counted(total: Tally, interim: Tally) -> tuple[int, int, int, int]:
    """PA order: number then value, since initialisation then since reset."""
    return total.count, total.value, interim.count, interim.value


def _sum(tallies: Iterable[Tally]) -> Tally:
    value = count = 0
    for tally in tallies:
        value, count = value + tally.value, count + tally.count
    return Tally(value, count)


def _line(segment: Segment) -> str:
    return "*".join(str(element) for element in segment) + CRLF


def _text(value: str) -> str:
    """Printable ASCII without the element separator: accents dropped, ``*`` and controls
    turned into spaces, so no name can break a line or shift an element."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^\x20-\x7e]|\*", " ", ascii_text).split())


def _sender(machine_id: str) -> str:
    """DXS01: a 3-letter maker code and 7 digits, here the machine id's last digits."""
    digits = re.sub(r"\D", "", machine_id)[-7:]
    return "VKS" + digits.rjust(7, "0")


def _build() -> str:
    """A numeric build standard from the firmware version: ``0.1.0`` -> ``010``."""
    return re.sub(r"\D", "", __version__) or "0"


def _date(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def _time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")
