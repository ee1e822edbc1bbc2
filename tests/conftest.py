"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiosk.payments.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Every simulated gateway on loopback, quick to confirm and with no rate limit in the way
    (a module that tests rate limits or slow confirmations defines its own)."""
    with Sandbox(confirm_s=0.2, requests_per_minute=10_000) as running:
        yield running


@pytest.fixture(autouse=True)
def synchronised_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel of a test container may say its clock is not synchronised (adjtimex's
    TIME_ERROR), which would keep every in-process kiosk waiting for the clock. Tests of that
    wait give the runtime their own ``time_synced``; kiosks run as subprocesses set
    ``[machine] wait_for_time_sync = false``."""
    monkeypatch.setattr("kiosk.assembly.kernel_time_synced", lambda: True)
