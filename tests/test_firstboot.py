"""The operator's first-boot file: valid files become the active config with their secrets moved
off the card, invalid ones leave the last good config and their errors for the screen."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.firstboot import ERRORS_FILE_NAME, import_boot_config, recorded_errors

KIOSK = [sys.executable, "-m", "kiosk"]
SECRET = "wct-secret-7f3a9c"
OPERATOR_FILE = """\
# The operator's settings for machine 42
[machine]
id = "vm-0042"
data_dir = "{data_dir}"

[payment]
gateway = "wctpay"
assets = ["BTC"]

[payment.wctpay]
api_base = "https://pos.wct.test/api"
key = "terminal-key-1"          # secrets are allowed here; they leave the card at boot
api_secret = "{secret}"

[vend]
driver = "simulated"

[[slot]]
id = "A1"
name = "Water"
price = "{price}"
"""


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    boot = tmp_path / "boot" / "firmware"
    boot.mkdir(parents=True)
    etc = tmp_path / "etc" / "vending-kiosk"
    etc.mkdir(parents=True)
    return {"boot": boot / "vending-kiosk.toml", "config": etc / "kiosk.toml",
            "secrets": etc / "secrets.toml", "data": tmp_path / "data"}


def operator_file(paths: dict[str, Path], price: str = "2.50") -> None:
    paths["boot"].write_text(OPERATOR_FILE.format(data_dir=paths["data"], secret=SECRET,
                                                  price=price))


def test_a_valid_file_becomes_the_config_and_its_secrets_leave_the_card(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    result = import_boot_config(paths["boot"], paths["config"])
    assert result.imported and "2 secret(s) moved" in result.message
    assert SECRET not in paths["boot"].read_text()
    assert SECRET not in paths["config"].read_text()
    assert "# The operator's settings for machine 42" in paths["config"].read_text()
    assert SECRET in paths["secrets"].read_text()
    assert stat.S_IMODE(paths["secrets"].stat().st_mode) == 0o600
    config = load_config(paths["config"])  # secrets.toml beside it completes it
    assert config.machine.id == "vm-0042"
    assert config.payment.wctpay is not None and config.payment.wctpay.api_secret == SECRET


def test_the_next_boot_imports_the_stripped_file_with_the_secrets_kept(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    import_boot_config(paths["boot"], paths["config"])
    text = paths["boot"].read_text().replace('price = "2.50"', 'price = "3.00"')
    paths["boot"].write_text(text)  # the operator changes a price, no secrets this time
    result = import_boot_config(paths["boot"], paths["config"])
    assert result.imported
    config = load_config(paths["config"])
    assert str(config.slots[0].price) == "3.00"
    assert config.payment.wctpay is not None and config.payment.wctpay.api_secret == SECRET


def test_an_invalid_file_keeps_the_last_good_config_and_records_why(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    import_boot_config(paths["boot"], paths["config"])
    good = paths["config"].read_text()
    operator_file(paths, price="2.505")
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert not result.imported
    assert [(i.table, i.key) for i in result.issues] == [("slot[0]", "price")]
    assert str(paths["boot"]) in str(result.issues[0])
    assert paths["config"].read_text() == good
    errors = recorded_errors(paths["data"])
    assert errors.startswith("operator file rejected (1 error(s))") and "price" in errors
    assert SECRET not in errors
    operator_file(paths)  # fixed: the next boot clears the recorded errors
    assert import_boot_config(paths["boot"], paths["config"], paths["data"]).imported
    assert not (paths["data"] / ERRORS_FILE_NAME).exists()


def test_a_file_still_holding_placeholders_is_refused_and_the_screen_says_so(
        paths: dict[str, Path]) -> None:
    """Copied from the example and never filled in: the machine must not look sellable."""
    operator_file(paths)
    paths["boot"].write_text(paths["boot"].read_text()
                             .replace("https://pos.wct.test/api", "https://wctpay.example.com/api")
                             .replace('"terminal-key-1"', '"your-terminal-api-key"'))
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert not result.imported and not paths["config"].exists()
    assert [(i.table, i.key) for i in result.issues] == [("payment.wctpay", "api_base"),
                                                         ("payment.wctpay", "key")]
    errors = recorded_errors(paths["data"])  # the first lines become the status line
    assert errors.splitlines()[1].endswith(
        '[payment.wctpay] api_base: not configured: "https://wctpay.example.com/api" is an '
        "example address; put the URL WCT Pay gave you at onboarding here")
    assert "your-terminal-api-key" not in errors


def test_a_secret_that_cannot_be_stripped_line_by_line_is_refused(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    text = paths["boot"].read_text().replace(
        '[payment.wctpay]\napi_base = "https://pos.wct.test/api"\n', "")
    inline = text.replace('key = "terminal-key-1"', "").replace(
        f'api_secret = "{SECRET}"', "")
    inline = inline.replace("[payment]\n", "[payment]\nwctpay = { api_base = "
                            f'"https://pos.wct.test/api", key = "k", api_secret = "{SECRET}" }}\n')
    paths["boot"].write_text(inline)
    result = import_boot_config(paths["boot"], paths["config"])
    assert not result.imported and "own line" in result.issues[0].message
    assert not paths["config"].exists()


def test_no_file_means_nothing_to_do(paths: dict[str, Path]) -> None:
    result = import_boot_config(paths["boot"], paths["config"])
    assert not result.imported and "nothing to import" in result.message


def test_the_command_exits_2_on_a_rejected_file(paths: dict[str, Path]) -> None:
    operator_file(paths, price="free")
    result = subprocess.run([*KIOSK, "import-boot-config", "--boot-file", str(paths["boot"]),
                             "--config", str(paths["config"])], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "price" in result.stdout
    operator_file(paths)
    ok = subprocess.run([*KIOSK, "import-boot-config", "--boot-file", str(paths["boot"]),
                         "--config", str(paths["config"])], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0 and "imported" in ok.stdout
