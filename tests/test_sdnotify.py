"""sd_notify from a real headless kiosk: READY once, WATCHDOG repeatedly, STOPPING on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from fakes import FakeSystemd, offline_kiosk_toml, run_headless

from kiosk.sdnotify import Notifier

def test_a_headless_kiosk_reports_ready_once_and_pets_the_watchdog(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(offline_kiosk_toml(tmp_path / "data"))
    systemd = FakeSystemd(tmp_path / "notify.sock", watchdog_usec=200_000)
    kiosk = run_headless(config, env=systemd.env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    messages = systemd.messages
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and messages.count("WATCHDOG=1") < 8:
            systemd.receive()
        kiosk.send_signal(signal.SIGTERM)
        assert kiosk.wait(timeout=20) == 0
        while systemd.receive():
            pass
    finally:
        kiosk.kill()
        systemd.close()
    assert messages.count("READY=1") == 1
    assert messages.count("WATCHDOG=1") >= 8
    assert messages[-1] == "STOPPING=1"


def test_without_systemd_there_is_no_socket_and_calls_are_harmless() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000"})
    assert not notifier.enabled
    notifier.ready()
    notifier.ping(100.0)
    notifier.close()
    abstract = Notifier({"NOTIFY_SOCKET": "@kiosk-test"})
    assert abstract.enabled
    abstract.close()


def test_the_watchdog_is_petted_at_half_its_interval(tmp_path: Path) -> None:
    address = str(tmp_path / "n.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.setblocking(False)
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "10000000"})
    for now in (0.0, 1.0, 4.9, 5.0, 9.9, 10.0):
        notifier.ping(now)
    sent = []
    while True:
        try:
            sent.append(receiver.recv(64).decode())
        except BlockingIOError:
            break
    notifier.close()
    receiver.close()
    assert sent == ["WATCHDOG=1"] * 3  # at 0, 5 and 10 s
