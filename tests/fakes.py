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


def simulated_machine_toml(a2_fault: str) -> str:
    """The ``[vend]`` tables and two slots of a test config: A1 works, A2 has ``a2_fault``.

    Returned with doubled braces, ready for ``str.format`` like the rest of a config template.
    """
    return f"""
[vend]
driver = "simulated"

[vend.simulated]
faults = {{{{ A2 = "{a2_fault}" }}}}
turn_time_s = 0

[[slot]]
id = "A1"
name = "Water"
price = "2.50"
stock = 3

[[slot]]
id = "A2"
name = "Cola"
price = "2.00"
stock = 3
"""
