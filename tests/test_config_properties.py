"""Property tests for ``load_config``: every TOML document yields a ``Config`` or a
``ConfigError``, never another exception, and whatever it accepts the kiosk can sell at.

Four sources of documents: arbitrary TOML values under arbitrary keys, arbitrary values for
every key of the schema in an otherwise valid config (and its secrets file), random edits of a
valid file's text (the mutation fuzz of issue #10), and nesting deep enough to exhaust the
parser's recursion. Documents are written by the small TOML writer below (``tomli_w`` is not a
dependency), which can also write what TOML forbids, such as integers beyond 64 bits.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.assembly import products
from kiosk.config import (
    CentrapayConfig, Config, DisplayConfig, GpioConfig, MachineConfig, MdbConfig, MixPayConfig,
    OperatorConfig, PaymentConfig, SimulatedConfig, SlotConfig, VendConfig, WctPayConfig,
    load_config,
)
from kiosk.errors import ConfigError
from kiosk.flow import (
    CoinChosen, CreatePayment, Flow, FlowSettings, ItemChosen, StartTapped, initial_state,
)
from kiosk.money import MINOR_UNITS, format_amount, from_minor, to_minor
from kiosk.operator_pin import hash_pin

# Each test stays within a few seconds; together they run well under a minute.
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --------------------------------------------------------------------------- a tiny TOML writer

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def toml_string(text: str) -> str:
    """A TOML basic string: quotes and backslashes escaped, control characters as ``\\uXXXX``
    (TOML forbids them raw, DEL included, which ``json.dumps`` would leave)."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)   # beyond 64 bits too: the loader must refuse those
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    raise TypeError(f"no TOML for {value!r}")


def toml_document(doc: dict[str, Any]) -> str:
    """One ``key = value`` line per top-level key; tables as inline tables (same document)."""
    return "".join(f"{toml_key(key)} = {toml_value(value)}\n" for key, value in doc.items())


def test_the_writer_round_trips() -> None:
    import tomllib

    doc = {"a b": "x\"\\\n\x00\x7fé", "n": [1, -2.5, True], "t": {"k": date(2025, 1, 2)},
           "e": {}, "big": 2**63 - 1, "when": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)}
    assert tomllib.loads(toml_document(doc)) == doc


# --------------------------------------------------------------------------- strategies

keys = st.text(max_size=12)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70),
    st.floats(),
    st.text(max_size=30),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4)
    | st.dictionaries(keys, children, max_size=4), max_leaves=12)

# Values that met a bug, or sit on an edge, for some key of the schema.
SPECIAL = st.sampled_from([
    "90", " 90 ", "~nosuchuser/x", "~", "~/kiosk", "a\x00b", "line\nbreak", "", " ",
    "http://10.0.0.5/v1", "http://127.0.0.1:8765/v1", "http://[::1]/v1", "http://[::1",
    "https://api.example.com", "your-key", "<key>", "sandbox-key",
    "00000000-0000-4000-8000-000000000000", "0", "-1", "0.001", "2.505", "1e2", "NaN",
    "9" * 27, "9999999999999.99", "10000000000000", "999999999999999", "1." + "0" * 40 + "1",
    "mixpay", "wctpay", "centrapay", "gpio", "mdb", "simulated", "direct", "matrix", "USD",
    "JPY", "KWD", "usd", "en", "de-AT", "A1", "2,3", " 1 , 1 ", "C,SETCONF,x", "jam",
    "pbkdf2_sha256$1$00$00", "pbkdf2_sha256$x$zz$00", 0x10, 0x60, 2**63 - 1, -2**63, 2**63,
    2**64, 0, -1, 1, 90, 1e300, float("inf"), float("nan"), True, [], {}, [5, 6], ["BTC"],
    {"A1": "jam"}, [{}],
])
prices = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: f"{d:f}"),
    st.integers(min_value=-2**64, max_value=2**64),
    st.integers(min_value=1, max_value=40).map(lambda n: "9" * n),
)

PAYEE = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
SETTLEMENT = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
PIN_HASH = hash_pin("2468", iterations=100_000)   # once: it takes a noticeable time on purpose


def base_document() -> dict[str, Any]:
    """A valid config with every table present, so that each key's checks are reached."""
    return {
        "machine": {"id": "vm-1", "currency": "USD", "locale": "en", "data_dir": "data",
                    "support": "+1 202 555 0173"},
        "display": {"width": 800, "height": 480, "rotation": 90, "fullscreen": True},
        "payment": {
            "gateway": "mixpay", "timeout_s": 180, "choose_asset": True, "assets": ["BTC"],
            "poll_interval_s": 2.0, "refund_give_up_h": 72, "insecure_http": False,
            "mixpay": {"payee_id": PAYEE, "settlement_asset_id": SETTLEMENT,
                       "quote_asset_id": "usd", "api_base": "https://api.mixpay.me/v1",
                       "checkout_base": "https://mixpay.me"},
            "wctpay": {"api_base": "https://pos.wct.test/api", "settlement_asset": "USD",
                       "key": "wct-key", "api_secret": "wct-secret"},
            "centrapay": {"api_base": "https://service.centrapay.com", "config_id": "cfg-1",
                          "api_key": "cp-key"},
        },
        "vend": {
            "driver": "simulated", "failures_to_disable": 2,
            "mdb": {"port": "loop://", "baudrate": 115200, "address": 0x10, "patience_s": 60,
                    "selection_timeout_s": 60, "dispense_timeout_s": 60,
                    "deny_command": "C,STOP", "setconf": [],
                    "failure_prefixes": ["c,ERR"]},
            "gpio": {"wiring": "direct", "motor_pins": [5, 6], "row_pins": [],
                     "column_pins": [], "home_pin": 20, "drop_pin": 21, "active_high": True,
                     "turn_timeout_s": 8, "drop_timeout_s": 3.0},
            "simulated": {"faults": {"A2": "jam"}, "turn_time_s": 0.5},
        },
        "slot": [
            {"id": "A1", "name": "Water", "price": "2.50", "stock": 3, "image": "water.png",
             "motor": 1, "mdb_item": 11},
            {"id": "A2", "name": "Cola", "price": 3, "stock": 0, "image": "cola.png",
             "motor": 2, "mdb_item": 12},
        ],
        "operator": {"pin_hash": PIN_HASH},
    }


_TABLES: dict[tuple[str, ...], type] = {
    ("machine",): MachineConfig, ("display",): DisplayConfig, ("payment",): PaymentConfig,
    ("payment", "mixpay"): MixPayConfig, ("payment", "wctpay"): WctPayConfig,
    ("payment", "centrapay"): CentrapayConfig, ("vend",): VendConfig,
    ("vend", "mdb"): MdbConfig, ("vend", "gpio"): GpioConfig,
    ("vend", "simulated"): SimulatedConfig, ("operator",): OperatorConfig,
}
# Every key of the schema (sub-tables included: they get arbitrary values too), each slot key
# of both slots, and the top-level tables themselves.
SCHEMA_PATHS: list[tuple[str | int, ...]] = [
    *[(*table, f.name) for table, cls in _TABLES.items() for f in dataclasses.fields(cls)],
    *[("slot", index, f.name) for index in (0, 1) for f in dataclasses.fields(SlotConfig)],
    *[(f.name,) for f in dataclasses.fields(Config) if f.name not in ("path", "warnings",
                                                                          "slots")],
    ("slot",),
]
SECRET_PATHS: list[tuple[str, ...]] = [("payment", "wctpay", "key"),
                                       ("payment", "wctpay", "api_secret"),
                                       ("payment", "centrapay", "api_key"),
                                       ("operator", "pin_hash")]
_DELETE = object()


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: object) -> None:
    """Set (or delete) ``path`` in ``doc``; a path through an earlier replaced value is left."""
    node: Any = doc
    for part in path[:-1]:
        if isinstance(part, int):
            if not (isinstance(node, list) and part < len(node)):
                return
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            return
    if not isinstance(node, dict):
        return
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def value_for(path: tuple[str | int, ...]) -> st.SearchStrategy[object]:
    choices = [toml_values, SPECIAL, st.just(_DELETE)]
    if path[-1] == "price":
        choices.append(prices)
    if path[-1] == "currency":
        choices.append(st.sampled_from(sorted(MINOR_UNITS)))
    return st.one_of(*choices)


@st.composite
def schema_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The base config with 1 to 5 keys of the schema given arbitrary values, and a secrets
    file (or none) with arbitrary values for the secret keys."""
    doc = base_document()
    for path in draw(st.lists(st.sampled_from(SCHEMA_PATHS), min_size=1, max_size=5)):
        _set(doc, path, draw(value_for(path)))
    secrets: dict[str, Any] | None = None
    if draw(st.booleans()):
        secrets = {}
        for path in draw(st.lists(st.sampled_from(SECRET_PATHS), max_size=4)):
            _set(secrets, path, draw(st.one_of(toml_values, SPECIAL)))
    return doc, secrets


# --------------------------------------------------------------------------- the property

@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-properties")


def write(workdir: Path, text: str, secrets: str | None = None) -> Path:
    """``kiosk.toml`` with ``text``, and ``secrets.toml`` beside it only when given."""
    path = workdir / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    secrets_path = workdir / "secrets.toml"
    secrets_path.unlink(missing_ok=True)
    if secrets is not None:
        secrets_path.write_text(secrets, encoding="utf-8")
    return path


def load_or_refuse(workdir: Path, text: str, secrets: str | None = None) -> Config | None:
    """``load_config`` on ``text``: a ``Config``, or ``None`` after a ``ConfigError`` that
    says something. Any other exception fails the test."""
    try:
        config = load_config(write(workdir, text, secrets))
    except ConfigError as error:
        assert error.issues and all(issue.message for issue in error.issues)
        return None
    assert_sellable(config)
    return config


def assert_sellable(config: Config) -> None:
    """Every accepted price goes through the money paths and the flow's order exactly."""
    currency = config.machine.currency
    for slot in config.slots:
        minor = to_minor(slot.price, currency)
        assert from_minor(minor, currency) == slot.price
        assert Decimal(format_amount(slot.price, currency)) == slot.price
    flow = Flow(FlowSettings(currency=currency, gateway=config.payment.gateway,
                             choose_asset=False), new_tx_id=lambda: "tx-1")
    for product in products(config):
        state = initial_state(products(config), {product.slot_id: 1}, frozenset(), "", 0.0)
        for event in (StartTapped(), ItemChosen(product.slot_id), CoinChosen(None)):
            transition = flow.step(state, event, 0.0)
            state = transition.state
        [create] = [e for e in transition.effects if isinstance(e, CreatePayment)]
        order = create.order
        assert (order.amount, order.currency) == (product.price, currency)
        assert to_minor(order.amount, currency) == to_minor(product.price, currency)
        format_amount(order.amount, currency)


def test_the_base_document_is_valid(workdir: Path) -> None:
    config = load_or_refuse(workdir, toml_document(base_document()))
    assert config is not None and len(config.slots) == 2


@PROPERTY
@given(st.dictionaries(keys, toml_values, max_size=6))
def test_any_toml_document_gives_a_config_or_a_config_error(workdir: Path,
                                                            doc: dict[str, Any]) -> None:
    load_or_refuse(workdir, toml_document(doc))


@PROPERTY
@given(schema_documents())
def test_any_value_for_any_key_gives_a_config_or_a_config_error(
        workdir: Path, docs: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
    doc, secrets = docs
    load_or_refuse(workdir, toml_document(doc),
                   None if secrets is None else toml_document(secrets))


@PROPERTY
@given(st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(["insert", "delete",
                                                                      "replace"]),
                          st.text(min_size=1, max_size=3)), min_size=1, max_size=4))
def test_any_edit_of_a_valid_file_gives_a_config_or_a_config_error(
        workdir: Path, edits: list[tuple[int, str, str]]) -> None:
    text = toml_document(base_document())
    for position, kind, chars in edits:
        at = position % (len(text) + 1)
        if kind == "insert":
            text = text[:at] + chars + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + len(chars):]
        else:
            text = text[:at] + chars + text[at + len(chars):]
    load_or_refuse(workdir, text)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=4000),
       st.sampled_from([("[", "]"), ("{ a = ", " }"), ("[{ a = ", " }]")]),
       st.sampled_from(["x", "slot", "payment.assets", "vend.simulated.faults"]))
def test_nesting_of_any_depth_gives_a_config_or_a_config_error(
        workdir: Path, depth: int, brackets: tuple[str, str], key: str) -> None:
    opening, closing = brackets
    text = toml_document(base_document()) + f"{key} = {opening * depth}1{closing * depth}\n"
    load_or_refuse(workdir, text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(workdir: Path, text: str) -> None:
    load_or_refuse(workdir, text)


def test_the_issue_10_reproductions(workdir: Path) -> None:
    """The crashes the mutation fuzz found, each now a ``ConfigError`` naming its key."""
    cases: list[tuple[tuple[str | int, ...], object]] = [
        (("display", "rotation"), "90"), (("machine", "data_dir"), "~nosuchuser/x"),
        (("slot", 0, "price"), "9" * 27), (("slot", 0, "price"), "123456789012345678901234567"),
        (("payment", "mixpay", "api_base"), "http://api.mixpay.me/v1")]
    for path, value in cases:
        doc = base_document()
        _set(doc, path, value)
        with pytest.raises(ConfigError) as caught:
            load_config(write(workdir, toml_document(doc)))
        assert [issue.key for issue in caught.value.issues] == [path[-1]]
