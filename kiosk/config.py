"""Strict TOML config loader: ``kiosk.toml`` (+ ``secrets.toml``) -> frozen dataclasses.

Klipper-style: every key is read through a typed, range-checked getter that records the read, and
whatever nobody read is reported as an unknown key. Nothing stops at the first problem: every issue
in both files is collected and raised at once as ``ConfigError``, each naming file, table and key.
Secret values are never echoed in a message.

    config = load_config("/etc/vending-kiosk/kiosk.toml")
    config.slot("A1").price          # Decimal("2.50")
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import os
import re
import stat
import tomllib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kiosk.errors import ConfigError, ConfigIssue
from kiosk.money import MINOR_UNITS, decimal_places, max_amount, parse_decimal
from kiosk.operator_pin import pin_hash_problem

GATEWAYS = ("mixpay", "wctpay", "centrapay")
DRIVERS = ("gpio", "mdb", "simulated")
WIRINGS = ("direct", "matrix")
FAULTS = ("jam", "no_drop", "motor_fault", "slow")
ROTATIONS = (0, 90, 180, 270)
MDB_ADDRESSES = (0x10, 0x60)
GPIO_PIN_MIN, GPIO_PIN_MAX = 0, 27
PIN_KEYS = ("motor_pins", "row_pins", "column_pins", "home_pin", "drop_pin")

# Keys whose values are never echoed; the only keys the secrets file may hold.
SECRET_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "payment.wctpay": ("key", "api_secret"),
    "payment.centrapay": ("api_key",),
    "operator": ("pin_hash",),
})

_MACHINE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SLOT_ID = re.compile(r"[A-Za-z0-9_-]{1,8}")
_URL = re.compile(r"https?://[^/\s]+\S*")
_PRICE_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_MATRIX_MOTOR = re.compile(r"\s*([0-9]+)\s*,\s*([0-9]+)\s*")
_NON_EMPTY = re.compile(r"(?s).*\S.*")
_BRIDGE_COMMAND = re.compile(r"[ -~]*[!-~][ -~]*")   # the bridge's serial line is ASCII
# Text that reaches a file name, a serial port or the screen: no NUL, line break or other
# control character (the OS and the font renderer refuse NUL with an exception).
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f-\x9f]*")
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1   # TOML integers are 64-bit (TOML 1.0, "Integer")
DISPLAY_MAX = 16384                # pixels: SDL's largest window and texture side
STOCK_MAX = 1_000_000
BAUDRATE_MAX = 4_000_000
WAIT_MAX_S = 600                  # hardware waits: longer overflows a timer, or nobody waits
SUPPORT_MAX = 80                  # [machine] support: one line on the claim and fault screens
_SUPPORT_URL = re.compile(r"(?i)https?://[^/\s?#@]+\S*")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# The examples' stand-ins for an identity: "your-...", "<...>", "...", the sandbox's demo
# values, and all-zero UUIDs (the version and variant digits aside).
_PLACEHOLDER = re.compile(r"(?i)your[-_ ].*|<.*>|\.\.\.|sandbox-.*"
                          r"|0{8}-0{4}-[0-9a-f]0{3}-[0-9a-f]0{3}-0{12}")
_EXAMPLE_DOMAINS = ("example", "example.com", "example.net", "example.org")  # RFC 2606


# --------------------------------------------------------------------------- dataclasses

@dataclass(frozen=True)
class MachineConfig:
    id: str = "vm-0001"
    currency: str = "USD"
    locale: str = "en"
    data_dir: Path = Path("/var/lib/vending-kiosk")
    support: str = ""                  # how a customer reaches the operator: phone, e-mail, URL
    wait_for_time_sync: bool = True    # no money before NTP set the clock (kiosk.time_sync)


@dataclass(frozen=True)
class DisplayConfig:
    width: int = 0
    height: int = 0
    rotation: int = 0
    fullscreen: bool = True


@dataclass(frozen=True)
class MixPayConfig:
    payee_id: str
    settlement_asset_id: str
    quote_asset_id: str = "usd"
    api_base: str = "https://api.mixpay.me/v1"
    checkout_base: str = "https://mixpay.me"


@dataclass(frozen=True)
class WctPayConfig:
    api_base: str = ""
    settlement_asset: str = "USD"
    key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class CentrapayConfig:
    api_base: str = "https://service.centrapay.com"
    config_id: str = ""
    api_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class PaymentConfig:
    gateway: str = "mixpay"
    timeout_s: int = 180
    choose_asset: bool = True
    assets: tuple[str, ...] = ()
    poll_interval_s: float | None = None   # None: the gateway's own recommended pace
    refund_give_up_h: int = 72             # a refund unconfirmed this long becomes a claim
    insecure_http: bool = False            # allow http:// gateways off this machine (dangerous)
    mixpay: MixPayConfig | None = None
    wctpay: WctPayConfig | None = None
    centrapay: CentrapayConfig | None = None


@dataclass(frozen=True)
class MdbConfig:
    port: str = "/dev/ttyACM0"
    baudrate: int = 115200
    address: int = 0x10
    patience_s: int = 60
    selection_timeout_s: int = 60      # touchscreen first: the walk to the keypad
    dispense_timeout_s: int = 60       # after approval: the machine's own dispense
    deny_command: str = "C,STOP"
    setconf: tuple[str, ...] = ()                               # extension: C,SETCONF lines
    failure_prefixes: tuple[str, ...] = ("c,ERR", "c,VEND,FAIL")  # extension: vend failures


@dataclass(frozen=True)
class GpioConfig:
    wiring: str = "direct"
    motor_pins: tuple[int, ...] = ()
    row_pins: tuple[int, ...] = ()
    column_pins: tuple[int, ...] = ()
    home_pin: int | None = None
    drop_pin: int | None = None
    active_high: bool = True
    turn_timeout_s: float = 8.0
    drop_timeout_s: float = 3.0


@dataclass(frozen=True)
class SimulatedConfig:
    faults: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    turn_time_s: float = 0.5


@dataclass(frozen=True)
class VendConfig:
    driver: str = "gpio"
    failures_to_disable: int = 2       # a slot failing this many vends in a row goes off sale
    mdb: MdbConfig = field(default_factory=MdbConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    simulated: SimulatedConfig = field(default_factory=SimulatedConfig)


@dataclass(frozen=True)
class SlotConfig:
    id: str
    name: str
    price: Decimal
    stock: int = 0
    image: str = ""
    motor: str | None = None          # "3" (direct wiring) or "2,3" (matrix row,column), 1-based
    mdb_item: int | None = None


@dataclass(frozen=True)
class OperatorConfig:
    pin_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class Config:
    path: Path
    machine: MachineConfig
    display: DisplayConfig
    payment: PaymentConfig
    vend: VendConfig
    slots: tuple[SlotConfig, ...]
    operator: OperatorConfig
    # Problems that do not stop the kiosk but should be fixed (kiosk check-config, selftest).
    warnings: tuple[ConfigIssue, ...] = field(default=(), compare=False)

    def slot(self, slot_id: str) -> SlotConfig:
        """The slot with this id; ``KeyError`` if the config has none."""
        for slot in self.slots:
            if slot.id == slot_id:
                return slot
        raise KeyError(slot_id)


_SCHEMA_NAMES = frozenset(
    [f.name for cls in (MachineConfig, DisplayConfig, MixPayConfig, WctPayConfig, CentrapayConfig,
                        PaymentConfig, MdbConfig, GpioConfig, SimulatedConfig, VendConfig,
                        SlotConfig, OperatorConfig, Config) for f in fields(cls)] + ["slot"])


# --------------------------------------------------------------------------- public entry point

def load_config(path: Path | str, secrets_path: Path | str | None = None) -> Config:
    """Load and validate ``path`` plus its secrets file; raise ``ConfigError`` listing every issue.

    Without ``secrets_path``, ``secrets.toml`` next to the config is used if it exists. Any
    document gives a ``Config`` or a ``ConfigError``, never another exception. What is worth
    fixing but does not stop the kiosk is in ``Config.warnings``.
    """
    file = str(path)
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    doc = _load_toml(file, issues, redact=False)
    secrets = _load_secrets(Path(path), secrets_path, issues, warnings)
    if doc is None:
        raise ConfigError(issues)
    config = _build(_Ctx(file, issues, secrets, warnings=warnings), doc, Path(path))
    if issues:
        raise ConfigError(issues)
    return config


def parse_toml(text: str, file: str, *, redact: bool) -> dict[str, Any]:
    """``text`` as a TOML document, or ``ConfigError`` with the one reason it is not one.

    Besides syntax errors this covers what ``tomllib`` raises other than ``TOMLDecodeError``:
    ``RecursionError`` on arrays or inline tables nested too deeply, and ``ValueError`` on an
    integer too long to convert; integers beyond TOML's 64 bits are refused as the spec asks.
    ``redact`` leaves out the character ``tomllib`` quotes: in a file with secrets it may be one.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        shown = str(exc)
        if redact:
            shown = re.sub(r"""character (['"]).*?\1""", "character", shown)
        issue = ConfigIssue(file, "", "", f"TOML syntax error: {shown}")
    except RecursionError:
        issue = ConfigIssue(file, "", "", "nested too deeply: arrays or inline tables inside "
                                          "each other beyond what the kiosk reads")
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        issue = ConfigIssue(file, "", "", f"an integer is out of range: {_INT64_RULE}")
    else:
        where = _beyond_int64(doc)
        if where is None:
            return doc
        issue = ConfigIssue(file, *where, f"integer out of range: {_INT64_RULE}")
    raise ConfigError([issue])


_INT64_RULE = f"TOML integers are 64-bit, {INT64_MIN} to {INT64_MAX}"


def _beyond_int64(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(table, key)`` of an integer beyond 64 bits, if any. A loop, not recursion: the
    document may be nested as deeply as the parser allows."""
    pending: deque[tuple[str, str, Any]] = deque(("", k, v) for k, v in doc.items())
    while pending:
        table, key, value = pending.popleft()
        if isinstance(value, dict):
            name = f"{table}.{key}" if table else key
            pending.extend((name, k, v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((table, f"{key}[{i}]" if isinstance(item, dict) else key, item)
                           for i, item in enumerate(value))
        elif _is_int(value) and not INT64_MIN <= value <= INT64_MAX:
            return table, key
    return None


# --------------------------------------------------------------------------- reading machinery

_T = TypeVar("_T", str, int)


@dataclass
class _Secrets:
    """Valid values from the secrets file, keyed by (table, key)."""

    file: str
    values: dict[tuple[str, str], str] = field(default_factory=dict)
    readable: bool = True            # False: the file exists but could not be parsed


@dataclass
class _Ctx:
    """One file being read: where issues go, and which (table, key) pairs already failed."""

    file: str
    issues: list[ConfigIssue]
    secrets: _Secrets
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


class _Reader:
    """Typed getters over one TOML table; each records the key so ``finish()`` can flag the rest.

    A getter that finds a wrong value records an issue and returns the default, so reading goes
    on and every problem is reported in one pass.
    """

    def __init__(self, ctx: _Ctx, data: Mapping[str, Any], table: str, present: bool) -> None:
        self.ctx = ctx
        self.data = data
        self.table = table
        self.present = present
        self.context = ""                 # appended to messages, e.g. ' (slot "A1")'
        self._read: set[str] = set()

    # -- plumbing

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

    def secret(self, key: str) -> bool:
        return self.ctx.redact_all or key in SECRET_KEYS.get(self.table, ())

    def wrong(self, key: str, expected: str, value: Any, hint: str = "") -> None:
        found = _describe(value, self.secret(key))
        self.error(key, f"expected {expected}, found {found}" + (f" ({hint})" if hint else ""))

    def sub(self, key: str) -> _Reader:
        """A reader over the sub-table ``key`` (empty and not ``present`` when absent or wrong)."""
        value = self.raw(key)
        name = f"{self.table}.{key}" if self.table else key
        if value is not None and not isinstance(value, dict):
            self.wrong(key, f"a table [{name}]", value)
            value = None
        return _Reader(self.ctx, value or {}, name, value is not None)

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
            if self.ctx.redact_all and not _schema_like(key):
                # In the secrets file an odd key name may itself be a pasted secret.
                self.ctx.error(self.table, "(hidden)", "unknown key, name not shown in case it is "
                               f"a secret ({only or 'remove it'})")
                continue
            name = f"{self.table}.{key}" if self.table else key
            what = f"unknown table [{name}]" if isinstance(value, dict) else "unknown key"
            hint = only or _suggest(key, sorted(self._read))
            self.ctx.error(self.table, key, what + (f" ({hint})" if hint else "") + self.context)

    # -- typed getters

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

    def line(self, key: str, default: str = "", *, shape: str, required: bool = False) -> str:
        """A string without control characters (a path, a port, a name); ``required``: one
        that is not blank either."""
        value = self.str_(key, default, pattern=_ONE_LINE,
                          shape=f"{shape} on one line, without control characters")
        if required and not value.strip():
            self.wrong(key, shape, value)
            return default
        return value

    def url(self, key: str, default: str, *, insecure_http: bool) -> str:
        """An http(s) URL. Plain http only to this machine (the sandbox) or with ``[payment]
        insecure_http``: API keys and payment data must not cross a network in clear text."""
        value = self.str_(key, default)
        if value and not _URL.fullmatch(value):
            self.wrong(key, "a URL starting with http:// or https://", value)
            return default
        if value.startswith("http://") and not _loopback(value):
            if not insecure_http:
                self.error(key, f'"{value}" is plain http://: the API keys and payment data '
                                "would cross the network unencrypted; use https:// (only this "
                                "machine, 127.0.0.1 or localhost, may be reached by http), or "
                                "set [payment] insecure_http = true for a test gateway on a "
                                "network you trust (dangerous)")
                return default
            self.ctx.warn(self.table, key, f'"{value}" is plain http://, allowed by [payment] '
                                           "insecure_http = true: the API keys and payment data "
                                           "cross the network unencrypted")
        return value.rstrip("/")

    def opt_int(self, key: str, *, lo: int | None = None, hi: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        if not _is_int(value):
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
                hint = _suggest(value, shown) if isinstance(value, str) else ""
            self.wrong(key, _one_of(choices), value, hint)
            return default
        return value

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
            if not _is_int(item):
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


def _schema_like(key: str) -> bool:
    """A key name that is, or nearly is, one of the schema's own names (so safe to show)."""
    return key in _SCHEMA_NAMES or bool(_suggest(key, sorted(_SCHEMA_NAMES), cutoff=0.75))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _in_range(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"


def _one_of(choices: Sequence[object]) -> str:
    shown = [json.dumps(c) for c in choices]
    return "one of " + ", ".join(shown[:-1]) + " or " + shown[-1]


def _suggest(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str:
    folded = {c.casefold(): c for c in candidates}  # "a1" should find "A1"
    match = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=cutoff)
    return f'did you mean "{folded[match[0]]}"?' if match else ""


def _describe(value: Any, hide: bool = False) -> str:
    """How a TOML value looks to the operator: 'string "abc"', 'integer 5', 'boolean true'."""
    kind = _kind(value)
    if hide:
        return f"{kind} (value hidden)"
    if isinstance(value, str):
        if not value:
            return "an empty string"
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"string {json.dumps(text, ensure_ascii=False)}"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    return kind if isinstance(value, (list, dict)) else f"{kind} {value}"


def _kind(value: Any) -> str:
    for type_, name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"),
                        (list, "array"), (dict, "table")):
        if isinstance(value, type_):
            return name
    return "date/time"


# --------------------------------------------------------------------------- files

def _load_toml(file: str, issues: list[ConfigIssue], *, redact: bool) -> dict[str, Any] | None:
    """The parsed document, or ``None`` after recording why it could not be read."""
    try:
        with open(file, "rb") as handle:
            return parse_toml(handle.read().decode("utf-8"), file, redact=redact)
    except FileNotFoundError:
        message = "file not found"
    except IsADirectoryError:
        message = "is a directory, not a config file"
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        message = "is not valid UTF-8 text"
    except ConfigError as exc:
        issues.extend(exc.issues)
        return None
    issues.append(ConfigIssue(file, "", "", message))
    return None


def _load_secrets(config_path: Path, secrets_path: Path | str | None,
                  issues: list[ConfigIssue], warnings: list[ConfigIssue]) -> _Secrets:
    if secrets_path is None:
        default = config_path.parent / "secrets.toml"
        if not default.is_file():
            return _Secrets(str(default))
        secrets_path = default
    file = str(secrets_path)
    doc = _load_toml(file, issues, redact=True)
    if doc is None:
        return _Secrets(file, readable=False)
    _check_secrets_mode(file, warnings)
    return _read_secrets(_Ctx(file, issues, _Secrets(file), redact_all=True), doc)


def _check_secrets_mode(file: str, warnings: list[ConfigIssue]) -> None:
    """Only the kiosk's own user may read the secrets: other users could take the keys."""
    try:
        mode = stat.S_IMODE(os.stat(file).st_mode)
    except OSError:
        return  # it was just read; a file gone since has nothing left to protect
    if mode & 0o077:
        warnings.append(ConfigIssue(file, "", "", f"readable by group or others (mode "
                                                  f"{mode:04o}): other users could take the "
                                                  f"secrets; chmod 600 {file}"))


def _read_secrets(ctx: _Ctx, doc: Mapping[str, Any]) -> _Secrets:
    allowed = ", ".join(f"{t}.{k}" for t, keys in SECRET_KEYS.items() for k in keys)
    only = f"the secrets file may only hold {allowed}"
    top = _Reader(ctx, doc, "", True)
    payment = top.sub("payment")
    found = _Secrets(ctx.file)
    for reader in (payment.sub("wctpay"), payment.sub("centrapay"), top.sub("operator")):
        for key in SECRET_KEYS[reader.table]:
            value = reader.str_(key)
            if reader.has(key) and reader.ok(key):
                found.values[(reader.table, key)] = value
        reader.finish(only)
    payment.finish(only)
    top.finish(only)
    return found


# --------------------------------------------------------------------------- schema

def _build(ctx: _Ctx, doc: Mapping[str, Any], path: Path) -> Config:
    top = _Reader(ctx, doc, "", True)
    machine_reader = top.sub("machine")
    machine = _machine(machine_reader, path.parent)
    display = _display(top.sub("display"))
    payment = _payment(top.sub("payment"))
    vend_reader = top.sub("vend")
    vend = _vend(vend_reader)
    currency = machine.currency if machine_reader.ok("currency") else None
    driver = vend.driver if vend_reader.ok("driver") else None
    slots = _slots(top, currency, driver, vend.gpio)
    _check_faults(ctx, vend.simulated, slots)
    _check_settlement(ctx, payment, currency)
    operator = _operator(top.sub("operator"))
    top.finish()
    return Config(path, machine, display, payment, vend, slots, operator, tuple(ctx.warnings))


def _check_settlement(ctx: _Ctx, payment: PaymentConfig, currency: str | None) -> None:
    """WCT Pay charges ``amount`` in its settlement asset: it must be the price currency."""
    wct = payment.wctpay
    if (payment.gateway == "wctpay" and wct is not None and currency is not None
            and wct.settlement_asset.upper() != currency):
        ctx.error("payment.wctpay", "settlement_asset",
                  f'must be the machine currency "{currency}" (prices are charged in it), '
                  f'found "{wct.settlement_asset}"')


def _refuse_placeholders(r: _Reader, api_base: str, *, ids: Sequence[tuple[str, str, str]],
                         urls: Sequence[tuple[str, str, str]]) -> None:
    """The selected gateway's identity must be the operator's own: with an example's stand-in
    the machine looks sellable and would take real money into an account nobody holds. Each
    entry is (key, value, what belongs there). The built-in sandbox on loopback is exempt: no
    money moves there, and its demo values are what it expects."""
    if _loopback(api_base):
        return
    for key, value, what in urls:
        if value and r.ok(key) and _example_host(_host(value)):
            r.error(key, f'not configured: "{value}" is an example address; put {what} here')
    for key, value, what in ids:
        if value and r.ok(key) and _placeholder(value):
            shown = "value hidden" if r.secret(key) else json.dumps(value, ensure_ascii=False)
            place = f"in {r.ctx.secrets.file}" if r.secret(key) else "here"
            r.error(key, f"not configured: still a placeholder ({shown}); put {what} {place}")


def _placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(value.strip()))


def _example_host(host: str) -> bool:
    """A domain reserved for documentation (RFC 2606): no gateway or operator lives there."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in _EXAMPLE_DOMAINS)


def _loopback(url: str) -> bool:
    host = _host(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # e.g. an unclosed "[" of an IPv6 literal
        return ""


def _secret(reader: _Reader, key: str) -> str:
    """A secret key: type-checked in this file, overridden by the secrets file when set there.
    Found in this file it works, with a warning: this file is readable by every user."""
    value = reader.str_(key)
    ctx = reader.ctx
    if value and reader.ok(key):
        ctx.warn(reader.table, key, f"a secret in this file, which is not protected like the "
                                    f"secrets file: move it into {ctx.secrets.file} (mode 0600; "
                                    "from the SD card's operator file the import at boot does)")
    return ctx.secrets.values.get((reader.table, key), value)


def _require_secret(reader: _Reader, key: str, value: str, why: str) -> None:
    if reader.ctx.secrets.readable:  # an unparsable secrets file is already reported
        reader.require(key, value, f"{why}; put it in {reader.ctx.secrets.file}")


def _secrets_present(reader: _Reader) -> bool:
    return reader.present or any(t == reader.table for t, _ in reader.ctx.secrets.values)


def _machine(r: _Reader, config_dir: Path) -> MachineConfig:
    machine_id = r.str_("id", "vm-0001", pattern=_MACHINE_ID,
                        shape='1 to 64 letters, digits, ".", "_" or "-"')
    currency = r.str_("currency", "USD")
    if r.ok("currency") and currency not in MINOR_UNITS:
        hint = f'did you mean "{currency.upper()}"?' if currency.upper() in MINOR_UNITS else ""
        r.wrong("currency", 'an ISO 4217 code the kiosk knows, such as "USD", "EUR" or "JPY"',
                currency, hint)
        currency = "USD"
    locale = _locale(r)
    data_dir = _data_dir(r, config_dir)
    support = _support(r)
    wait_for_time_sync = r.bool_("wait_for_time_sync", True)
    r.finish()
    return MachineConfig(machine_id, currency, locale, data_dir, support, wait_for_time_sync)


def _data_dir(r: _Reader, config_dir: Path) -> Path:
    """Absolute; a relative path is relative to the config file, not to wherever the service
    happened to start, and ``~user`` is expanded."""
    default = "/var/lib/vending-kiosk"
    text = r.line("data_dir", default, shape="a directory path", required=True)
    try:
        expanded = Path(text).expanduser()
    except RuntimeError:  # no such user, or no home directory to expand "~" to
        r.error("data_dir", f'"{text}" starts with a home directory ("~") this machine does '
                            "not have: write the full path")
        expanded = Path(default)
    return Path(os.path.abspath(config_dir / expanded))


def _locale(r: _Reader) -> str:
    """A language the screens have texts in: exact ("de") or regional ("de-AT"), never a silent
    fall back to English."""
    # Imported here: kiosk.i18n -> kiosk.resources imports this module.
    from kiosk.i18n import default_catalogue, language_for

    locale = r.str_("locale", "en", pattern=_LOCALE, shape='a language tag like "en" or "de-AT"')
    languages = default_catalogue().languages
    # With no catalogue at all the installation is broken, not the config (kiosk.i18n logs it).
    if r.ok("locale") and languages and language_for(locale, languages) is None:
        listed = ", ".join(f'"{code}"' for code in languages)
        r.error("locale", f'the kiosk has no screen texts in "{locale}": choose one of its '
                          f'languages ({listed}), or a regional form of one such as "de-AT"')
        return "en"
    return locale


def _support(r: _Reader) -> str:
    """How customers reach the operator: a phone number, an e-mail or an http(s) URL (also shown
    as a QR), on one line that fits the claim and fault screens."""
    support = r.str_("support", "").strip()
    if not support:
        return ""
    if len(support) > SUPPORT_MAX:
        r.error("support", f"must be at most {SUPPORT_MAX} characters (a phone number, an "
                           f"e-mail or a web address), found {len(support)}")
    elif not support.isprintable():
        r.error("support", "must be one line, without line breaks, tabs or control characters")
    elif support.lower().startswith(("http:", "https:")) and not _SUPPORT_URL.fullmatch(support):
        r.wrong("support", "a web address like https://help.example.net/vm-0001 (http or https "
                           "and a host name)", support)
    elif _placeholder(support) or any(_example_host(d) for d in _DOMAIN.findall(support)):
        shown = json.dumps(support, ensure_ascii=False)
        r.error("support", f"not configured: still a placeholder ({shown}); put "
                           "the phone number, e-mail or web address customers reach you at "
                           "here, or remove the line")
    else:
        return support
    return ""


def _display(r: _Reader) -> DisplayConfig:
    config = DisplayConfig(
        width=r.int_("width", 0, lo=0, hi=DISPLAY_MAX),
        height=r.int_("height", 0, lo=0, hi=DISPLAY_MAX),
        rotation=r.choice("rotation", 0, ROTATIONS),
        fullscreen=r.bool_("fullscreen", True),
    )
    r.finish()
    return config


def _payment(r: _Reader) -> PaymentConfig:
    gateway = r.choice("gateway", "mixpay", GATEWAYS)
    selected = gateway if r.ok("gateway") else None
    insecure_http = r.bool_("insecure_http", False)   # read first: the gateways' URLs need it
    config = PaymentConfig(
        gateway=gateway,
        timeout_s=r.int_("timeout_s", 180, lo=15, hi=3600),
        choose_asset=r.bool_("choose_asset", True),
        assets=r.str_list("assets"),
        # absent (or invalid, already reported) reads as 0.0: use the gateway's own pace
        poll_interval_s=r.number("poll_interval_s", 0.0, lo=0.2, hi=60) or None,
        refund_give_up_h=r.int_("refund_give_up_h", 72, lo=1, hi=24 * 90),
        insecure_http=insecure_http,
        mixpay=_mixpay(r.sub("mixpay"), selected == "mixpay", insecure_http),
        wctpay=_wctpay(r.sub("wctpay"), selected == "wctpay", insecure_http),
        centrapay=_centrapay(r.sub("centrapay"), selected == "centrapay", insecure_http),
    )
    if selected == "wctpay":
        r.require("assets", config.assets,
                  'gateway "wctpay" needs the coins to offer, e.g. assets = ["BTC", "USDT"]')
    r.finish()
    return config


def _mixpay(r: _Reader, selected: bool, insecure_http: bool) -> MixPayConfig | None:
    config = MixPayConfig(
        payee_id=r.str_("payee_id"),
        settlement_asset_id=r.str_("settlement_asset_id"),
        quote_asset_id=r.str_("quote_asset_id", "usd", pattern=_NON_EMPTY,
                              shape="an asset id such as \"usd\""),
        api_base=r.url("api_base", "https://api.mixpay.me/v1", insecure_http=insecure_http),
        checkout_base=r.url("checkout_base", "https://mixpay.me", insecure_http=insecure_http),
    )
    if selected:
        why = 'payment.gateway = "mixpay" needs it'
        r.require("payee_id", config.payee_id, f"{why} (the MixPay account that receives payments)")
        r.require("settlement_asset_id", config.settlement_asset_id, why)
        _refuse_placeholders(
            r, config.api_base,
            ids=(("payee_id", config.payee_id, "your MixPay payee id"),
                 ("settlement_asset_id", config.settlement_asset_id,
                  "the MixPay asset id you are paid in")),
            urls=(("api_base", config.api_base, "MixPay's API (https://api.mixpay.me/v1)"),
                  ("checkout_base", config.checkout_base,
                   "MixPay's checkout (https://mixpay.me)")))
    r.finish()
    return config if r.present else None


def _wctpay(r: _Reader, selected: bool, insecure_http: bool) -> WctPayConfig | None:
    config = WctPayConfig(
        api_base=r.url("api_base", "", insecure_http=insecure_http),
        settlement_asset=r.str_("settlement_asset", "USD", pattern=_NON_EMPTY,
                                shape='an asset symbol such as "USD"'),
        key=_secret(r, "key"),
        api_secret=_secret(r, "api_secret"),
    )
    if selected:
        why = 'payment.gateway = "wctpay" needs it'
        r.require("api_base", config.api_base, f"{why} (the URL WCT Pay gave you at onboarding)")
        _require_secret(r, "key", config.key, why)
        _require_secret(r, "api_secret", config.api_secret, why)
        _refuse_placeholders(
            r, config.api_base,
            ids=(("key", config.key, "your WCT Pay terminal API key"),
                 ("api_secret", config.api_secret, "your WCT Pay API secret")),
            urls=(("api_base", config.api_base, "the URL WCT Pay gave you at onboarding"),))
    r.finish()
    return config if _secrets_present(r) else None


def _centrapay(r: _Reader, selected: bool, insecure_http: bool) -> CentrapayConfig | None:
    config = CentrapayConfig(
        api_base=r.url("api_base", "https://service.centrapay.com", insecure_http=insecure_http),
        config_id=r.str_("config_id"),
        api_key=_secret(r, "api_key"),
    )
    if selected:
        why = 'payment.gateway = "centrapay" needs it'
        r.require("config_id", config.config_id, why)
        _require_secret(r, "api_key", config.api_key, why)
        _refuse_placeholders(
            r, config.api_base,
            ids=(("config_id", config.config_id, "your Centrapay payment config id"),
                 ("api_key", config.api_key, "your Centrapay API key")),
            urls=(("api_base", config.api_base,
                   "Centrapay's API (https://service.centrapay.com)"),))
    r.finish()
    return config if _secrets_present(r) else None


def _vend(r: _Reader) -> VendConfig:
    driver = r.choice("driver", "gpio", DRIVERS)
    config = VendConfig(
        driver=driver,
        failures_to_disable=r.int_("failures_to_disable", 2, lo=1, hi=100),
        mdb=_mdb(r.sub("mdb")),
        gpio=_gpio(r.sub("gpio"), r.ok("driver") and driver == "gpio"),
        simulated=_simulated(r.sub("simulated")),
    )
    r.finish()
    return config


def _mdb(r: _Reader) -> MdbConfig:
    config = MdbConfig(
        port=r.line("port", "/dev/ttyACM0", shape="a serial port or pyserial URL",
                    required=True),
        baudrate=r.int_("baudrate", 115200, lo=1, hi=BAUDRATE_MAX),
        address=r.int_("address", 0x10),
        patience_s=r.int_("patience_s", 60, lo=5, hi=600),
        selection_timeout_s=r.int_("selection_timeout_s", 60, lo=5, hi=600),
        dispense_timeout_s=r.int_("dispense_timeout_s", 60, lo=5, hi=600),
        deny_command=r.str_("deny_command", "C,STOP", pattern=_BRIDGE_COMMAND,
                            shape='a bridge command such as "C,STOP" (printable ASCII, one '
                                  'line)'),
        setconf=r.str_list("setconf"),
        failure_prefixes=r.str_list("failure_prefixes") or ("c,ERR", "c,VEND,FAIL"),
    )
    bad = [line for line in config.setconf
           if not line.startswith("C,SETCONF,") or not _BRIDGE_COMMAND.fullmatch(line)]
    if bad:
        r.error("setconf", f'every line must be a "C,SETCONF,..." command in printable ASCII, '
                           f"found {json.dumps(bad[0])}")
    elif any(line.startswith("C,SETCONF,mdb-addr=") for line in config.setconf):
        r.error("setconf", "the MDB address is set with address = 0x10 or 0x60, not a setconf "
                           "line")
    if r.ok("address") and config.address not in MDB_ADDRESSES:
        r.error("address", f"expected 0x10 (cashless #1) or 0x60 (cashless #2), "
                           f"found {config.address:#x}")
    r.finish()
    return config


def _gpio(r: _Reader, active: bool) -> GpioConfig:
    pins = {"lo": GPIO_PIN_MIN, "hi": GPIO_PIN_MAX}
    config = GpioConfig(
        wiring=r.choice("wiring", "direct", WIRINGS),
        motor_pins=r.int_list("motor_pins", **pins),
        row_pins=r.int_list("row_pins", **pins),
        column_pins=r.int_list("column_pins", **pins),
        home_pin=r.opt_int("home_pin", **pins),
        drop_pin=r.opt_int("drop_pin", **pins),
        active_high=r.bool_("active_high", True),
        turn_timeout_s=r.number("turn_timeout_s", 8.0, positive=True, hi=WAIT_MAX_S),
        drop_timeout_s=r.number("drop_timeout_s", 3.0, positive=True, hi=WAIT_MAX_S),
    )
    _check_pin_reuse(r, config)
    if active:
        _require_gpio(r, config)
    r.finish()
    return config


def _check_pin_reuse(r: _Reader, config: GpioConfig) -> None:
    used: dict[int, str] = {}
    for key in PIN_KEYS:
        value: tuple[int, ...] | int | None = getattr(config, key)
        pins = value if isinstance(value, tuple) else () if value is None else (value,)
        for pin in pins:
            if pin in used:
                where = "earlier in the same list" if used[pin] == key else f"by {used[pin]}"
                r.error(key, f"GPIO {pin} is already used {where}; each pin can do one job")
            used.setdefault(pin, key)


def _require_gpio(r: _Reader, config: GpioConfig) -> None:
    why = 'vend.driver = "gpio" needs it'
    if config.wiring == "direct" and r.ok("wiring"):
        r.require("motor_pins", config.motor_pins,
                  f'{why} with wiring = "direct" (one pin per motor)')
    elif config.wiring == "matrix":
        r.require("row_pins", config.row_pins, f'{why} with wiring = "matrix"')
        r.require("column_pins", config.column_pins, f'{why} with wiring = "matrix"')
    r.require("home_pin", config.home_pin, f"{why} (the motors' cam switch)")
    r.require("drop_pin", config.drop_pin, f"{why} (the drop beam across the delivery bin)")


def _simulated(r: _Reader) -> SimulatedConfig:
    value = r.raw("faults")
    faults: dict[str, str] = {}
    if value is not None and not isinstance(value, dict):
        r.wrong("faults", 'an inline table of slot id = fault, e.g. { A2 = "jam" }', value)
    for slot_id, fault in (value if isinstance(value, dict) else {}).items():
        if isinstance(fault, str) and fault in FAULTS:
            faults[slot_id] = fault
        else:
            r.wrong("faults", f'slot "{slot_id}" to have {_one_of(FAULTS)}', fault)
    config = SimulatedConfig(MappingProxyType(faults),
                             r.number("turn_time_s", 0.5, lo=0, hi=WAIT_MAX_S))
    r.finish()
    return config


def _check_faults(ctx: _Ctx, simulated: SimulatedConfig, slots: tuple[SlotConfig, ...]) -> None:
    ids = list(dict.fromkeys(slot.id for slot in slots if slot.id))
    for slot_id in simulated.faults:
        if ids and slot_id not in ids:
            hint = _suggest(slot_id, ids)
            ctx.error("vend.simulated", "faults", f'slot "{slot_id}" is not a configured slot id '
                      f"(slots: {', '.join(ids)})" + (f"; {hint}" if hint else ""))


def _operator(r: _Reader) -> OperatorConfig:
    config = OperatorConfig(pin_hash=_secret(r, "pin_hash"))
    problem = pin_hash_problem(config.pin_hash) if config.pin_hash else ""
    if problem:
        secrets = r.ctx.secrets
        where = secrets.file if (r.table, "pin_hash") in secrets.values else ""
        r.ctx.warn(r.table, "pin_hash", f"{problem}; set the PIN again with kiosk set-pin", where)
    r.finish()
    return config


# --------------------------------------------------------------------------- slots

def _slots(top: _Reader, currency: str | None, driver: str | None,
           gpio: GpioConfig) -> tuple[SlotConfig, ...]:
    value = top.raw("slot")
    if value is None or value == []:
        top.error("slot", "at least one [[slot]] is required: the kiosk has nothing to sell")
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        hint = "write [[slot]], with double brackets, above each slot" if isinstance(value, dict) \
            else ""
        top.wrong("slot", "[[slot]] tables", value, hint)
        return ()
    slots: list[SlotConfig] = []
    ids: dict[str, int] = {}
    items: dict[int, str] = {}
    for index, data in enumerate(value):
        r = _Reader(top.ctx, data, f"slot[{index}]", True)
        slots.append(_slot(r, index, ids, items, currency, driver, gpio))
        r.finish()
    return tuple(slots)


def _slot(r: _Reader, index: int, ids: dict[str, int], items: dict[int, str],
          currency: str | None, driver: str | None, gpio: GpioConfig) -> SlotConfig:
    slot_id = r.str_("id", pattern=_SLOT_ID, shape='1 to 8 letters, digits, "_" or "-" (like "A1")')
    r.require("id", slot_id, 'every slot needs an id like "A1"')
    if slot_id in ids:
        r.error("id", f'duplicate slot id "{slot_id}": slot[{ids[slot_id]}] already uses it')
    elif slot_id:
        ids[slot_id] = index
    if slot_id:
        r.context = f' (slot "{slot_id}")'
    name = r.line("name", shape="a name to show customers")
    r.require("name", name.strip(), "every slot needs a name to show customers")
    price = _price(r, currency)
    stock = r.int_("stock", 0, lo=0, hi=STOCK_MAX)
    image = r.line("image", shape="an image file name")
    motor = _motor(r, gpio if driver == "gpio" else None)
    mdb_item = _mdb_item(r, items, slot_id)
    return SlotConfig(slot_id, name, price, stock, image, motor, mdb_item)


def _price(r: _Reader, currency: str | None) -> Decimal:
    """A positive ``Decimal`` from a TOML string or integer; never through a float."""
    value = r.raw("price")
    if value is None:
        r.require("price", None, 'every slot needs a price, e.g. price = "2.50"')
    elif isinstance(value, float):
        example = f"{Decimal(repr(value)):f}" if math.isfinite(value) and value > 0 else "2.50"
        r.error("price", f'found float {value}: write the price as a quoted string, '
                         f'price = "{example}", because floats cannot hold money exactly')
    elif _is_int(value):
        return _positive_price(r, Decimal(value), str(value), currency)
    elif isinstance(value, str) and _PRICE_TEXT.fullmatch(value.strip()):
        return _positive_price(r, parse_decimal(value), f'"{value}"', currency)
    else:
        r.wrong("price", 'a price written as a quoted string like "2.50"', value)
    return Decimal(0)


def _positive_price(r: _Reader, price: Decimal, shown: str, currency: str | None) -> Decimal:
    if price <= 0:
        r.error("price", f"must be greater than zero, found {shown}")
    elif price > max_amount(currency or "USD"):
        # Beyond it quantize, scaleb and the gateways' JSON numbers lose digits or fail.
        who = f"a {currency} price" if currency else "a price"
        r.error("price", f"{shown} is too large: {who} goes up to {max_amount(currency or 'USD')}")
    elif currency is not None and decimal_places(price) > MINOR_UNITS[currency]:
        allowed = MINOR_UNITS[currency]
        rule = "whole numbers" if allowed == 0 else f"at most {allowed} decimals"
        r.error("price", f"{shown} has {decimal_places(price)} decimals but {currency} "
                         f"prices take {rule}")
    else:
        return price
    return Decimal(0)


def _motor(r: _Reader, gpio: GpioConfig | None) -> str | None:
    """``3`` or ``"2,3"`` -> ``"3"`` / ``"2,3"``; checked against the wiring when driving GPIO."""
    value = r.raw("motor")
    match = _MATRIX_MOTOR.fullmatch(value) if isinstance(value, str) else None
    if value is None:
        if gpio is not None:
            r.require("motor", None, 'vend.driver = "gpio" needs the motor that turns this slot')
        return None
    if _is_int(value) and value >= 1:
        numbers: tuple[int, ...] = (value,)
    elif match and int(match[1]) >= 1 and int(match[2]) >= 1:
        numbers = (int(match[1]), int(match[2]))
    else:
        r.wrong("motor", 'a motor number from 1 (like 3) or "row,column" from 1 (like "2,3")',
                value)
        return None
    if gpio is not None:
        _check_motor_wiring(r, numbers, gpio)
    return ",".join(str(n) for n in numbers)


def _check_motor_wiring(r: _Reader, numbers: tuple[int, ...], gpio: GpioConfig) -> None:
    if not all(r.ctx.ok("vend.gpio", key) for key in ("wiring", *PIN_KEYS[:3])):
        return  # the wiring itself is wrong and already reported
    if gpio.wiring == "direct":
        if len(numbers) != 1:
            r.error("motor", 'wiring = "direct" takes a motor number like 3, not "row,column"')
        elif gpio.motor_pins and numbers[0] > len(gpio.motor_pins):
            r.error("motor", f"motor {numbers[0]} does not exist: vend.gpio.motor_pins lists "
                             f"{len(gpio.motor_pins)} pins")
    elif len(numbers) != 2:
        r.error("motor", 'wiring = "matrix" takes "row,column" like "2,3", not a single number')
    else:
        for number, pins, what in ((numbers[0], gpio.row_pins, "row"),
                                   (numbers[1], gpio.column_pins, "column")):
            if pins and number > len(pins):
                r.error("motor", f"{what} {number} does not exist: vend.gpio.{what}_pins lists "
                                 f"{len(pins)} pins")


def _mdb_item(r: _Reader, items: dict[int, str], slot_id: str) -> int | None:
    # Optional even with the MDB driver: an unmapped slot is matched by its price.
    item = r.opt_int("mdb_item", lo=0, hi=65535)
    if item is not None and item in items:
        r.error("mdb_item", f'item {item} is already used by slot "{items[item]}"')
    elif item is not None:
        items[item] = slot_id or r.table
    return item
