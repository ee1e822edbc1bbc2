"""kiosk.config: strict TOML loading, every rule reported with file, table, key and message."""

from __future__ import annotations

import dataclasses
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk.config import (
    CentrapayConfig, Config, DisplayConfig, GpioConfig, MachineConfig, MdbConfig, MixPayConfig,
    OperatorConfig, PaymentConfig, SimulatedConfig, SlotConfig, VendConfig, WctPayConfig,
    load_config,
)
from kiosk.errors import ConfigError, ConfigIssue
from kiosk.i18n import default_catalogue
from kiosk.operator_pin import hash_pin

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "assets" / "kiosk.example.toml"
SECRETS_EXAMPLE = REPO / "assets" / "secrets.example.toml"

MIXPAY = """
[payment.mixpay]
payee_id = "payee-uuid"
settlement_asset_id = "settle-uuid"
"""
SIMULATED = """
[vend]
driver = "simulated"
"""
ONE_SLOT = """
[[slot]]
id = "A1"
name = "Water"
price = "2.50"
"""
TWO_SLOTS = ONE_SLOT + """
[[slot]]
id = "A2"
name = "Cola"
price = "3.00"
"""

FULL = """
[machine]
id = "vm-0042"
currency = "EUR"
locale = "es-MX"
data_dir = "/srv/kiosk"
support = " https://help.vending-operator.test/vm-0042 "

[display]
width = 800
height = 480
rotation = 90
fullscreen = false

[payment]
gateway = "wctpay"
timeout_s = 240
choose_asset = false
assets = ["BTC", "ETH", "USDT"]
poll_interval_s = 1

[payment.mixpay]
payee_id = "payee-uuid"
settlement_asset_id = "settle-uuid"
quote_asset_id = "eur"
api_base = "https://api.mixpay.test/v1/"
checkout_base = "https://mixpay.test"

[payment.wctpay]
api_base = "https://wct.test/api/"
settlement_asset = "EUR"
key = "wct-key"
api_secret = "wct-secret"

[payment.centrapay]
api_base = "https://centrapay.test"
config_id = "cfg-1"
api_key = "cp-key"

[vend]
driver = "gpio"

[vend.mdb]
port = "loop://"
baudrate = 9600
address = 0x60
patience_s = 30
deny_command = "C,VEND,FAIL"

[vend.gpio]
wiring = "matrix"
motor_pins = []
row_pins = [5, 6]
column_pins = [13, 19, 26]
home_pin = 20
drop_pin = 21
active_high = false
turn_timeout_s = 10
drop_timeout_s = 2.5

[vend.simulated]
faults = { A1 = "jam", B3 = "slow" }
turn_time_s = 0

[[slot]]
id = "A1"
name = "Sparkling water"
price = "2.50"
stock = 8
image = "water.png"
motor = "1,1"
mdb_item = 11

[[slot]]
id = "B3"
name = "Cola"
price = 3
motor = " 2 , 3 "
mdb_item = 23

[operator]
pin_hash = "pbkdf2$hash"
"""


# --------------------------------------------------------------------------- helpers

def write(tmp_path: Path, text: str, name: str = "kiosk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def make(tmp_path: Path, extra: str = "", *, payment: str = MIXPAY, vend: str = SIMULATED,
         slots: str = ONE_SLOT) -> Path:
    """A valid minimal config (mixpay, simulated driver, one slot) plus ``extra`` tables."""
    return write(tmp_path, "\n".join([extra, payment, vend, slots]))


def issues(path: Path, secrets: Path | None = None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, secrets)
    return caught.value.issues


def one_issue(path: Path, secrets: Path | None = None) -> ConfigIssue:
    found = issues(path, secrets)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def where(found: list[ConfigIssue]) -> list[tuple[str, str]]:
    return [(issue.table, issue.key) for issue in found]


# --------------------------------------------------------------------------- valid files

def test_full_config_loads_every_key_into_typed_fields(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))

    assert config.path == tmp_path / "kiosk.toml"
    assert config.machine == MachineConfig("vm-0042", "EUR", "es-MX", Path("/srv/kiosk"),
                                           "https://help.vending-operator.test/vm-0042")
    assert config.display == DisplayConfig(800, 480, 90, False)
    payment = config.payment
    assert (payment.gateway, payment.timeout_s, payment.choose_asset) == ("wctpay", 240, False)
    assert payment.assets == ("BTC", "ETH", "USDT")
    assert payment.poll_interval_s == 1.0 and isinstance(payment.poll_interval_s, float)
    assert payment.mixpay == MixPayConfig("payee-uuid", "settle-uuid", "eur",
                                          "https://api.mixpay.test/v1", "https://mixpay.test")
    assert payment.wctpay == WctPayConfig("https://wct.test/api", "EUR", "wct-key", "wct-secret")
    assert payment.centrapay == CentrapayConfig("https://centrapay.test", "cfg-1", "cp-key")
    assert config.vend.driver == "gpio"
    assert config.vend.mdb == MdbConfig("loop://", 9600, 0x60, 30, deny_command="C,VEND,FAIL")
    assert config.vend.gpio == GpioConfig("matrix", (), (5, 6), (13, 19, 26), 20, 21, False,
                                          10.0, 2.5)
    assert isinstance(config.vend.gpio.turn_timeout_s, float)
    assert dict(config.vend.simulated.faults) == {"A1": "jam", "B3": "slow"}
    assert config.vend.simulated.turn_time_s == 0.0
    assert config.slots == (
        SlotConfig("A1", "Sparkling water", Decimal("2.50"), 8, "water.png", "1,1", 11),
        SlotConfig("B3", "Cola", Decimal("3"), 0, "", "2,3", 23),
    )
    assert type(config.slots[0].price) is Decimal and str(config.slots[0].price) == "2.50"
    assert config.operator == OperatorConfig("pbkdf2$hash")


def test_config_is_frozen_and_faults_immutable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.machine.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.vend.simulated.faults["A1"] = "slow"  # type: ignore[index]


def test_slot_lookup(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.slot("B3").name == "Cola"
    with pytest.raises(KeyError):
        config.slot("Z9")


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    text = repr(load_config(write(tmp_path, FULL)))
    for secret in ("wct-key", "wct-secret", "cp-key", "pbkdf2$hash"):
        assert secret not in text


def test_defaults_when_optional_tables_are_absent(tmp_path: Path) -> None:
    config = load_config(make(tmp_path))

    assert config.machine == MachineConfig()
    assert config.display == DisplayConfig()
    assert config.payment == PaymentConfig(mixpay=MixPayConfig("payee-uuid", "settle-uuid"))
    assert config.payment.wctpay is None and config.payment.centrapay is None
    assert config.vend == VendConfig(driver="simulated")
    assert config.vend.mdb == MdbConfig() and config.vend.gpio == GpioConfig()
    assert dict(config.vend.simulated.faults) == {} and config.vend.simulated.turn_time_s == 0.5
    assert config.slots == (SlotConfig("A1", "Water", Decimal("2.50")),)
    assert config.operator == OperatorConfig("")
    assert isinstance(config, Config)


PAYEE = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"


def filled_in(tmp_path: Path, gateway: str = "mixpay") -> Path:
    """The example as an operator completes it: their payee and contact, ``gateway`` chosen."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("00000000-0000-4000-8000-000000000000", PAYEE)
    text = text.replace('"+1 555 0100 / help@example.com"', '"+1 202 555 0173"')
    return write(tmp_path, text.replace('gateway = "mixpay"', f'gateway = "{gateway}"'))


def test_the_example_is_a_template_that_names_what_to_fill_in() -> None:
    """As installed, the example must not pass: it would sell into MixPay's all-zero payee."""
    found = issues(EXAMPLE)
    assert where(found) == [("machine", "support"), ("payment.mixpay", "payee_id")]
    assert found[0].message.startswith("not configured: still a placeholder (")
    assert found[0].message.endswith("customers reach you at here, or remove the line")
    assert found[1].message == (
        'not configured: still a placeholder ("00000000-0000-4000-8000-000000000000"); '
        "put your MixPay payee id here")


def test_the_example_filled_in_loads_cleanly(tmp_path: Path) -> None:
    config = load_config(filled_in(tmp_path))
    assert config.payment.gateway == "mixpay" and config.vend.driver == "simulated"
    assert config.payment.mixpay is not None and config.payment.mixpay.payee_id == PAYEE
    assert config.machine.support == "+1 202 555 0173"
    assert len(config.slots) == 4
    assert all(isinstance(slot.price, Decimal) for slot in config.slots)


@pytest.mark.parametrize(("gateway", "expected"), [
    ("wctpay", [("payment.wctpay", "api_base", "is an example address; put the URL WCT Pay "
                 "gave you at onboarding here"),
                ("payment.wctpay", "key", "put your WCT Pay terminal API key in"),
                ("payment.wctpay", "api_secret", "put your WCT Pay API secret in")]),
    ("centrapay", [("payment.centrapay", "config_id", '("your-payment-config-id"); put your '
                    "Centrapay payment config id here"),
                   ("payment.centrapay", "api_key", "put your Centrapay API key in")]),
])
def test_the_example_secrets_are_placeholders_for_every_gateway(
        tmp_path: Path, gateway: str, expected: list[tuple[str, str, str]]) -> None:
    secrets = write(tmp_path, SECRETS_EXAMPLE.read_text(encoding="utf-8"), "secrets.toml")
    found = issues(filled_in(tmp_path, gateway), secrets)
    assert where(found) == [(table, key) for table, key, _ in expected]
    for issue, (_, key, words) in zip(found, expected, strict=True):
        assert issue.message.startswith("not configured: ") and words in issue.message
        if key in ("key", "api_secret", "api_key"):  # where it goes, never what it is
            assert "(value hidden)" in issue.message and str(secrets) in issue.message
            assert "your-" not in issue.message


def test_example_file_shows_every_key() -> None:
    doc = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    secrets = {"key", "api_secret", "api_key", "pin_hash"}
    tables = {
        "machine": (doc["machine"], MachineConfig), "display": (doc["display"], DisplayConfig),
        "payment.mixpay": (doc["payment"]["mixpay"], MixPayConfig),
        "payment.wctpay": (doc["payment"]["wctpay"], WctPayConfig),
        "payment.centrapay": (doc["payment"]["centrapay"], CentrapayConfig),
        "vend.mdb": (doc["vend"]["mdb"], MdbConfig), "vend.gpio": (doc["vend"]["gpio"], GpioConfig),
        "vend.simulated": (doc["vend"]["simulated"], SimulatedConfig),
        "slot": (doc["slot"][0], SlotConfig),
    }
    for name, (table, cls) in tables.items():
        expected = {f.name for f in dataclasses.fields(cls)} - secrets
        assert set(table) == expected, name
    payment_keys = {f.name for f in dataclasses.fields(PaymentConfig)}
    assert set(doc["payment"]) == payment_keys


# --------------------------------------------------------------------------- file-level problems

def test_missing_file_is_one_issue(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    issue = one_issue(path)
    assert issue == ConfigIssue(str(path), "", "", "file not found")


def test_path_given_as_string_is_named_as_given(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.toml")
    assert one_issue(path).file == path  # type: ignore[arg-type]


def test_directory_is_one_issue(tmp_path: Path) -> None:
    issue = one_issue(tmp_path)
    assert issue.file == str(tmp_path) and "directory" in issue.message


def test_toml_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[machine]\nid = "vm-1"\ncurrency = USD\n')
    issue = one_issue(path)
    assert (issue.file, issue.table, issue.key) == (str(path), "", "")
    assert issue.message.startswith("TOML syntax error")
    assert "line 3, column 12" in issue.message


def test_invalid_utf8_is_one_issue(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_bytes(b'[machine]\nid = "\xff"\n')
    assert "UTF-8" in one_issue(path).message


def test_config_error_is_a_value_error_listing_every_issue(tmp_path: Path) -> None:
    path = make(tmp_path, "[display]\nrotation = 45\nwidth = -1\n")
    with pytest.raises(ValueError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f"{path}: [display] rotation:" in text and f"{path}: [display] width:" in text


# --------------------------------------------------------------------------- one rule, one issue

RULES = [
    # machine
    ('[machine]\nid = "bad id"', "machine", "id", 'found string "bad id"'),
    ('[machine]\nid = ""', "machine", "id", "found an empty string"),
    ('[machine]\nid = "' + "x" * 65 + '"', "machine", "id", "1 to 64 letters"),
    ('[machine]\ncurrency = "XXX"', "machine", "currency", 'ISO 4217 code the kiosk knows'),
    ('[machine]\ncurrency = "usd"', "machine", "currency", 'did you mean "USD"?'),
    ("[machine]\ncurrency = 840", "machine", "currency", "expected a string, found integer 840"),
    ('[machine]\nlocale = "pt_BR"', "machine", "locale",
     'like "en" or "de-AT", found string "pt_BR"'),
    ('[machine]\nlocale = ""', "machine", "locale", "found an empty string"),
    ('[machine]\nlocale = "fr"', "machine", "locale",
     'the kiosk has no screen texts in "fr": choose one of its languages ("en", "es", "de")'),
    ('[machine]\nlocale = "pt-BR"', "machine", "locale", 'no screen texts in "pt-BR"'),
    ('[machine]\nsupport = "' + "1" * 81 + '"', "machine", "support",
     "must be at most 80 characters (a phone number, an e-mail or a web address), found 81"),
    ('[machine]\nsupport = "call\\nus"', "machine", "support",
     "must be one line, without line breaks"),
    ('[machine]\nsupport = "https://"', "machine", "support",
     'expected a web address like https://help.example.net/vm-0001 (http or https and a host '
     'name), found string "https://"'),
    ('[machine]\nsupport = "http:help.test"', "machine", "support", "expected a web address"),
    ("[machine]\nsupport = 5550100", "machine", "support", "expected a string, found integer"),
    ('[machine]\nsupport = "help@example.com"', "machine", "support",
     'not configured: still a placeholder ("help@example.com")'),
    ('[machine]\nsupport = "https://www.example.org/help"', "machine", "support",
     "not configured: still a placeholder"),
    ('[machine]\nsupport = "your phone number"', "machine", "support",
     "not configured: still a placeholder"),
    ('[machine]\ndata_dir = ""', "machine", "data_dir", "expected a directory path"),
    ('[machine]\ndata_dir = "~nosuchuser/x"', "machine", "data_dir",
     '"~nosuchuser/x" starts with a home directory ("~") this machine does not have'),
    ('[machine]\ndata_dir = "/srv/a\\u0000b"', "machine", "data_dir",
     "expected a directory path on one line, without control characters"),
    # display
    ("[display]\nrotation = 45", "display", "rotation",
     "expected one of 0, 90, 180 or 270, found integer 45"),
    ("[display]\nwidth = -1", "display", "width", "must be between 0 and 16384, found -1"),
    ("[display]\nwidth = 0x7fffffffffffffff", "display", "width", "between 0 and 16384"),
    ("[display]\nwidth = 0x8000000000000000", "display", "width",
     "integer out of range: TOML integers are 64-bit, -9223372036854775808 to "
     "9223372036854775807"),
    ('[display]\nrotation = "90"', "display", "rotation",
     'found string "90" (a number is written without quotes: rotation = 90)'),
    ('[display]\nrotation = "ninety"', "display", "rotation",
     'expected one of 0, 90, 180 or 270, found string "ninety"'),
    ("[display]\nheight = true", "display", "height", "expected an integer, found boolean true"),
    ("[display]\nheight = 480.0", "display", "height", "expected an integer, found float 480.0"),
    ('[display]\nfullscreen = "yes"', "display", "fullscreen",
     'expected true or false, found string "yes"'),
    # payment
    ('[payment]\ngateway = "paypal"', "payment", "gateway",
     'expected one of "mixpay", "wctpay", "centrapay" or "lnbits", found string "paypal"'),
    ('[payment]\ngateway = "mixpai"', "payment", "gateway", 'did you mean "mixpay"?'),
    ("[payment]\ntimeout_s = 10", "payment", "timeout_s", "must be between 15 and 3600, found 10"),
    ("[payment]\ntimeout_s = 3601", "payment", "timeout_s", "between 15 and 3600, found 3601"),
    ("[payment]\ntimeout_s = 30.5", "payment", "timeout_s",
     "expected an integer, found float 30.5"),
    ("[payment]\ntimeout_s = true", "payment", "timeout_s",
     "expected an integer, found boolean true"),
    ('[payment]\ntimeout_s = "abc"', "payment", "timeout_s",
     'expected an integer, found string "abc"'),
    ("[payment]\npoll_interval_s = 0.1", "payment", "poll_interval_s",
     "must be between 0.2 and 60, found 0.1"),
    ("[payment]\npoll_interval_s = 61", "payment", "poll_interval_s",
     "between 0.2 and 60, found 61"),
    ('[payment]\npoll_interval_s = "2"', "payment", "poll_interval_s",
     'expected a number, found string "2"'),
    ("[payment]\npoll_interval_s = nan", "payment", "poll_interval_s", "must be a finite number"),
    ("[payment]\nchoose_asset = 1", "payment", "choose_asset",
     "expected true or false, found integer 1"),
    ('[payment]\nassets = ["BTC", "ETH", "BTC"]', "payment", "assets", '"BTC" is listed twice'),
    ('[payment]\nassets = ["BTC", "btc"]', "payment", "assets", '"btc" is listed twice'),
    ('[payment]\nassets = ["BTC", ""]', "payment", "assets",
     "expected item 2 to be a non-empty string, found an empty string"),
    ('[payment]\nassets = ["BTC", 5]', "payment", "assets",
     "expected item 2 to be a non-empty string, found integer 5"),
    ('[payment]\nassets = "BTC"', "payment", "assets",
     'expected an array of strings, found string "BTC"'),
    ('[payment]\ncentrapay = "x"', "payment", "centrapay",
     'expected a table [payment.centrapay], found string "x"'),
    # vend
    ('[vend.mdb]\nbaudrate = 0', "vend.mdb", "baudrate", "must be between 1 and 4000000, found 0"),
    ("[vend.mdb]\naddress = 0x20", "vend.mdb", "address",
     "expected 0x10 (cashless #1) or 0x60 (cashless #2), found 0x20"),
    ('[vend.mdb]\naddress = "0x10"', "vend.mdb", "address",
     'expected an integer, found string "0x10"'),
    ("[vend.mdb]\npatience_s = 4", "vend.mdb", "patience_s", "must be between 5 and 600, found 4"),
    ("[vend.mdb]\npatience_s = 601", "vend.mdb", "patience_s", "between 5 and 600, found 601"),
    ('[vend.mdb]\nport = ""', "vend.mdb", "port", "expected a serial port or pyserial URL"),
    ('[vend.mdb]\nport = "/dev/tty\\u0000"', "vend.mdb", "port", "without control characters"),
    ("[vend.mdb]\nbaudrate = 9223372036854775807", "vend.mdb", "baudrate",
     "must be between 1 and 4000000"),
    ('[vend.mdb]\ndeny_command = " "', "vend.mdb", "deny_command", "expected a bridge command"),
    ('[vend.mdb]\ndeny_command = "C,STOP\\nC,1"', "vend.mdb", "deny_command",
     "(printable ASCII, one line)"),
    ('[vend.mdb]\ndeny_command = "C,STÖP"', "vend.mdb", "deny_command", "printable ASCII"),
    ('[vend.mdb]\nsetconf = ["C,SETCONF,x=\\u00e9"]', "vend.mdb", "setconf",
     'command in printable ASCII, found "C,SETCONF,x=\\u00e9"'),
    ('[vend.mdb]\nsetconf = ["C,SETCONF,mdb-addr=0x60"]', "vend.mdb", "setconf",
     "the MDB address is set with address = 0x10 or 0x60, not a setconf line"),
    ('[vend.gpio]\nwiring = "grid"', "vend.gpio", "wiring",
     'expected one of "direct" or "matrix", found string "grid"'),
    ("[vend.gpio]\nmotor_pins = [5, 28]", "vend.gpio", "motor_pins",
     "item 2 must be between 0 and 27, found 28"),
    ('[vend.gpio]\nrow_pins = [5, "6"]', "vend.gpio", "row_pins",
     'expected item 2 to be an integer, found string "6"'),
    ("[vend.gpio]\ncolumn_pins = 5", "vend.gpio", "column_pins",
     "expected an array of integers, found integer 5"),
    ("[vend.gpio]\nhome_pin = -1", "vend.gpio", "home_pin", "must be between 0 and 27, found -1"),
    ("[vend.gpio]\ndrop_pin = true", "vend.gpio", "drop_pin",
     "expected an integer, found boolean true"),
    ("[vend.gpio]\nmotor_pins = [5, 6, 5]", "vend.gpio", "motor_pins",
     "GPIO 5 is already used earlier in the same list"),
    ("[vend.gpio]\nmotor_pins = [5, 6]\nhome_pin = 6", "vend.gpio", "home_pin",
     "GPIO 6 is already used by motor_pins"),
    ("[vend.gpio]\nrow_pins = [5]\ncolumn_pins = [7, 5]", "vend.gpio", "column_pins",
     "GPIO 5 is already used by row_pins"),
    ("[vend.gpio]\nhome_pin = 20\ndrop_pin = 20", "vend.gpio", "drop_pin",
     "GPIO 20 is already used by home_pin"),
    ("[vend.gpio]\nturn_timeout_s = 0", "vend.gpio", "turn_timeout_s",
     "must be greater than 0, found 0"),
    ("[vend.gpio]\ndrop_timeout_s = -1.5", "vend.gpio", "drop_timeout_s",
     "must be greater than 0, found -1.5"),
    ("[vend.gpio]\nturn_timeout_s = 1e300", "vend.gpio", "turn_timeout_s",
     "must be at most 600, found 1e+300"),
    ('[vend.gpio]\nturn_timeout_s = "8"', "vend.gpio", "turn_timeout_s",
     'expected a number, found string "8"'),
    ('[vend.gpio]\nactive_high = "true"', "vend.gpio", "active_high",
     'expected true or false, found string "true"'),
    ('[vend.simulated]\nfaults = { A1 = "explode" }', "vend.simulated", "faults",
     'expected slot "A1" to have one of "jam", "no_drop", "motor_fault" or "slow", '
     'found string "explode"'),
    ('[vend.simulated]\nfaults = { Z9 = "jam" }', "vend.simulated", "faults",
     'slot "Z9" is not a configured slot id (slots: A1)'),
    ('[vend.simulated]\nfaults = { a1 = "jam" }', "vend.simulated", "faults",
     'did you mean "A1"?'),
    ('[vend.simulated]\nfaults = "jam"', "vend.simulated", "faults",
     "expected an inline table of slot id = fault"),
    ("[vend.simulated]\nturn_time_s = -0.1", "vend.simulated", "turn_time_s",
     "must be between 0 and 600, found -0.1"),
    # unknown keys and tables
    ('[machine]\nidd = "x"', "machine", "idd", 'unknown key (did you mean "id"?)'),
    ('[machnie]\nid = "x"', "", "machnie", 'unknown table [machnie] (did you mean "machine"?)'),
    ("zzz = 1", "", "zzz", "unknown key"),
    ('[payment.paypal]\nkey = "x"', "payment", "paypal", "unknown table [payment.paypal]"),
    ("[vend.gpio]\nmotorpins = [1]", "vend.gpio", "motorpins",
     'unknown key (did you mean "motor_pins"?)'),
    ('[operator]\npin_hsh = "x"', "operator", "pin_hsh", 'unknown key (did you mean "pin_hash"?)'),
]


@pytest.mark.parametrize(("extra", "table", "key", "message"), RULES,
                         ids=[f"{t or 'top'}.{k}:{m[:30]}" for _, t, k, m in RULES])
def test_each_rule_reports_file_table_key_and_message(
        tmp_path: Path, extra: str, table: str, key: str, message: str) -> None:
    path = make(tmp_path, extra)
    issue = one_issue(path)
    assert (issue.file, issue.table, issue.key) == (str(path), table, key)
    assert message in issue.message


def test_unknown_key_without_close_match_has_no_suggestion(tmp_path: Path) -> None:
    assert one_issue(make(tmp_path, "zzz = 1")).message == "unknown key"


def test_valid_edge_values_load(tmp_path: Path) -> None:
    extra = """
[payment]
timeout_s = 15
poll_interval_s = 60
[vend.mdb]
address = 0x10
patience_s = 600
[vend.gpio]
motor_pins = [0, 27]
[vend.simulated]
turn_time_s = 0
faults = { A1 = "no_drop" }
"""
    config = load_config(make(tmp_path, extra))
    assert config.payment.timeout_s == 15 and config.payment.poll_interval_s == 60.0
    assert config.vend.gpio.motor_pins == (0, 27)
    assert config.vend.simulated.faults == {"A1": "no_drop"}


def test_urls_lose_their_trailing_slash(tmp_path: Path) -> None:
    payment = MIXPAY + 'api_base = "http://127.0.0.1:8080/v1/"\ncheckout_base = "https://m.test/"\n'
    mixpay = load_config(make(tmp_path, payment=payment)).payment.mixpay
    assert mixpay is not None
    assert (mixpay.api_base, mixpay.checkout_base) == ("http://127.0.0.1:8080/v1", "https://m.test")


@pytest.mark.parametrize("value", ['"api.mixpay.me"', '"ftp://x"', '"https://"', "5"])
def test_mixpay_urls_must_be_http(tmp_path: Path, value: str) -> None:
    path = make(tmp_path, payment=MIXPAY + f"checkout_base = {value}\n")
    issue = one_issue(path)
    assert (issue.table, issue.key) == ("payment.mixpay", "checkout_base")
    assert "expected a URL starting with http:// or https://" in issue.message or \
        "expected a string" in issue.message


def test_relative_data_dir_is_resolved_against_the_config_dir(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    config = load_config(make(sub, '[machine]\ndata_dir = "data"'))
    assert config.machine.data_dir == sub / "data"
    config = load_config(make(sub, '[machine]\ndata_dir = "../var/kiosk"'))
    assert config.machine.data_dir == tmp_path / "var" / "kiosk"
    config = load_config(make(sub, '[machine]\ndata_dir = "/var/lib/x"'))
    assert config.machine.data_dir == Path("/var/lib/x")


# --------------------------------------------------------------------------- many errors at once

def test_every_error_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    extra = """
[machine]
currency = "usd"
[display]
rotation = 45
[payment]
timeout_s = true
[payment.mixpay]
payeeid = "x"
"""
    slots = """
[[slot]]
id = "A1"
name = "Water"
price = 2.5
[[slot]]
id = "A1"
name = ""
price = "1.00"
"""
    path = write(tmp_path, extra + SIMULATED + slots)
    found = issues(path)
    assert where(found) == [
        ("machine", "currency"),
        ("display", "rotation"),
        ("payment", "timeout_s"),
        ("payment.mixpay", "payee_id"),
        ("payment.mixpay", "settlement_asset_id"),
        ("payment.mixpay", "payeeid"),
        ("slot[0]", "price"),
        ("slot[1]", "id"),
        ("slot[1]", "name"),
    ]
    assert all(issue.file == str(path) for issue in found)


# --------------------------------------------------------------------------- slots

def test_at_least_one_slot_is_required(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, slots=""))
    assert (issue.table, issue.key) == ("", "slot")
    assert "at least one [[slot]] is required" in issue.message


def test_slot_must_be_an_array_of_tables(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, 'slot = "A1"', slots=""))
    assert (issue.table, issue.key) == ("", "slot")
    assert 'expected [[slot]] tables, found string "A1"' in issue.message


def test_single_bracket_slot_gets_a_hint(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, slots=ONE_SLOT.replace("[[slot]]", "[slot]")))
    assert (issue.table, issue.key) == ("", "slot")
    assert "found table (write [[slot]], with double brackets, above each slot)" in issue.message


def slot_issue(tmp_path: Path, body: str, *, vend: str = SIMULATED,
               before: str = ONE_SLOT) -> ConfigIssue:
    """The one issue of a config whose second [[slot]] has ``body``."""
    return one_issue(make(tmp_path, vend=vend, slots=before + "\n[[slot]]\n" + body))


SLOT_RULES = [
    ('name = "x"\nprice = "1"', "id", 'required key is missing: every slot needs an id like "A1"'),
    ('id = "TOOLONGID"\nname = "x"\nprice = "1"', "id",
     'expected 1 to 8 letters, digits, "_" or "-" (like "A1"), found string "TOOLONGID"'),
    ('id = "A 2"\nname = "x"\nprice = "1"', "id", 'found string "A 2"'),
    ('id = 2\nname = "x"\nprice = "1"', "id", "expected a string, found integer 2"),
    ('id = "A2"\nprice = "1"', "name", 'required key is missing: every slot needs a name to show '
     'customers (slot "A2")'),
    ('id = "A2"\nname = "  "\nprice = "1"', "name", "required key is empty"),
    ('id = "A2"\nname = "x"', "price", 'required key is missing: every slot needs a price, '
     'e.g. price = "2.50" (slot "A2")'),
    ('id = "A2"\nname = "x"\nprice = "abc"', "price",
     'expected a price written as a quoted string like "2.50", found string "abc"'),
    ('id = "A2"\nname = "x"\nprice = "$2.50"', "price", 'found string "$2.50"'),
    ('id = "A2"\nname = "x"\nprice = "1e2"', "price", 'found string "1e2"'),
    ('id = "A2"\nname = "x"\nprice = "NaN"', "price", 'found string "NaN"'),
    ('id = "A2"\nname = "x"\nprice = "Infinity"', "price", 'found string "Infinity"'),
    ('id = "A2"\nname = "x"\nprice = "-1.00"', "price", 'must be greater than zero, found "-1.00"'),
    ('id = "A2"\nname = "x"\nprice = "0.00"', "price", 'must be greater than zero, found "0.00"'),
    ('id = "A2"\nname = "x"\nprice = 0', "price", "must be greater than zero, found 0"),
    ('id = "A2"\nname = "x"\nprice = -3', "price", "must be greater than zero, found -3"),
    ('id = "A2"\nname = "x"\nprice = true', "price", "found boolean true"),
    ('id = "A2"\nname = "x"\nprice = "2.505"', "price",
     '"2.505" has 3 decimals but USD prices take at most 2 decimals (slot "A2")'),
    ('id = "A2"\nname = "x"\nprice = "1"\nstock = -1', "stock",
     "must be between 0 and 1000000, found -1"),
    ('id = "A2"\nname = "x"\nprice = "10000000000000"', "price",
     '"10000000000000" is too large: a USD price goes up to 9999999999999.99 (slot "A2")'),
    ('id = "A2"\nname = "x"\nprice = "123456789012345678901234567"', "price", "is too large"),
    ('id = "A2"\nname = "x"\nprice = 9223372036854775807', "price", "is too large"),
    ('id = "A2"\nname = "x"\nprice = "1.0000000000000000000000000000001"', "price",
     "has 31 decimals but USD prices take at most 2 decimals"),
    ('id = "A2"\nname = "Cola\\u0000"\nprice = "1"', "name",
     "expected a name to show customers on one line, without control characters"),
    ('id = "A2"\nname = "x"\nprice = "1"\nimage = "a\\nb.png"', "image",
     "expected an image file name on one line"),
    ('id = "A2"\nname = "x"\nprice = "1"\nstock = "5"', "stock",
     'expected an integer, found string "5"'),
    ('id = "A2"\nname = "x"\nprice = "1"\nimage = 5', "image",
     "expected a string, found integer 5"),
    ('id = "A2"\nname = "x"\nprice = "1"\nmotor = 0', "motor",
     'expected a motor number from 1 (like 3) or "row,column" from 1 (like "2,3"), '
     'found integer 0'),
    ('id = "A2"\nname = "x"\nprice = "1"\nmotor = "a,b"', "motor", 'found string "a,b"'),
    ('id = "A2"\nname = "x"\nprice = "1"\nmotor = "1,0"', "motor", 'found string "1,0"'),
    ('id = "A2"\nname = "x"\nprice = "1"\nmotor = 1.5', "motor", "found float 1.5"),
    ('id = "A2"\nname = "x"\nprice = "1"\nmdb_item = 65536', "mdb_item",
     "must be between 0 and 65535, found 65536"),
    ('id = "A2"\nname = "x"\nprice = "1"\nmdb_item = -1', "mdb_item", "between 0 and 65535"),
    ('id = "A2"\nname = "x"\nprice = "1"\nprise = "1"', "prise",
     'unknown key (did you mean "price"?)'),
]


@pytest.mark.parametrize(("body", "key", "message"), SLOT_RULES,
                         ids=[f"{k}:{m[:30]}" for _, k, m in SLOT_RULES])
def test_each_slot_rule_names_the_slot(tmp_path: Path, body: str, key: str, message: str) -> None:
    issue = slot_issue(tmp_path, body)
    assert (issue.file, issue.table, issue.key) == (str(tmp_path / "kiosk.toml"), "slot[1]", key)
    assert message in issue.message


def test_slot_id_is_named_in_messages_when_known(tmp_path: Path) -> None:
    issue = slot_issue(tmp_path, 'id = "B7"\nname = "x"\nprice = "1"\nstock = -1')
    assert issue.message.endswith('(slot "B7")')


def test_float_price_is_rejected_with_the_quoting_hint(tmp_path: Path) -> None:
    issue = slot_issue(tmp_path, 'id = "A2"\nname = "x"\nprice = 2.50')
    assert (issue.table, issue.key) == ("slot[1]", "price")
    assert issue.message.startswith("found float 2.5: write the price as a quoted string")
    assert 'price = "2.5"' in issue.message
    assert "floats cannot hold money exactly" in issue.message


def test_float_price_hint_never_shows_an_exponent(tmp_path: Path) -> None:
    issue = slot_issue(tmp_path, 'id = "A2"\nname = "x"\nprice = 1e20')
    assert 'price = "100000000000000000000"' in issue.message


def test_price_decimals_follow_the_currency(tmp_path: Path) -> None:
    usd = make(tmp_path, slots=ONE_SLOT.replace('"2.50"', '"2.5"'))
    assert load_config(usd).slots[0].price == Decimal("2.50")

    jpy = '[machine]\ncurrency = "JPY"'
    config = load_config(make(tmp_path, jpy, slots=ONE_SLOT.replace('"2.50"', '"150"')))
    assert config.slots[0].price == Decimal(150)
    config = load_config(make(tmp_path, jpy, slots=ONE_SLOT.replace('"2.50"', "150")))
    assert config.slots[0].price == Decimal(150)

    issue = one_issue(make(tmp_path, jpy, slots=ONE_SLOT.replace('"2.50"', '"1.5"')))
    assert (issue.table, issue.key) == ("slot[0]", "price")
    assert '"1.5" has 1 decimals but JPY prices take whole numbers' in issue.message

    kwd = '[machine]\ncurrency = "KWD"'
    config = load_config(make(tmp_path, kwd, slots=ONE_SLOT.replace('"2.50"', '"2.505"')))
    assert config.slots[0].price == Decimal("2.505")


def test_trailing_zeros_do_not_count_as_decimals(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, slots=ONE_SLOT.replace('"2.50"', '"2.500"')))
    assert config.slots[0].price == Decimal("2.5")


def test_bad_currency_does_not_also_flag_every_price(tmp_path: Path) -> None:
    slots = ONE_SLOT.replace('"2.50"', '"2.505"')
    path = make(tmp_path, '[machine]\ncurrency = "XYZ"', slots=slots)
    assert where(issues(path)) == [("machine", "currency")]


def test_duplicate_slot_id_is_reported_on_the_later_slot(tmp_path: Path) -> None:
    issue = slot_issue(tmp_path, 'id = "A1"\nname = "Other"\nprice = "1"')
    assert (issue.table, issue.key) == ("slot[1]", "id")
    assert issue.message == 'duplicate slot id "A1": slot[0] already uses it'


# --------------------------------------------------------------------------- gpio / mdb drivers

GPIO_DIRECT = """
[vend]
driver = "gpio"
[vend.gpio]
motor_pins = [5, 6]
home_pin = 20
drop_pin = 21
"""
GPIO_MATRIX = """
[vend]
driver = "gpio"
[vend.gpio]
wiring = "matrix"
row_pins = [5, 6]
column_pins = [13, 19, 26]
home_pin = 20
drop_pin = 21
"""
MDB = """
[vend]
driver = "mdb"
"""


def test_gpio_driver_needs_its_pins_and_slot_motors(tmp_path: Path) -> None:
    path = make(tmp_path, vend='[vend]\ndriver = "gpio"')
    found = issues(path)
    assert where(found) == [("vend.gpio", "motor_pins"), ("vend.gpio", "home_pin"),
                            ("vend.gpio", "drop_pin"), ("slot[0]", "motor")]
    assert 'required key is missing: vend.driver = "gpio" needs it with wiring = "direct"' \
        in found[0].message
    assert "(there is no [vend.gpio] table)" in found[0].message
    assert 'needs the motor that turns this slot (slot "A1")' in found[3].message


def test_gpio_direct_wiring_loads(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, vend=GPIO_DIRECT, slots=ONE_SLOT + "motor = 2\n"))
    assert config.slots[0].motor == "2"


def test_gpio_direct_motor_beyond_motor_pins(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, vend=GPIO_DIRECT, slots=ONE_SLOT + "motor = 3\n"))
    assert (issue.table, issue.key) == ("slot[0]", "motor")
    assert issue.message == 'motor 3 does not exist: vend.gpio.motor_pins lists 2 pins (slot "A1")'


def test_gpio_direct_wiring_refuses_row_column(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, vend=GPIO_DIRECT, slots=ONE_SLOT + 'motor = "1,2"\n'))
    assert (issue.table, issue.key) == ("slot[0]", "motor")
    assert 'wiring = "direct" takes a motor number like 3' in issue.message


def test_gpio_matrix_wiring_loads(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, vend=GPIO_MATRIX, slots=ONE_SLOT + 'motor = "2,3"\n'))
    assert config.slots[0].motor == "2,3"
    assert config.vend.gpio.row_pins == (5, 6)


def test_gpio_matrix_needs_rows_and_columns(tmp_path: Path) -> None:
    vend = '[vend]\ndriver = "gpio"\n[vend.gpio]\nwiring = "matrix"\nhome_pin = 20\ndrop_pin = 21\n'
    found = issues(make(tmp_path, vend=vend, slots=ONE_SLOT + 'motor = "1,1"\n'))
    assert where(found) == [("vend.gpio", "row_pins"), ("vend.gpio", "column_pins")]
    assert 'with wiring = "matrix"' in found[0].message


@pytest.mark.parametrize(("motor", "message"), [
    ('"3,1"', "row 3 does not exist: vend.gpio.row_pins lists 2 pins"),
    ('"1,4"', "column 4 does not exist: vend.gpio.column_pins lists 3 pins"),
    ("1", 'wiring = "matrix" takes "row,column" like "2,3", not a single number'),
])
def test_gpio_matrix_motor_checks(tmp_path: Path, motor: str, message: str) -> None:
    issue = one_issue(make(tmp_path, vend=GPIO_MATRIX, slots=ONE_SLOT + f"motor = {motor}\n"))
    assert (issue.table, issue.key) == ("slot[0]", "motor")
    assert message in issue.message


def test_gpio_pins_are_not_required_for_other_drivers(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, vend=MDB, slots=ONE_SLOT + "mdb_item = 1\n"))
    assert config.vend.gpio.motor_pins == () and config.slots[0].motor is None


def test_mdb_items_are_optional_and_bridge_lines_configurable(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, vend=MDB))
    assert config.slots[0].mdb_item is None  # matched by price on the keypad
    assert config.vend.mdb.failure_prefixes == ("c,ERR", "c,VEND,FAIL")
    vend = MDB + 'setconf = ["C,SETCONF,mdb-currency-code=0x1978"]\nfailure_prefixes = ["x,ERR"]\n'
    configured = load_config(make(tmp_path, vend=vend.replace("[vend]\ndriver", "[vend]\ndriver")
                                  .replace('driver = "mdb"\n', 'driver = "mdb"\n[vend.mdb]\n')))
    assert configured.vend.mdb.setconf == ("C,SETCONF,mdb-currency-code=0x1978",)
    assert configured.vend.mdb.failure_prefixes == ("x,ERR",)
    issue = one_issue(make(tmp_path, vend=MDB + '[vend.mdb]\nsetconf = ["C,1"]\n'))
    assert (issue.table, issue.key) == ("vend.mdb", "setconf") and '"C,1"' in issue.message


def test_mdb_items_are_unique(tmp_path: Path) -> None:
    slots = ONE_SLOT + "mdb_item = 11\n" + '[[slot]]\nid = "A2"\nname = "x"\nprice = "1"\n' \
        "mdb_item = 11\n"
    issue = one_issue(make(tmp_path, vend=MDB, slots=slots))
    assert (issue.table, issue.key) == ("slot[1]", "mdb_item")
    assert issue.message == 'item 11 is already used by slot "A1" (slot "A2")'


def test_mdb_driver_loads(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, vend=MDB, slots=ONE_SLOT + "mdb_item = 0\n"))
    assert config.slots[0].mdb_item == 0


def test_bad_driver_does_not_also_demand_gpio_pins(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, vend='[vend]\ndriver = "serial"'))
    assert (issue.table, issue.key) == ("vend", "driver")
    assert 'expected one of "gpio", "mdb" or "simulated", found string "serial"' in issue.message


# --------------------------------------------------------------------------- gateway identity

def test_mixpay_needs_its_table(tmp_path: Path) -> None:
    found = issues(make(tmp_path, payment=""))
    assert where(found) == [("payment.mixpay", "payee_id"),
                            ("payment.mixpay", "settlement_asset_id")]
    for issue in found:
        assert issue.message.startswith('required key is missing: payment.gateway = "mixpay"')
        assert issue.message.endswith("(there is no [payment.mixpay] table)")


def test_mixpay_payee_must_not_be_empty(tmp_path: Path) -> None:
    issue = one_issue(make(tmp_path, payment=MIXPAY.replace('"payee-uuid"', '""')))
    assert (issue.table, issue.key) == ("payment.mixpay", "payee_id")
    assert issue.message.startswith("required key is empty")


def test_wctpay_needs_api_base_key_secret_and_assets(tmp_path: Path) -> None:
    found = issues(make(tmp_path, '[payment]\ngateway = "wctpay"'))
    assert where(found) == [("payment.wctpay", "api_base"), ("payment.wctpay", "key"),
                            ("payment.wctpay", "api_secret"), ("payment", "assets")]
    assert f"put it in {tmp_path / 'secrets.toml'}" in found[1].message
    assert 'gateway "wctpay" needs the coins to offer' in found[3].message


def test_centrapay_needs_config_id_and_api_key(tmp_path: Path) -> None:
    found = issues(make(tmp_path, '[payment]\ngateway = "centrapay"', payment=""))
    assert where(found) == [("payment.centrapay", "config_id"), ("payment.centrapay", "api_key")]
    assert all('payment.gateway = "centrapay" needs it' in issue.message for issue in found)


@pytest.mark.parametrize("payee", [
    "00000000-0000-4000-8000-000000000000", "00000000-0000-0000-0000-000000000000",
    "your-payee-id", "YOUR_PAYEE_ID", "<payee id>", "...", "sandbox-payee"])
def test_a_placeholder_payee_never_takes_real_money(tmp_path: Path, payee: str) -> None:
    issue = one_issue(make(tmp_path, payment=MIXPAY.replace("payee-uuid", payee)))
    assert (issue.table, issue.key) == ("payment.mixpay", "payee_id")
    assert issue.message == (f'not configured: still a placeholder ("{payee}"); '
                             "put your MixPay payee id here")


@pytest.mark.parametrize(("key", "url"), [
    ("api_base", "https://api.example.com/v1"), ("checkout_base", "https://pay.example.org"),
    ("api_base", "https://mixpay.example"), ("checkout_base", "https://EXAMPLE.NET.")])
def test_an_example_address_for_the_selected_gateway_is_refused(tmp_path: Path, key: str,
                                                                 url: str) -> None:
    issue = one_issue(make(tmp_path, payment=MIXPAY + f'{key} = "{url}"\n'))
    assert (issue.table, issue.key) == ("payment.mixpay", key)
    assert issue.message.startswith(f'not configured: "{url.rstrip("/")}" is an example address')


@pytest.mark.parametrize("api_base", ["http://127.0.0.1:8765/mixpay/v1",
                                      "http://localhost:8765/mixpay/v1", "http://[::1]:9/v1"])
def test_the_loopback_sandbox_takes_the_examples_values(tmp_path: Path, api_base: str) -> None:
    """No money moves on the built-in sandbox: the boot example and the demo run there."""
    payment = MIXPAY.replace("payee-uuid", "00000000-0000-4000-8000-000000000000")
    config = load_config(make(tmp_path, payment=payment + f'api_base = "{api_base}"\n'))
    assert config.payment.mixpay is not None
    assert config.payment.mixpay.payee_id == "00000000-0000-4000-8000-000000000000"


def test_the_sandbox_credentials_are_placeholders_on_a_real_gateway(tmp_path: Path) -> None:
    sandbox = WCTPAY.replace("https://wct.test", "http://127.0.0.1:8765/wctpay")
    secrets = 'key = "sandbox-key"\napi_secret = "sandbox-secret"\n'
    assert load_config(make(tmp_path, sandbox + secrets)).payment.wctpay is not None
    found = issues(make(tmp_path, WCTPAY + secrets))
    assert where(found) == [("payment.wctpay", "key"), ("payment.wctpay", "api_secret")]
    for issue, value in zip(found, ("sandbox-key", "sandbox-secret"), strict=True):
        assert "(value hidden)" in issue.message and value not in issue.message


def test_placeholders_in_unselected_gateway_tables_are_left_alone(tmp_path: Path) -> None:
    extra = ('[payment.centrapay]\napi_base = "https://centrapay.example.com"\n'
             'config_id = "your-payment-config-id"\napi_key = "your-centrapay-api-key"\n')
    config = load_config(make(tmp_path, extra))
    assert config.payment.centrapay is not None
    assert config.payment.centrapay.config_id == "your-payment-config-id"


def test_without_any_catalogue_the_locale_is_not_blamed(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken installation (no assets/i18n) is not a config error; kiosk.i18n logs it."""
    monkeypatch.setenv("KIOSK_ASSETS", str(tmp_path / "nowhere"))
    default_catalogue.cache_clear()
    try:
        config = load_config(make(tmp_path, '[machine]\nlocale = "fr"\n'))
    finally:
        default_catalogue.cache_clear()
    assert config.machine.locale == "fr"


@pytest.mark.parametrize("support", ["+44 20 7946 0000", "help@vending-operator.test",
                                     "https://help.vending-operator.test/vm-0042?via=screen",
                                     "HTTP://HELP.TEST", "Call 0800 123 456 (free) · 8-20 h"])
def test_any_one_line_contact_up_to_80_characters_is_support(tmp_path: Path,
                                                             support: str) -> None:
    config = load_config(make(tmp_path, f'[machine]\nsupport = "  {support} "\n'))
    assert config.machine.support == support


def test_unselected_gateway_tables_are_optional_but_checked(tmp_path: Path) -> None:
    extra = '[payment.centrapay]\napi_base = "https://c.test"\n'
    config = load_config(make(tmp_path, extra))
    assert config.payment.centrapay == CentrapayConfig("https://c.test", "", "")
    issue = one_issue(make(tmp_path, '[payment.wctpay]\napi_base = "wct.test"'))
    assert (issue.table, issue.key) == ("payment.wctpay", "api_base")


# --------------------------------------------------------------------------- secrets

WCTPAY = """
[payment]
gateway = "wctpay"
assets = ["BTC"]
[payment.wctpay]
api_base = "https://wct.test"
"""
SECRETS = """
[payment.wctpay]
key = "file-key"
api_secret = "file-secret"
[payment.centrapay]
api_key = "file-cp"
[operator]
pin_hash = "file-hash"
"""


def test_secrets_file_next_to_config_is_merged(tmp_path: Path) -> None:
    write(tmp_path, SECRETS, "secrets.toml")
    config = load_config(make(tmp_path, WCTPAY))
    assert config.payment.wctpay == WctPayConfig("https://wct.test", "USD", "file-key",
                                                 "file-secret")
    assert config.payment.centrapay == CentrapayConfig(api_key="file-cp")
    assert config.operator.pin_hash == "file-hash"


def test_explicit_secrets_path(tmp_path: Path) -> None:
    secrets = write(tmp_path, SECRETS, "other-secrets.toml")
    config = load_config(make(tmp_path, WCTPAY), secrets)
    assert config.payment.wctpay is not None and config.payment.wctpay.key == "file-key"


def test_explicit_secrets_path_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    found = issues(make(tmp_path), missing)
    assert found == [ConfigIssue(str(missing), "", "", "file not found")]


def test_secrets_in_the_main_config_are_allowed(tmp_path: Path) -> None:
    extra = WCTPAY + 'key = "main-key"\napi_secret = "main-secret"\n[operator]\npin_hash = "h"\n'
    config = load_config(make(tmp_path, extra))
    assert config.payment.wctpay is not None
    assert (config.payment.wctpay.key, config.payment.wctpay.api_secret) == ("main-key",
                                                                               "main-secret")
    assert config.operator.pin_hash == "h"


def test_secrets_file_wins_over_the_main_config(tmp_path: Path) -> None:
    write(tmp_path, '[payment.wctpay]\nkey = "file-key"\n', "secrets.toml")
    extra = WCTPAY + 'key = "main-key"\napi_secret = "main-secret"\n'
    wctpay = load_config(make(tmp_path, extra)).payment.wctpay
    assert wctpay is not None and (wctpay.key, wctpay.api_secret) == ("file-key", "main-secret")


def test_unknown_key_in_secrets_file_names_the_secrets_file(tmp_path: Path) -> None:
    secrets = write(tmp_path, '[payment.wctpay]\napi_base = "https://x.test"\n', "secrets.toml")
    issue = one_issue(make(tmp_path))
    assert (issue.file, issue.table, issue.key) == (str(secrets), "payment.wctpay", "api_base")
    assert issue.message.startswith("unknown key (the secrets file may only hold ")
    assert "payment.wctpay.key" in issue.message


def test_non_secret_tables_are_refused_in_secrets_file(tmp_path: Path) -> None:
    secrets = write(tmp_path, '[machine]\nid = "x"\n[payment]\ngateway = "wctpay"\n',
                    "secrets.toml")
    found = issues(make(tmp_path))
    assert [(i.file, i.table, i.key) for i in found] == [
        (str(secrets), "payment", "gateway"), (str(secrets), "", "machine")]
    assert found[1].message.startswith("unknown table [machine]")


def test_errors_from_both_files_are_reported_together(tmp_path: Path) -> None:
    secrets = write(tmp_path, '[operator]\npin_hsh = "x"\n', "secrets.toml")
    path = make(tmp_path, "[display]\nrotation = 1")
    found = issues(path)
    assert [(i.file, i.table, i.key) for i in found] == [
        (str(secrets), "operator", "pin_hsh"), (str(path), "display", "rotation")]


SECRET = "SUPER-SECRET-8472"


def test_secret_values_never_appear_in_messages(tmp_path: Path) -> None:
    write(tmp_path, f"""
[payment.wctpay]
key = 998877665544
api_secret = ["{SECRET}"]
secret = "{SECRET}"
[payment.centrapay]
api_key = {{ value = "{SECRET}" }}
[operator]
pin_hash = true
{SECRET} = "{SECRET}"
""", "secrets.toml")
    main = WCTPAY + f'key = ["{SECRET}"]\n[operator]\npin_hash = 123456789\n'
    with pytest.raises(ConfigError) as caught:
        load_config(make(tmp_path, main))
    text = str(caught.value)
    assert len(caught.value.issues) >= 6
    for leaked in (SECRET, "998877665544", "123456789"):
        assert leaked not in text
        assert not any(leaked in issue.message for issue in caught.value.issues)
    assert "expected a string, found integer (value hidden)" in text
    hidden = [i for i in caught.value.issues if i.key == "(hidden)"]
    assert [(i.table, i.message[:40]) for i in hidden] == [
        ("operator", "unknown key, name not shown in case it i")]


def test_misspelled_secret_key_is_still_named(tmp_path: Path) -> None:
    write(tmp_path, '[payment.centrapay]\napikey = "x"\n', "secrets.toml")
    issue = one_issue(make(tmp_path))
    assert (issue.table, issue.key) == ("payment.centrapay", "apikey")


def test_secret_never_appears_in_a_secrets_syntax_error(tmp_path: Path) -> None:
    secrets = write(tmp_path, f'[payment.wctpay]\nkey = "{SECRET}\n', "secrets.toml")
    found = issues(make(tmp_path))
    assert len(found) == 1 and found[0].file == str(secrets)
    assert found[0].message.startswith("TOML syntax error") and SECRET not in found[0].message
    write(tmp_path, "[operator]\npin_hash = \"a\x07b\"\n", "secrets.toml")
    message = one_issue(make(tmp_path)).message
    assert "\\x07" not in message and "line 2" in message


def test_unparsable_secrets_file_does_not_also_demand_every_secret(tmp_path: Path) -> None:
    write(tmp_path, "[payment.wctpay\n", "secrets.toml")
    found = issues(make(tmp_path, WCTPAY))
    assert len(found) == 1 and found[0].file == str(tmp_path / "secrets.toml")


def test_wct_settlement_asset_must_be_the_price_currency(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[machine]\ncurrency = "EUR"\n\n[payment]\ngateway = "wctpay"\n'
                    'assets = ["BTC"]\n\n[payment.wctpay]\napi_base = "https://wct.test"\n'
                    'settlement_asset = "USD"\nkey = "k"\napi_secret = "s"\n\n'
                    '[vend]\ndriver = "simulated"\n\n[[slot]]\nid = "A1"\nname = "W"\n'
                    'price = "1.00"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    assert (issue.table, issue.key) == ("payment.wctpay", "settlement_asset")
    assert '"EUR"' in issue.message and '"USD"' in issue.message


# --------------------------------------------------------------------------- hostile documents

@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "{ a = " * 5000 + "1" + " }" * 5000])
def test_a_document_nested_too_deeply_is_one_issue(tmp_path: Path, value: str) -> None:
    issue = one_issue(write(tmp_path, f"x = {value}\n"))
    assert (issue.table, issue.key) == ("", "")
    assert issue.message.startswith("nested too deeply")


def test_an_integer_too_long_to_convert_is_one_issue(tmp_path: Path) -> None:
    issue = one_issue(write(tmp_path, "x = " + "9" * 5000 + "\n"))
    assert issue.message.startswith("an integer is out of range: TOML integers are 64-bit")


def test_an_integer_beyond_64_bits_is_located(tmp_path: Path) -> None:
    slots = ONE_SLOT + "motor = 0x" + "f" * 40 + "\n"
    issue = one_issue(make(tmp_path, slots=slots))
    assert (issue.table, issue.key) == ("slot[0]", "motor")


def test_the_largest_price_works_with_every_money_path(tmp_path: Path) -> None:
    from kiosk.money import format_amount, max_amount, to_minor

    config = load_config(make(tmp_path, slots=ONE_SLOT.replace('"2.50"', '"9999999999999.99"')))
    price = config.slots[0].price
    assert price == max_amount("USD")
    assert to_minor(price, "USD") == 999_999_999_999_999
    assert format_amount(price, "USD") == "9999999999999.99"


# --------------------------------------------------------------------------- plain http

@pytest.mark.parametrize(("payment", "table", "key"), [
    (MIXPAY + 'api_base = "http://api.mixpay.me/v1"\n', "payment.mixpay", "api_base"),
    (MIXPAY + 'checkout_base = "http://mixpay.me"\n', "payment.mixpay", "checkout_base"),
    ('[payment]\ngateway = "wctpay"\nassets = ["BTC"]\n[payment.wctpay]\n'
     'api_base = "http://10.0.0.5/wct"\nkey = "k"\napi_secret = "s"\n', "payment.wctpay",
     "api_base"),
    ('[payment]\ngateway = "centrapay"\n[payment.centrapay]\n'
     'api_base = "http://service.centrapay.com"\nconfig_id = "c"\napi_key = "k"\n',
     "payment.centrapay", "api_base"),
])
def test_plain_http_to_another_host_is_refused(tmp_path: Path, payment: str, table: str,
                                               key: str) -> None:
    issue = one_issue(make(tmp_path, payment=payment))
    assert (issue.table, issue.key) == (table, key)
    assert "is plain http://: the API keys and payment data would cross the network " \
           "unencrypted; use https://" in issue.message
    assert "[payment] insecure_http = true" in issue.message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost",
                                  "kiosk.localhost"])
def test_plain_http_to_this_machine_is_the_sandbox_and_allowed(tmp_path: Path,
                                                               host: str) -> None:
    payment = MIXPAY + f'api_base = "http://{host}:8765/v1"\n'
    config = load_config(make(tmp_path, payment=payment))
    assert config.payment.mixpay is not None and config.payment.mixpay.api_base.startswith("http:")
    assert config.warnings == ()


def test_insecure_http_allows_plain_http_loudly(tmp_path: Path) -> None:
    payment = MIXPAY + 'api_base = "http://10.0.0.5/v1"\n'
    config = load_config(make(tmp_path, "[payment]\ninsecure_http = true", payment=payment))
    assert config.payment.insecure_http
    assert config.payment.mixpay is not None
    assert config.payment.mixpay.api_base == "http://10.0.0.5/v1"
    [warning] = config.warnings
    assert (warning.table, warning.key) == ("payment.mixpay", "api_base")
    assert "allowed by [payment] insecure_http = true" in warning.message


# --------------------------------------------------------------------------- warnings

def test_a_clean_config_has_no_warnings(tmp_path: Path) -> None:
    secrets = write(tmp_path, f'[operator]\npin_hash = "{hash_pin("2468", iterations=100_000)}"\n',
                    "secrets.toml")
    secrets.chmod(0o600)
    assert load_config(make(tmp_path)).warnings == ()


def test_a_secrets_file_others_can_read_is_a_warning(tmp_path: Path) -> None:
    secrets = write(tmp_path, '[payment.centrapay]\napi_key = "k"\n', "secrets.toml")
    secrets.chmod(0o644)
    [warning] = load_config(make(tmp_path)).warnings
    assert warning.file == str(secrets)
    assert warning.message.startswith("readable by group or others (mode 0644)")
    assert f"chmod 600 {secrets}" in warning.message


def test_a_secret_in_the_config_file_is_a_warning_naming_where_it_belongs(tmp_path: Path) -> None:
    path = make(tmp_path, f'[payment.centrapay]\napi_key = "{SECRET}"\n')
    [warning] = load_config(path).warnings
    assert (warning.file, warning.table, warning.key) == (str(path), "payment.centrapay",
                                                          "api_key")
    assert f"move it into {tmp_path / 'secrets.toml'} (mode 0600;" in warning.message
    assert SECRET not in warning.message


@pytest.mark.parametrize(("pin_hash", "words"), [
    ("pbkdf2$hash", "not a PIN hash (pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>)"),
    (hash_pin("2468", iterations=1000)[:-2], "not a PIN hash"),
    (hash_pin("2468", iterations=1000), "weak: 1000 PBKDF2 iterations, fewer than 100,000"),
])
def test_a_malformed_or_weak_pin_hash_is_a_warning(tmp_path: Path, pin_hash: str,
                                                   words: str) -> None:
    secrets = write(tmp_path, f'[operator]\npin_hash = "{pin_hash}"\n', "secrets.toml")
    secrets.chmod(0o600)
    [warning] = load_config(make(tmp_path)).warnings
    assert (warning.file, warning.table, warning.key) == (str(secrets), "operator", "pin_hash")
    assert words in warning.message and warning.message.endswith("with kiosk set-pin")


def test_check_config_prints_warnings_and_still_passes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk import cli

    secrets = write(tmp_path, '[payment.centrapay]\napi_key = "k"\n', "secrets.toml")
    secrets.chmod(0o640)
    path = make(tmp_path)
    assert cli.main(["check-config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"WARNING {secrets}: (top level): readable by group or others (mode 0640): other users "
        f"could take the secrets; chmod 600 {secrets}",
        f"{path}: OK (1 slots, gateway mixpay, driver simulated, 1 warning)"]
