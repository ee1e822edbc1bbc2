"""``kiosk run`` on a config it cannot use: a real headless kiosk shows out of service with the
reason, tells systemd it is up, prints no traceback, and exits when the file is fixed."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from fakes import (
    PAYEE_ID,
    PLACEHOLDER_PAYEE_ID,
    WATER,
    FakeSystemd,
    mixpay_table,
    offline_kiosk_toml,
    run_headless,
)
from harness import wait_until

from kiosk.errors import ConfigError, ConfigIssue
from kiosk.out_of_service import rejection_reason


def placeholder_toml(data_dir: Path, payee_id: str = PLACEHOLDER_PAYEE_ID) -> str:
    """The example's placeholder payee id (no gateway address: the real MixPay's)."""
    return offline_kiosk_toml(data_dir, mixpay=mixpay_table(None, payee_id=payee_id),
                              slots=(WATER,))


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
    config.write_text(placeholder_toml(tmp_path / "data"))
    shots = tmp_path / "shots"
    systemd = FakeSystemd(tmp_path / "notify.sock", watchdog_usec=400_000)
    kiosk = run_headless(config, "--screenshots", str(shots), env=systemd.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    messages = systemd.messages
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {"READY=1", "WATCHDOG=1"} <= set(messages):
            if not systemd.receive():
                assert kiosk.poll() is None, "the kiosk exited instead of showing why"
        config.write_text(config.read_text().replace(PLACEHOLDER_PAYEE_ID, PAYEE_ID))
        assert kiosk.wait(timeout=15) == 0      # systemd's Restart=always starts it again
        out, err = kiosk.communicate()
    finally:
        kiosk.kill()
        systemd.close()
    assert messages.count("READY=1") == 1 and "WATCHDOG=1" in messages
    assert [path.name for path in shots.glob("*.png")] == ["0001-out_of_service.png"]
    assert "payee_id: not configured" in out          # the check-config lines, for the log
    assert "kiosk out of service: not configured: [payment.mixpay] payee_id" in err
    assert "Traceback" not in out + err


def test_a_journal_that_cannot_be_opened_is_out_of_service_until_it_can(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(placeholder_toml(tmp_path / "data", PAYEE_ID))
    (tmp_path / "data").mkdir()
    corrupt = tmp_path / "data" / "journal.db"
    garbage = b"this is not a database" * 100
    corrupt.write_bytes(garbage)
    kiosk = run_headless(config, "--screenshots", str(tmp_path / "shots"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "shots").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)
        assert kiosk.poll() is None and corrupt.read_bytes() == garbage   # kept, untouched
        corrupt.rename(tmp_path / "journal.db.corrupt")   # the technician moves it aside
        # a new journal: selling again
        wait_until((tmp_path / "data" / "journal.db").exists, 20, poll_s=0.1)
        time.sleep(3)                                          # its screen is up
        kiosk.send_signal(signal.SIGTERM)
        out, err = kiosk.communicate(timeout=20)
    finally:
        kiosk.kill()
    assert "kiosk out of service: journal unavailable: cannot open journal" in err
    assert "Traceback" not in out + err
    assert (tmp_path / "shots" / "0001-out_of_service.png").exists()


def test_a_stop_that_arrives_as_the_cause_goes_stops_the_kiosk(tmp_path: Path) -> None:
    """systemd's SIGTERM and the technician's fix in the same moment: the stop wins. (It was
    lost once: the out-of-service screen took it, saw the journal open, and a new selling
    kiosk started that had never heard it.)"""
    config = tmp_path / "kiosk.toml"
    config.write_text(placeholder_toml(tmp_path / "data", PAYEE_ID))
    (tmp_path / "data" / "journal.db").mkdir(parents=True)     # cannot be opened
    shots = tmp_path / "shots"
    kiosk = run_headless(config, "--screenshots", str(shots),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until((shots / "0001-out_of_service.png").exists, 30, poll_s=0.05)
        (tmp_path / "data" / "journal.db").rmdir()              # fixed ...
        kiosk.send_signal(signal.SIGTERM)                       # ... as systemd stops it
        out, err = kiosk.communicate(timeout=20)
    finally:
        kiosk.kill()
    assert kiosk.returncode == 0
    assert "Traceback" not in out + err
    # No selling kiosk started: it would have drawn its attract screen.
    assert [path.name for path in shots.glob("*.png")] == ["0001-out_of_service.png"]
