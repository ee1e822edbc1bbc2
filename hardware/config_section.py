"""What a driver's config section reads its ``[vend.<driver>]`` table through.

Each driver declares its section beside its code, in ``hardware/<driver>_config.py``: a frozen
dataclass and ``read_<driver>_config(reader) -> <Driver>Config``, as Klipper's modules read their
own config sections. The kiosk's strict config reader (``kiosk/config/reader.py``) implements
``SectionReader``; ``hardware/`` never imports ``kiosk/``, so this protocol is all a section sees
of it. Every getter records the key it read (what nobody read is reported as unknown), and a
wrong value is reported with file, table and key and read as the default, so reading goes on
and every problem is reported in one pass.

The section modules import no device library (gpiozero, pyserial): the kiosk reads every
driver's table, whichever driver is in use, also where no such library can load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

WAIT_MAX_S = 600   # hardware waits: longer overflows a timer, or nobody waits

_T = TypeVar("_T", str, int)


class SectionReader(Protocol):
    """One ``[vend.<driver>]`` table of the kiosk's config."""

    @property
    def selected(self) -> bool:
        """``vend.driver`` names this driver (and names it validly)."""

    def error(self, key: str, message: str) -> None:
        """Report a problem with ``key``; later ``ok(key)`` is false."""

    def ok(self, key: str) -> bool:
        """No problem has been reported with ``key``."""

    def wrong(self, key: str, expected: str, value: Any, hint: str = "") -> None:
        """Report ``value`` of ``key`` as not the ``expected`` kind of value."""

    def require(self, key: str, value: object, why: str) -> None:
        """Report ``key`` as missing or empty when it is needed (unless it is already wrong)."""

    def str_(self, key: str, default: str = "", *, pattern: re.Pattern[str] | None = None,
             shape: str = "") -> str: ...

    def line(self, key: str, default: str = "", *, shape: str, required: bool = False) -> str:
        """A string without control characters; ``required``: not blank either."""

    def int_(self, key: str, default: int, *, lo: int | None = None,
             hi: int | None = None) -> int: ...

    def opt_int(self, key: str, *, lo: int | None = None, hi: int | None = None) -> int | None:
        ...

    def number(self, key: str, default: float, *, lo: float | None = None,
               hi: float | None = None, positive: bool = False) -> float:
        """A float; TOML integers are welcome."""

    def bool_(self, key: str, default: bool) -> bool: ...

    def choice(self, key: str, default: _T, choices: Sequence[_T]) -> _T: ...

    def choice_table(self, key: str, choices: Sequence[str], *, shape: str,
                     key_name: str) -> Mapping[str, str]:
        """An inline table whose every value is one of ``choices`` (``{ A2 = "jam" }``)."""

    def str_list(self, key: str) -> tuple[str, ...]:
        """A list of non-empty strings without duplicates."""

    def int_list(self, key: str, *, lo: int, hi: int) -> tuple[int, ...]:
        """The valid integers of a list; bad items are reported."""
