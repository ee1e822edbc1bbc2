"""``[fleet]`` (kiosk.config.fleet): the broker, its CA, the topic prefix, the command key, the
outbox, and the broker's credentials in the secrets file; every mistake reported by key."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakes import KIOSK, offline_kiosk_toml

from kiosk.config import Config, load_config
from kiosk.config.fleet import Broker, FleetConfig
from kiosk.errors import ConfigError, ConfigIssue

KEY_BYTES = bytes(range(32))
KEY_TEXT = base64.b64encode(KEY_BYTES).decode("ascii")
PASSWORD = "correct-horse-battery-staple-77"
USERNAME = "machine-m-001"


def write_config(tmp_path: Path, fleet: dict[str, Any] | None = None, *,
                 secrets: str | None = None) -> Path:
    """A valid offline kiosk plus ``[fleet]`` (when given) and a 0600 ``secrets.toml``."""
    path = tmp_path / "kiosk.toml"
    parts: dict[str, Any] = {} if fleet is None else {"fleet": fleet}
    path.write_text(offline_kiosk_toml(tmp_path / "data", **parts), encoding="utf-8")
    if secrets is not None:
        secret_file = tmp_path / "secrets.toml"
        secret_file.write_text(secrets, encoding="utf-8")
        secret_file.chmod(0o600)
    return path


def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return path


def fleet_of(tmp_path: Path, **fleet: Any) -> FleetConfig:
    """The ``[fleet]`` read from a config whose table is ``fleet`` (with a command key)."""
    config = load_config(write_config(tmp_path, {"command_public_key": KEY_TEXT, **fleet}))
    assert config.fleet is not None
    return config.fleet


def issues(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.issues


def fleet_issues(tmp_path: Path, **fleet: Any) -> list[ConfigIssue]:
    found = issues(write_config(tmp_path, {"command_public_key": KEY_TEXT, **fleet}))
    assert found, "expected the [fleet] table to be refused"
    return found


def one_fleet_issue(tmp_path: Path, **fleet: Any) -> ConfigIssue:
    found = fleet_issues(tmp_path, **fleet)
    assert len(found) == 1, "\n".join(map(str, found))
    assert found[0].table == "fleet", found[0]
    return found[0]


def fleet_warnings(config: Config) -> list[ConfigIssue]:
    return [warning for warning in config.warnings if warning.table == "fleet"]


# --------------------------------------------------------------------------- no fleet

def test_no_fleet_table_means_no_fleet_link(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    assert config.fleet is None
    assert fleet_warnings(config) == []


# --------------------------------------------------------------------------- valid tables

def test_a_full_table_is_read_exactly(tmp_path: Path) -> None:
    ca = ca_file(tmp_path)
    config = load_config(write_config(tmp_path, {
        "broker": "mqtts://mqtt.fleet.example.net:8884", "ca_file": str(ca),
        "topic_prefix": "acme/vk/v2", "command_public_key": KEY_TEXT, "keepalive_s": 12,
        "outbox_limit": 500, "home_assistant": True}))
    assert config.fleet == FleetConfig(
        brokers=(Broker("mqtt.fleet.example.net", 8884, True),), insecure=False, ca_file=ca,
        topic_prefix="acme/vk/v2", command_public_key=KEY_TEXT, keepalive_s=12,
        outbox_limit=500, home_assistant=True)
    assert config.fleet.public_key_bytes() == KEY_BYTES
    assert config.fleet.brokers[0].url == "mqtts://mqtt.fleet.example.net:8884"
    assert fleet_warnings(config) == []


def test_defaults_of_a_minimal_table(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, broker="mqtts://mqtt.fleet.example.net")
    assert fleet.brokers == (Broker("mqtt.fleet.example.net", 8883, True),)  # mqtts' port
    assert (fleet.ca_file, fleet.topic_prefix, fleet.keepalive_s, fleet.outbox_limit,
            fleet.home_assistant, fleet.insecure) == (None, "vk/v1", 15, 10_000, False, False)
    assert (fleet.username, fleet.password) == ("", "")


def test_a_relative_ca_file_is_found_beside_the_config(tmp_path: Path) -> None:
    ca = ca_file(tmp_path)
    fleet = fleet_of(tmp_path, broker="mqtts://mqtt.fleet.example.net", ca_file=ca.name)
    assert fleet.ca_file == ca


def test_a_cluster_of_brokers_keeps_its_order(tmp_path: Path) -> None:
    urls = ["mqtts://node-c.fleet.example.net:8883", "mqtts://node-a.fleet.example.net:9883",
            "mqtts://[2001:db8::7]:8883"]
    fleet = fleet_of(tmp_path, broker=urls)
    assert [broker.url for broker in fleet.brokers] == urls
    assert [broker.host for broker in fleet.brokers] == [
        "node-c.fleet.example.net", "node-a.fleet.example.net", "2001:db8::7"]


@pytest.mark.parametrize("url", ["mqtt://127.0.0.1:1883", "mqtt://localhost:1883",
                                 "mqtt://[::1]:1883"])
def test_plain_mqtt_on_this_machine_is_fine(tmp_path: Path, url: str) -> None:
    config = load_config(write_config(tmp_path, {"broker": url, "command_public_key": KEY_TEXT}))
    assert config.fleet is not None
    assert config.fleet.brokers[0].tls is False and config.fleet.brokers[0].port == 1883
    assert fleet_warnings(config) == []


def test_plain_mqtt_off_this_machine_is_refused_naming_the_key_and_mqtts(
        tmp_path: Path) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtt://mqtt.fleet.example.net:1883")
    assert issue.key == "broker"
    assert "mqtt.fleet.example.net" in issue.message
    assert "use mqtts://" in issue.message and "insecure = true" in issue.message
    assert "[fleet] broker" in str(issue)


def test_plain_mqtt_in_a_cluster_is_refused_too(tmp_path: Path) -> None:
    issue = one_fleet_issue(tmp_path, broker=["mqtts://a.fleet.example.net",
                                              "mqtt://b.fleet.example.net"])
    assert issue.key == "broker" and "b.fleet.example.net" in issue.message


def test_insecure_allows_plain_mqtt_with_a_warning(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {
        "broker": "mqtt://10.0.0.5:1883", "insecure": True, "command_public_key": KEY_TEXT}))
    assert config.fleet is not None
    assert config.fleet.insecure is True
    assert config.fleet.brokers == (Broker("10.0.0.5", 1883, False),)
    (warning,) = fleet_warnings(config)
    assert warning.key == "broker"
    assert "10.0.0.5" in warning.message and "unencrypted" in warning.message


@pytest.mark.parametrize("url", [
    "https://mqtt.fleet.example.net",          # not MQTT
    "ws://mqtt.fleet.example.net:8080",
    "mqtts:/mqtt.fleet.example.net",
    "mqtts://",                                # no host
    "mqtts://user:pw@mqtt.fleet.example.net",  # credentials belong in the secrets file
    "mqtts://mqtt.fleet.example.net:8883/some/path",
    "mqtts://mqtt.fleet.example.net:port",
    "mqtts://mqtt.fleet.example.net:123456",   # six digits
    "mqtts://mqtt fleet",
    "garbage",
    "",
])
def test_wrong_broker_urls_are_refused(tmp_path: Path, url: str) -> None:
    issue = one_fleet_issue(tmp_path, broker=url)
    assert issue.key == "broker"
    assert "mqtts://host:8883" in issue.message


@pytest.mark.parametrize("url", ["mqtts://mqtt.fleet.example.net:65536",
                                 "mqtts://mqtt.fleet.example.net:99999"])
def test_ports_out_of_range_are_refused(tmp_path: Path, url: str) -> None:
    issue = one_fleet_issue(tmp_path, broker=url)
    assert issue.key == "broker"
    assert "between 1 and 65535" in issue.message and url in issue.message


def test_port_zero_is_refused_not_replaced_by_the_default(tmp_path: Path) -> None:
    """Port 0 is falsy: it must not fall back to mqtts' 8883 as if no port were given."""
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net:0")
    assert issue.key == "broker" and "between 1 and 65535" in issue.message


@pytest.mark.parametrize("value", [8883, True, [], ["mqtts://a.example.net", 5],
                                   {"url": "mqtts://a.example.net"}])
def test_a_broker_that_is_not_a_url_or_a_list_of_them_is_refused(tmp_path: Path,
                                                                  value: Any) -> None:
    found = fleet_issues(tmp_path, broker=value)
    assert [(issue.table, issue.key) for issue in found] == [("fleet", "broker")]


def test_a_fleet_table_without_a_broker_is_refused(tmp_path: Path) -> None:
    issue = one_fleet_issue(tmp_path)
    assert issue.key == "broker" and "required key is missing" in issue.message


def test_a_missing_ca_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net",
                            ca_file=str(missing))
    assert issue.key == "ca_file" and str(missing) in issue.message
    assert "is not a file" in issue.message


def test_a_directory_is_not_a_ca_file(tmp_path: Path) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net",
                            ca_file=str(tmp_path))
    assert issue.key == "ca_file"


@pytest.mark.parametrize(("value", "ok"), [(5, True), (20, True), (21, False), (60, False),
                                           (4, False), (0, False)])
def test_keepalive_is_at_most_20_seconds(tmp_path: Path, value: int, ok: bool) -> None:
    broker = "mqtts://mqtt.fleet.example.net"
    if ok:
        assert fleet_of(tmp_path, broker=broker, keepalive_s=value).keepalive_s == value
    else:
        issue = one_fleet_issue(tmp_path, broker=broker, keepalive_s=value)
        assert issue.key == "keepalive_s" and "between 5 and 20" in issue.message


def test_keepalive_must_be_an_integer(tmp_path: Path) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net", keepalive_s="15")
    assert issue.key == "keepalive_s" and "an integer" in issue.message


@pytest.mark.parametrize("prefix", ["vk/#", "vk/+/v1", "+", "#", "/vk/v1", "vk/v1/", "vk//v1",
                                    "$SYS/vk", "vk v1", ""])
def test_topic_prefix_without_wildcards_or_a_leading_slash(tmp_path: Path, prefix: str) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net",
                            topic_prefix=prefix)
    assert issue.key == "topic_prefix"
    assert 'no "+", "#" or leading "/"' in issue.message


@pytest.mark.parametrize("key", [
    "not base64 at all!",
    base64.b64encode(bytes(31)).decode(),       # too short
    base64.b64encode(bytes(33)).decode(),       # too long
    base64.b64encode(bytes(64)).decode(),       # a private key's length, say
    KEY_TEXT[:-1],                              # padding cut off
])
def test_a_command_key_that_is_not_32_bytes_of_base64_is_refused(tmp_path: Path,
                                                                 key: str) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net",
                            command_public_key=key)
    assert issue.key == "command_public_key"
    assert "32-byte Ed25519" in issue.message


def test_without_a_command_key_every_command_will_be_refused(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net"}))
    assert config.fleet is not None
    assert config.fleet.command_public_key == "" and config.fleet.public_key_bytes() is None
    (warning,) = fleet_warnings(config)
    assert warning.key == "command_public_key"
    assert "every command from the fleet will be refused" in warning.message


def test_unknown_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net",
                            keepalive=15)
    assert issue.key == "keepalive"
    assert issue.message.startswith("unknown key")
    assert 'did you mean "keepalive_s"?' in issue.message


@pytest.mark.parametrize(("key", "value"), [("outbox_limit", 99), ("outbox_limit", 10_000_001),
                                            ("home_assistant", "yes"), ("insecure", 1)])
def test_other_keys_are_type_and_range_checked(tmp_path: Path, key: str, value: Any) -> None:
    issue = one_fleet_issue(tmp_path, broker="mqtts://mqtt.fleet.example.net", **{key: value})
    assert issue.key == key


# --------------------------------------------------------------------------- credentials

def test_credentials_come_from_the_secrets_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net",
                                   "command_public_key": KEY_TEXT},
                        secrets=f'[fleet]\nusername = "{USERNAME}"\npassword = "{PASSWORD}"\n')
    config = load_config(path)
    assert config.fleet is not None
    assert (config.fleet.username, config.fleet.password) == (USERNAME, PASSWORD)
    assert config.warnings == () or all(PASSWORD not in str(w) for w in config.warnings)
    assert fleet_warnings(config) == []
    assert PASSWORD not in repr(config.fleet) and USERNAME not in repr(config.fleet)


def test_credentials_in_the_config_work_with_a_warning_to_move_them(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {
        "broker": "mqtts://mqtt.fleet.example.net", "command_public_key": KEY_TEXT,
        "username": USERNAME, "password": PASSWORD}))
    assert config.fleet is not None and config.fleet.password == PASSWORD
    warned = {warning.key: warning.message for warning in fleet_warnings(config)}
    assert set(warned) == {"username", "password"}
    assert "move it into" in warned["password"] and "secrets.toml" in warned["password"]
    assert all(PASSWORD not in message for message in warned.values())


def test_a_secrets_file_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net",
                                   "command_public_key": KEY_TEXT},
                        secrets=f'[fleet]\nusername = "{USERNAME}"\npassword = "{PASSWORD}"\n')
    (tmp_path / "secrets.toml").chmod(0o644)
    config = load_config(path)
    assert any("chmod 600" in warning.message for warning in config.warnings)


def test_a_password_without_a_user_name_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net",
                                   "command_public_key": KEY_TEXT},
                        secrets=f'[fleet]\npassword = "{PASSWORD}"\n')
    found = issues(path)
    assert [(issue.table, issue.key) for issue in found] == [("fleet", "username")]
    assert "needs its user name" in found[0].message
    assert all(PASSWORD not in str(issue) for issue in found)


def test_a_wrongly_typed_password_is_never_echoed(tmp_path: Path) -> None:
    found = fleet_issues(tmp_path, broker="mqtts://mqtt.fleet.example.net",
                         username=USERNAME, password=987654321)
    (issue,) = [issue for issue in found if issue.key == "password"]
    assert "(value hidden)" in issue.message
    assert all("987654321" not in str(issue) for issue in found)


def test_a_wrongly_typed_secret_in_the_secrets_file_is_never_echoed(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net",
                                   "command_public_key": KEY_TEXT},
                        secrets=f'[fleet]\nusername = "{USERNAME}"\npassword = ["{PASSWORD}"]\n')
    found = issues(path)
    assert any(issue.key == "password" for issue in found)
    assert all(PASSWORD not in str(issue) for issue in found)


def test_other_fleet_keys_are_refused_in_the_secrets_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net",
                                   "command_public_key": KEY_TEXT},
                        secrets='[fleet]\nbroker = "mqtts://other.example.net"\n')
    found = issues(path)
    assert [(issue.file, issue.table, issue.key) for issue in found] == [
        (str(tmp_path / "secrets.toml"), "fleet", "broker")]


def test_a_secrets_file_with_fleet_credentials_alone_still_needs_a_broker(
        tmp_path: Path) -> None:
    """Credentials for a fleet the config does not describe: the table counts as present."""
    path = write_config(tmp_path, secrets=f'[fleet]\nusername = "{USERNAME}"\n'
                                          f'password = "{PASSWORD}"\n')
    found = issues(path)
    assert ("fleet", "broker") in [(issue.table, issue.key) for issue in found]
    assert all(PASSWORD not in str(issue) for issue in found)


# --------------------------------------------------------------------------- the CLI

def test_check_config_names_a_bad_fleet_broker_and_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtt://mqtt.fleet.example.net:1883",
                                   "command_public_key": KEY_TEXT})
    result = subprocess.run([*KIOSK, "check-config", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}: [fleet] broker" in result.stdout
    assert "mqtts://" in result.stdout
    assert "Traceback" not in result.stderr


def test_check_config_accepts_a_good_fleet_table(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"broker": "mqtts://mqtt.fleet.example.net",
                                   "command_public_key": KEY_TEXT})
    result = subprocess.run([*KIOSK, "check-config", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[fleet]" not in result.stdout
