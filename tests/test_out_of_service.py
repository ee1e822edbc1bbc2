"""``kiosk run`` on a config it cannot use: a real headless kiosk shows out of service with the
reason, tells systemd it is up, prints no traceback, and exits when the file is fixed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from kiosk.errors import ConfigError, ConfigIssue
from kiosk.out_of_service import rejection_reason

PLACEHOLDER = """
[machine]
data_dir = "{data_dir}"
wait_for_time_sync = false

[payment.mixpay]
payee_id = "00000000-0000-4000-8000-000000000000"
settlement_asset_id = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"

[vend]
driver = "simulated"

[[slot]]
id = "A1"
name = "Water"
price = "2.50"
"""


def test_the_reason_names_the_first_problem_and_counts_the_rest() -> None:
    placeholder = ConfigIssue("kiosk.toml", "payment.mixpay", "payee_id",
                              "not configured: still a placeholder; put your payee id here")
    typo = ConfigIssue("kiosk.toml", "machine", "colour", "unknown key")
    assert rejection_reason(ConfigError([placeholder])) == (
        "not configured: [payment.mixpay] payee_id: still a placeholder; put your payee id here")
    assert rejection_reason(ConfigError([typo, placeholder])) == (
        "configuration error: [machine] colour: unknown key (+1 more: kiosk check-config)")


def test_an_unconfigured_kiosk_is_out_of_service_until_its_file_changes(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(PLACEHOLDER.format(data_dir=tmp_path / "data"))
    shots = tmp_path / "shots"
    address = str(tmp_path / "notify.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000",
           "SDL_VIDEODRIVER": "dummy"}
    kiosk = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(config),
                              "--headless", "--screenshots", str(shots)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {"READY=1", "WATCHDOG=1"} <= set(messages):
            try:
                messages.append(receiver.recv(256).decode())
            except TimeoutError:
                assert kiosk.poll() is None, "the kiosk exited instead of showing why"
        config.write_text(config.read_text().replace(
            "00000000-0000-4000-8000-000000000000", "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"))
        assert kiosk.wait(timeout=15) == 0      # systemd's Restart=always starts it again
        out, err = kiosk.communicate()
    finally:
        kiosk.kill()
        receiver.close()
    assert messages.count("READY=1") == 1 and "WATCHDOG=1" in messages
    assert [path.name for path in shots.glob("*.png")] == ["0001-out_of_service.png"]
    assert "payee_id: not configured" in out          # the check-config lines, for the log
    assert "kiosk out of service: not configured: [payment.mixpay] payee_id" in err
    assert "Traceback" not in out + err


def test_a_journal_that_cannot_be_opened_is_out_of_service_until_it_can(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(PLACEHOLDER.format(data_dir=tmp_path / "data").replace(
        "00000000-0000-4000-8000-000000000000", "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"))
    (tmp_path / "data").mkdir()
    corrupt = tmp_path / "data" / "journal.db"
    garbage = b"this is not a database" * 100
    corrupt.write_bytes(garbage)
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    kiosk = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(config),
                              "--headless", "--screenshots", str(tmp_path / "shots")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "shots").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)
        assert kiosk.poll() is None and corrupt.read_bytes() == garbage   # kept, untouched
        corrupt.rename(tmp_path / "journal.db.corrupt")   # the technician moves it aside
        deadline = time.monotonic() + 20
        while not (tmp_path / "data" / "journal.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "data" / "journal.db").exists()   # a new journal: selling again
        time.sleep(3)                                          # its screen is up
        kiosk.send_signal(signal.SIGTERM)
        out, err = kiosk.communicate(timeout=20)
    finally:
        kiosk.kill()
    assert "kiosk out of service: journal unavailable: cannot open journal" in err
    assert "Traceback" not in out + err
    assert (tmp_path / "shots" / "0001-out_of_service.png").exists()
