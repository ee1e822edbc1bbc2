"""Test doubles shared by several test modules."""

from __future__ import annotations

START = 1_700_000_000.0
# A kiosk that starts anywhere: the simulated machine, a gateway address nothing answers on
# (out of service "payments unavailable"), no wait for network time.
OFFLINE_KIOSK_TOML = """
[machine]
data_dir = "{data_dir}"
wait_for_time_sync = false

[payment.mixpay]
payee_id = "6f1e0d8a-2b49-4b8e-9f6c-1d2a3b4c5d6e"
settlement_asset_id = "4d8c508b-91c5-375b-92b0-ee702ed2dac5"
api_base = "http://127.0.0.1:9/v1"

[vend]
driver = "simulated"

[[slot]]
id = "A1"
name = "Water"
price = "2.50"
stock = 1
"""


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
