"""The machine's EVA-DTS audit file (the "DEX file" handhelds and telemetry read), from the
journal.

    text = audit_file(journal, config, reset=False, now=datetime.now().astimezone())

Layout (EVA-DTS 6.1): ``DXS``/``ST``; ``ID1``/``CB1`` the machine; ``ID4`` decimals and
currency; ``ID5`` the read's date and time; ``VA1``-``VA3`` paid, test and free vends;
``DA1``/``DA2`` the gateway in use as cashless device 1 (``DB1``/``DB2`` sales through earlier
gateways); ``PA1``-``PA4`` per slot; ``EA1`` failures, ``EA2`` their counts, ``EA3`` reads and
resets; ``G85`` the CRC, ``SE``, ``DXE``. Values are since initialisation, then since the last
reset; money in the currency's minor units.

The field order was matched against open parsers' field tables and machine files:
lanmark7/dex-utility ``README.md`` (element tables) and ``TestData/*.dex``;
mkrasselt1/php-evadts-parser ``src/*DataBlock.php`` and ``example/*.eva_dts``;
reneaaron/eva-dts-parser ``public/sample.txt``. Their G85 values all check out as CRC-16/ARC
over ``ST`` through the line before ``G85`` with CRLFs (``kiosk.dex.crc``).

Modules: ``counters`` reads the journal, ``resets`` the read-and-reset history, ``events`` the
event identifiers, ``layout`` writes the text, ``crc`` the G85 check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kiosk.config import Config
from kiosk.dex.counters import read_counters
from kiosk.dex.crc import crc16
from kiosk.dex.layout import Read, render
from kiosk.dex.resets import ALL_EVENTS, RESET_KIND, reset_detail, reset_history
from kiosk.journal import Journal

__all__ = ["RESET_KIND", "audit_file", "audit_read", "crc16"]


def audit_file(journal: Journal, config: Config, *, reset: bool, now: datetime,
               deliver: Callable[[str], None] | None = None) -> str:
    """The whole audit file as of ``now`` (its zone dates the file), handed to ``deliver``
    first. With ``reset``, the read is journalled as a reset only once ``deliver`` returned: a
    file that never arrived must not take its period's figures with it (the opposite failure,
    figures repeated in the next file, is one an operator can see)."""
    text, reset_detail = audit_read(journal, config, reset=reset, now=now)
    if deliver is not None:
        deliver(text)
    if reset_detail is not None:
        journal.operator_event(RESET_KIND, reset_detail)
    return text


def audit_read(journal: Journal, config: Config, *, reset: bool,
               now: datetime) -> tuple[str, dict[str, Any] | None]:
    """The audit file, and with ``reset`` the operator event (of kind ``RESET_KIND``) the
    caller journals for it, in whatever commit records the read."""
    operator_events = journal.operator_events(ALL_EVENTS)
    reading = read_counters(journal, config, operator_events)
    history = reset_history(operator_events)
    since_reset = reading.counters.minus(history.base)
    text = render(config, Read(reading, since_reset, history, reset, now))
    return text, reset_detail(reading.counters, now) if reset else None
