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
