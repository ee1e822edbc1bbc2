"""Test doubles shared by several test modules."""

from __future__ import annotations

START = 1_700_000_000.0


class FakeTime:
    """A clock whose ``sleep`` advances it, recording every sleep."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
