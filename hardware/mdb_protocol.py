"""The Qibixx MDB bridge's ASCII line protocol, as pure functions (no I/O, no threads).

The bridge (MDB Pi HAT, MDB-USB) speaks 115200 8N1 text lines. Upper-case lines are commands
from the host, lower-case lines are its answers and events (docs.qibixx.com,
"vending-sessions-examples"):

    host  -> V                         bridge -> v,3.1.0.0,<cpu id>
    host  -> C,1                       bridge -> c,STATUS,INACTIVE / DISABLED / ENABLED
    host  -> C,START,2.50              bridge -> c,STATUS,IDLE,2.50
                                       bridge -> c,STATUS,VEND,2.50,11   (VMC: VEND REQUEST)
    host  -> C,VEND,2.50               bridge -> r,ACK, c,VEND,SUCCESS, c,STATUS,IDLE, ...

Amounts on the wire are decimals in the machine currency ("1.00", "99.20"): the bridge has
already applied the MDB scale factor, so the host converts with the currency's decimal
places only (``format_amount``/``parse_amount``).

Strings marked *uncertain* below vary by bridge firmware or were not captured from the
vendor's pages (see ``reference/hardware.md`` §2.3, §2.4, §6); verify them with the bridge's
sniffer (``X,1``) on a real machine.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

# Commands (host -> bridge). Every command ends with LINE_END; the vendor's own Python
# example writes "\n". (Uncertain: some projects send "\r\n".)
LINE_END = "\n"
VERSION = "V"
DISABLE = "C,0"        # the vendor advises disabling before configuring
ENABLE = "C,1"
DENY = "C,STOP"        # uncertain: "C,VEND,-1" on firmware that splits stop/deny

# Answers and events (bridge -> host).
SET_OK = "c,SET,OK"                  # answer to C,SETCONF (seen in two code bases)
VEND_SUCCESS = "c,VEND,SUCCESS"
DEFAULT_FAILURE_PREFIXES = ("c,ERR", "c,VEND,FAIL")  # e.g. c,ERR,VEND 3 / c,ERR,"VEND -3"
ENABLED = "ENABLED"
IDLE = "IDLE"
VEND = "VEND"
# Uncertain: after a VMC RESET the reader is back in MDB state Inactive, which the bridge
# reports as c,STATUS,INACTIVE (its documented power-up status); no separate reset notice
# is documented.
RESET_STATUS = "INACTIVE"

# Lines that carry nothing the driver acts on: poll traffic (r,ACK: the VMC polled the
# reader), plain acknowledgements of C,0/C,1, and other bridge modes (sniffer x, master d,
# relays l, functions f, hardware h).
CHATTER_PREFIXES = ("r,", "x,", "d,", "l,", "f,", "h,")
CHATTER_LINES = frozenset({"c,0", "c,1"})

MAX_LINE_BYTES = 256    # far beyond any documented line; longer runs are junk

_AMOUNT = re.compile(r"\d+(\.\d+)?")
_ITEM = re.compile(r"\d+")


class Kind(enum.Enum):
    """What a bridge line means to the driver."""

    VERSION = "version"            # v,<version>,<cpu id>
    STATUS = "status"              # c,STATUS,<state>[,<amount>]
    VEND_REQUEST = "vend_request"  # c,STATUS,VEND,<price>,<item>
    VEND_SUCCESS = "vend_success"  # c,VEND,SUCCESS
    FAILURE = "failure"            # a line starting with a configured vend-failure prefix
    ERROR = "error"                # any other c,ERR line
    SET_OK = "set_ok"              # c,SET,OK
    CHATTER = "chatter"            # known, nothing to do
    UNKNOWN = "unknown"            # well-formed text the driver does not know
    GARBAGE = "garbage"            # not a printable ASCII line, or a malformed known line


@dataclass(frozen=True)
class BridgeLine:
    """One parsed line from the bridge. ``text`` is the line as received (repr for garbage)."""

    kind: Kind
    text: str
    status: str = ""               # STATUS: ENABLED, IDLE, INACTIVE, ...
    price_minor: int | None = None
    price_text: str = ""           # the amount exactly as the bridge wrote it
    item: int | None = None


def format_amount(minor: int, decimals: int) -> str:
    """Minor units to the bridge's decimal amount: ``format_amount(250, 2) == "2.50"``."""
    if minor < 0 or decimals < 0:
        raise ValueError(f"cannot format {minor} with {decimals} decimals")
    if decimals == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10 ** decimals)
    return f"{whole}.{fraction:0{decimals}d}"


def parse_amount(text: str, decimals: int) -> int:
    """The bridge's decimal amount to minor units: ``parse_amount("2.5", 2) == 250``.

    Raises ``ValueError`` for anything that is not a plain non-negative decimal or that has
    more precision than the currency ("1.005" with 2 decimals).
    """
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"not an amount: {text!r}")
    minor = Decimal(text).scaleb(decimals)
    if minor != minor.to_integral_value():
        raise ValueError(f"{text} has more than {decimals} decimal places")
    return int(minor)


def start_session(minor: int, decimals: int) -> str:
    """BEGIN SESSION with exactly these funds."""
    return f"C,START,{format_amount(minor, decimals)}"


def approve(price_text: str) -> str:
    """VEND APPROVED for the amount the VMC asked, echoed as it wrote it."""
    return f"C,VEND,{price_text}"


def set_address(address: int) -> str:
    """Which cashless device the bridge plays: 0x10 (#1) or 0x60 (#2)."""
    return f"C,SETCONF,mdb-addr={address:#04x}"


def encode(command: str) -> bytes:
    """A command as bytes on the wire."""
    return (command + LINE_END).encode("ascii")


def decode(raw: bytes) -> str | None:
    """One received line (without its ``\\n``) as text, or None if it is not printable ASCII."""
    try:
        text = raw.decode("ascii").rstrip("\r")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


class LineSplitter:
    """Cuts the received byte stream into lines, keeping a partial line for the next read.

    A run of more than ``MAX_LINE_BYTES`` without a line end is junk (noise on a UART, a
    baud-rate mismatch) and is dropped rather than buffered forever.
    """

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> int:
        """Add received bytes; returns how many junk bytes were dropped (usually 0)."""
        self._data += data
        if b"\n" in self._data or len(self._data) <= MAX_LINE_BYTES:
            return 0
        dropped = len(self._data)
        self._data.clear()
        return dropped

    def next_line(self) -> bytes | None:
        """The next complete line without its ``\\n``, or None until one has arrived."""
        end = self._data.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._data[:end])
        del self._data[:end + 1]
        return line

    def clear(self) -> None:
        self._data.clear()


def parse_line(raw: bytes, *, decimals: int,
               failure_prefixes: Sequence[str] = DEFAULT_FAILURE_PREFIXES) -> BridgeLine:
    """Classify one received line. Never raises: junk comes back as GARBAGE."""
    text = decode(raw)
    if text is None:
        return BridgeLine(Kind.GARBAGE, repr(raw))
    if text == VEND_SUCCESS:
        return BridgeLine(Kind.VEND_SUCCESS, text)
    if text.startswith(tuple(failure_prefixes)):
        return BridgeLine(Kind.FAILURE, text)
    if text.startswith("c,ERR"):
        return BridgeLine(Kind.ERROR, text)
    if text.startswith("c,STATUS,"):
        return _parse_status(text, decimals)
    if text.startswith("v,"):
        return BridgeLine(Kind.VERSION, text)
    if text == SET_OK:
        return BridgeLine(Kind.SET_OK, text)
    if text in CHATTER_LINES or text.startswith(CHATTER_PREFIXES):
        return BridgeLine(Kind.CHATTER, text)
    return BridgeLine(Kind.UNKNOWN, text)


def _parse_status(text: str, decimals: int) -> BridgeLine:
    fields = text.split(",")[2:]
    state = fields[0]
    if state == VEND:
        return _parse_vend_request(text, fields[1:], decimals)
    if len(fields) > 2 or not state:
        return BridgeLine(Kind.GARBAGE, text)
    amount = fields[1] if len(fields) == 2 else ""
    try:
        minor = parse_amount(amount, decimals) if amount else None
    except ValueError:
        return BridgeLine(Kind.GARBAGE, text)
    return BridgeLine(Kind.STATUS, text, status=state, price_minor=minor, price_text=amount)


def _parse_vend_request(text: str, fields: list[str], decimals: int) -> BridgeLine:
    if len(fields) != 2 or not _ITEM.fullmatch(fields[1]):
        return BridgeLine(Kind.GARBAGE, text)
    try:
        minor = parse_amount(fields[0], decimals)
    except ValueError:
        return BridgeLine(Kind.GARBAGE, text)
    return BridgeLine(Kind.VEND_REQUEST, text, status=VEND, price_minor=minor,
                      price_text=fields[0], item=int(fields[1]))
