"""``[vend.simulated]``: the simulated driver's (``hardware/sim/driver.py``) config section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hardware.config_section import WAIT_MAX_S, SectionReader
from hardware.sim.driver import FAULTS


@dataclass(frozen=True)
class SimulatedConfig:
    faults: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    turn_time_s: float = 0.5


def read_simulated_config(r: SectionReader) -> SimulatedConfig:
    faults = r.choice_table("faults", tuple(FAULTS), key_name="slot",
                            shape='an inline table of slot id = fault, e.g. { A2 = "jam" }')
    return SimulatedConfig(MappingProxyType(dict(faults)),
                           r.number("turn_time_s", 0.5, lo=0, hi=WAIT_MAX_S))
