"""The one strict reader: typed getters over a TOML table that record every key they read.

Klipper-style: every key is read through a typed, range-checked getter, and whatever nobody read
is reported as an unknown key (with a did-you-mean). A getter that finds a wrong value records
an issue naming file, table and key, and returns the default, so reading goes on and every
problem is reported in one pass. Secret values are never echoed in a message.

``Reader`` implements ``hardware.config_section.SectionReader``, what a driver's section reads
its table through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kiosk.config.words import describe, is_int, one_of, suggest
from kiosk.errors import ConfigIssue

_T = TypeVar("_T", str, int)

_NON_EMPTY = re.compile(r"(?s).*\S.*")
# Text that reaches a file name, a serial port or the screen: no NUL, line break or other
# control character (the OS and the font renderer refuse NUL with an exception).
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f-\x9f]*")


@dataclass(frozen=True)
class Schema:
    """What the reader knows of the whole schema: which keys are secrets (never echoed; the only
    keys the secrets file may hold), and every name in it (names safe to show)."""

    secret_keys: Mapping[str, tuple[str, ...]]
    names: frozenset[str]


@dataclass
class Secrets:
    """Valid values from the secrets file, keyed by (table, key)."""

    file: str
    values: dict[tuple[str, str], str] = field(default_factory=dict)
    readable: bool = True            # False: the file exists but could not be parsed


@dataclass
class Ctx:
    """One file being read: where issues go, and which (table, key) pairs already failed."""

    file: str
    issues: list[ConfigIssue]
    secrets: Secrets
    schema: Schema
    redact_all: bool = False
    bad: set[tuple[str, str]] = field(default_factory=set)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def error(self, table: str, key: str, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, table, key, message))
        self.bad.add((table, key))

    def warn(self, table: str, key: str, message: str, file: str = "") -> None:
        self.warnings.append(ConfigIssue(file or self.file, table, key, message))

    def ok(self, table: str, key: str) -> bool:
        return (table, key) not in self.bad


class Table:
    """One TOML table: what was read of it, and its problems; ``Reader`` adds the getters."""

    def __init__(self, ctx: Ctx, data: Mapping[str, Any], table: str, present: bool, *,
                 selected: bool = False) -> None:
        self.ctx = ctx
        self.data = data
        self.table = table
        self.present = present
        self.selected = selected          # the gateway or driver this table configures is used
        self.context = ""                 # appended to messages, e.g. ' (slot "A1")'
        self._read: set[str] = set()

    def error(self, key: str, message: str) -> None:
        self.ctx.error(self.table, key, message + self.context)

    def ok(self, key: str) -> bool:
        return self.ctx.ok(self.table, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        """The value as TOML gave it, ``None`` when absent (TOML has no null)."""
        self._read.add(key)
        return self.data.get(key)

    def is_secret(self, key: str) -> bool:
        return self.ctx.redact_all or key in self.ctx.schema.secret_keys.get(self.table, ())

    def wrong(self, key: str, expected: str, value: Any, hint: str = "") -> None:
        found = describe(value, self.is_secret(key))
        self.error(key, f"expected {expected}, found {found}" + (f" ({hint})" if hint else ""))

    def sub(self, key: str, *, selected: bool = False) -> Reader:
        """A reader over the sub-table ``key`` (empty and not ``present`` when absent or wrong);
        ``selected``: it configures the gateway or driver in use."""
        value = self.raw(key)
        name = f"{self.table}.{key}" if self.table else key
        if value is not None and not isinstance(value, dict):
            self.wrong(key, f"a table [{name}]", value)
            value = None
        return Reader(self.ctx, value or {}, name, value is not None, selected=selected)

    def require(self, key: str, value: object, why: str) -> None:
        """Report ``key`` as missing or empty when a rule needs it (unless it is already wrong)."""
        if self.ok(key) and (value is None or value == "" or value == ()):
            state = "is empty" if self.has(key) else "is missing"
            table = "" if self.present else f" (there is no [{self.table}] table)"
            self.error(key, f"required key {state}: {why}{table}")

    def finish(self, only: str = "") -> None:
        """Report every key nobody read; ``only`` replaces the did-you-mean suggestion."""
        for key, value in self.data.items():
            if key in self._read:
                continue
            if self.ctx.redact_all and not self._schema_like(key):
                # In the secrets file an odd key name may itself be a pasted secret.
                self.ctx.error(self.table, "(hidden)", "unknown key, name not shown in case it is "
                               f"a secret ({only or 'remove it'})")
                continue
            name = f"{self.table}.{key}" if self.table else key
            what = f"unknown table [{name}]" if isinstance(value, dict) else "unknown key"
            hint = only or suggest(key, sorted(self._read))
            self.ctx.error(self.table, key, what + (f" ({hint})" if hint else "") + self.context)

    def _schema_like(self, key: str) -> bool:
        """A key name that is, or nearly is, one of the schema's own names (so safe to show)."""
        names = self.ctx.schema.names
        return key in names or bool(suggest(key, sorted(names), cutoff=0.75))


class Reader(Table):
    """Typed getters over one TOML table; each records the key so ``finish()`` can flag the rest.

    A getter that finds a wrong value records an issue and returns the default.
    """

    def str_(self, key: str, default: str = "", *, pattern: re.Pattern[str] | None = None,
             shape: str = "") -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.wrong(key, "a string", value)
            return default
        if pattern is not None and not pattern.fullmatch(value):
            self.wrong(key, shape, value)
            return default
        return value

    def nonblank(self, key: str, default: str, *, shape: str) -> str:
        """A string with more than white space in it."""
        return self.str_(key, default, pattern=_NON_EMPTY, shape=shape)

    def line(self, key: str, default: str = "", *, shape: str, required: bool = False) -> str:
        """A string without control characters (a path, a port, a name); ``required``: one
        that is not blank either."""
        value = self.str_(key, default, pattern=_ONE_LINE,
                          shape=f"{shape} on one line, without control characters")
        if required and not value.strip():
            self.wrong(key, shape, value)
            return default
        return value

    def opt_int(self, key: str, *, lo: int | None = None, hi: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        if not is_int(value):
            self.wrong(key, "an integer", value)
            return None
        if not _in_range(value, lo, hi):
            self.error(key, f"must be {_range_text(lo, hi)}, found {value}")
            return None
        return int(value)

    def int_(self, key: str, default: int, *, lo: int | None = None, hi: int | None = None) -> int:
        value = self.opt_int(key, lo=lo, hi=hi)
        return default if value is None else value

    def number(self, key: str, default: float, *, lo: float | None = None,
               hi: float | None = None, positive: bool = False) -> float:
        """A float key; TOML integers are welcome (``timeout = 8``)."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.wrong(key, "a number", value)
        elif not math.isfinite(value):
            self.error(key, f"must be a finite number, found {value}")
        elif positive and value <= 0:
            self.error(key, f"must be greater than 0, found {value}")
        elif not _in_range(value, lo, hi):
            self.error(key, f"must be {_range_text(lo, hi)}, found {value}")
        else:
            return float(value)
        return default

    def bool_(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.wrong(key, "true or false", value)
            return default
        return value

    def choice(self, key: str, default: _T, choices: Sequence[_T]) -> _T:
        value = self.raw(key)
        if value is None:
            return default
        if type(value) is not type(default) or value not in choices:
            shown = [str(choice) for choice in choices]
            if isinstance(value, str) and not isinstance(default, str) and value.strip() in shown:
                hint = f"a number is written without quotes: {key} = {value.strip()}"
            else:
                hint = suggest(value, shown) if isinstance(value, str) else ""
            self.wrong(key, one_of(choices), value, hint)
            return default
        return value

    def choice_table(self, key: str, choices: Sequence[str], *, shape: str,
                     key_name: str) -> dict[str, str]:
        """An inline table whose every value is one of ``choices``, like ``{ A2 = "jam" }``:
        its valid entries. ``shape`` describes the table, ``key_name`` what its keys are."""
        value = self.raw(key)
        found: dict[str, str] = {}
        if value is not None and not isinstance(value, dict):
            self.wrong(key, shape, value)
        for name, item in (value if isinstance(value, dict) else {}).items():
            if isinstance(item, str) and item in choices:
                found[name] = item
            else:
                self.wrong(key, f'{key_name} "{name}" to have {one_of(choices)}', item)
        return found

    def str_list(self, key: str) -> tuple[str, ...]:
        """A list of non-empty strings without duplicates (case-insensitive)."""
        items = self._list(key, "an array of strings")
        seen: dict[str, str] = {}
        for number, item in enumerate(items, 1):
            if not isinstance(item, str) or not item.strip():
                self.wrong(key, f"item {number} to be a non-empty string", item)
            elif item.casefold() in seen:
                self.error(key, f'"{item}" is listed twice (already as "{seen[item.casefold()]}")')
            else:
                seen[item.casefold()] = item
        return tuple(items) if self.ok(key) else ()

    def int_list(self, key: str, *, lo: int, hi: int) -> tuple[int, ...]:
        """The valid integers of a list (so later checks still see them); bad items reported."""
        valid: list[int] = []
        for number, item in enumerate(self._list(key, "an array of integers"), 1):
            if not is_int(item):
                self.wrong(key, f"item {number} to be an integer", item)
            elif not _in_range(item, lo, hi):
                self.error(key, f"item {number} must be {_range_text(lo, hi)}, found {item}")
            else:
                valid.append(item)
        return tuple(valid)

    def _list(self, key: str, expected: str) -> list[Any]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.wrong(key, expected, value)
            return []
        return value


def _in_range(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"

