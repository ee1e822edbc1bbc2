"""The operator's first-boot file: valid files become the active config with their secrets moved
off the card, invalid ones leave the last good config and their errors for the screen."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from fakes import KIOSK, OPERATOR_FILE
from hypothesis import strategies as st

from kiosk.config import load_config
from kiosk.firstboot import ERRORS_FILE_NAME, import_boot_config, recorded_errors

SECRET = "wct-secret-7f3a9c"


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


# ---------------------------------------------------------------- files that do not parse

BROKEN_SECRET_LINES = {
    "missing quote": f'api_secret = "{SECRET}',
    "curly quotes": f"api_secret = \u201c{SECRET}\u201d",
    "control character": f'api_secret = "{SECRET[:4]}\x1c{SECRET[4:]}"',
    "form feed": f'api_secret = "{SECRET[:4]}\x0c{SECRET[4:]}"',
    "no equals sign": f'api_secret "{SECRET}"',
}


def installed(paths: dict[str, Path]) -> tuple[str, str]:
    """A good config and secrets, as the previous boot left them."""
    operator_file(paths)
    assert import_boot_config(paths["boot"], paths["config"], paths["data"]).imported
    return paths["config"].read_text(), paths["secrets"].read_text()


@pytest.mark.parametrize("line", BROKEN_SECRET_LINES.values(), ids=BROKEN_SECRET_LINES.keys())
def test_a_secret_line_that_does_not_parse_rejects_the_file_and_leaves_the_card(
        paths: dict[str, Path], line: str) -> None:
    good_config, good_secrets = installed(paths)
    new_secret = SECRET.replace("wct", "new")
    operator_file(paths)
    text = paths["boot"].read_text().replace(f'api_secret = "{SECRET}"',
                                             line.replace(SECRET, new_secret))
    paths["boot"].write_text(text)
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert not result.imported
    [issue] = result.issues
    assert issue.message.startswith("TOML syntax error") and new_secret[4:] not in str(issue)
    assert "2 secret line(s) removed from the card and not imported" in result.message
    card = paths["boot"].read_text()
    assert new_secret[:4] not in card and new_secret[4:] not in card and "api_secret" not in card
    assert 'key = "terminal-key-1"' not in card            # the file's other secret too
    assert "# The operator's settings for machine 42" in card and 'price = "2.50"' in card
    assert (paths["config"].read_text(), paths["secrets"].read_text()) == (good_config,
                                                                          good_secrets)
    errors = recorded_errors(paths["data"])        # what the out-of-service screen shows
    assert errors.splitlines()[0] == "operator file rejected (1 error(s)):"
    assert f"{paths['boot']}: (top level): TOML syntax error" in errors.splitlines()[1]
    assert errors.splitlines()[-1].startswith("2 secret line(s) removed from the card")
    assert new_secret[4:] not in errors


def test_the_command_exits_2_on_a_secret_line_that_does_not_parse(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    paths["boot"].write_text(paths["boot"].read_text().replace(f'"{SECRET}"', f'"{SECRET}'))
    result = subprocess.run([*KIOSK, "import-boot-config", "--boot-file", str(paths["boot"]),
                             "--config", str(paths["config"])], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "TOML syntax error" in result.stdout
    assert SECRET not in paths["boot"].read_text() and not paths["config"].exists()


def test_a_file_that_is_not_utf8_is_rejected_and_its_secrets_still_removed(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    # Saved by a Windows editor: curly quotes in cp1252 are bytes that are not UTF-8.
    text = paths["boot"].read_text().replace('name = "Water"', "name = \u201cWater\u201d")
    paths["boot"].write_bytes(text.encode("cp1252"))
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert not result.imported and "is not valid UTF-8 text" in result.issues[0].message
    card = paths["boot"].read_bytes()
    assert SECRET.encode() not in card and b"terminal-key-1" not in card
    assert b"name = \x93Water\x94" in card     # the rest is left byte for byte


def test_a_rejected_valid_toml_file_also_loses_its_secret_lines(paths: dict[str, Path]) -> None:
    operator_file(paths, price="2.505")
    paths["boot"].write_text(paths["boot"].read_text() + '\n[machine.login]\npassword = "pw1"\n')
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert not result.imported
    card = paths["boot"].read_text()
    assert SECRET not in card and "pw1" not in card and "[machine.login]" in card
    assert "3 secret line(s) removed from the card and not imported: write them again" \
        in recorded_errors(paths["data"])


def test_any_failure_keeps_the_old_config_and_puts_the_kiosk_out_of_service(
        paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    good_config, _ = installed(paths)
    operator_file(paths, price="3.00")

    def broken(path: Path) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("kiosk.firstboot.load_config", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):   # the unit fails, and says why
        import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert paths["config"].read_text() == good_config
    assert recorded_errors(paths["data"]).splitlines()[1] == (
        f"{paths['boot']}: (top level): could not be imported: RuntimeError: disk on fire")
    assert SECRET not in paths["boot"].read_text()


def test_an_unreadable_operator_file_fails_the_command_in_one_line(
        paths: dict[str, Path]) -> None:
    installed(paths)
    paths["boot"].unlink()
    paths["boot"].mkdir()                       # what no editor writes, but a card can hold
    result = subprocess.run([*KIOSK, "import-boot-config", "--boot-file", str(paths["boot"]),
                             "--config", str(paths["config"])], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("Is a directory")
    assert "could not be imported: IsADirectoryError" in recorded_errors(paths["data"])


def test_an_unparsable_installed_secrets_file_stops_the_import(paths: dict[str, Path]) -> None:
    paths["secrets"].write_text('[operator]\npin_hash = "unterminated\n')
    operator_file(paths)
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert not result.imported
    assert (result.issues[0].file, result.issues[0].message[:17]) == (str(paths["secrets"]),
                                                                      "TOML syntax error")
    assert paths["secrets"].read_text() == '[operator]\npin_hash = "unterminated\n'


def test_a_multi_line_secret_and_a_commented_out_one_leave_the_card(
        paths: dict[str, Path]) -> None:
    operator_file(paths)
    text = paths["boot"].read_text().replace(
        f'api_secret = "{SECRET}"', f'api_secret = """{SECRET[:5]}\n{SECRET[5:]}"""\n'
                                    '# api_secret = "old-secret-1"')
    paths["boot"].write_text(text)
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert result.imported, result.issues
    card = paths["boot"].read_text()
    assert SECRET[:5] not in card and SECRET[5:] not in card and "old-secret-1" not in card
    assert "# secrets are allowed here" not in card      # it was on the key line
    assert "# The operator's settings for machine 42" in card


SECRET_VALUE = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]),
                       max_size=30)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=SECRET_VALUE)
def test_whatever_follows_a_secret_key_never_stays_on_the_card(
        paths: dict[str, Path], value: str) -> None:
    operator_file(paths)
    text = paths["boot"].read_text().replace(f'"{SECRET}"', value + "MARKER-7c1")
    paths["boot"].write_text(text)
    result = import_boot_config(paths["boot"], paths["config"], paths["data"])
    assert "MARKER-7c1" not in paths["boot"].read_text(encoding="utf-8", errors="replace")
    assert result.imported or recorded_errors(paths["data"]).startswith("operator file rejected")
