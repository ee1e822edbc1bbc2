"""The vend faults a test or a ``sim://`` URL can inject into the simulated MDB machine.

Per item: ``"fail"`` reports the vendor example's "could not dispense" (``c,ERR,VEND 3``),
``"no_answer"`` never reports at all. (The bridge's own faults, a hang or an unplug, are
``SimulatedMdbMachine``'s controls.)
"""

from __future__ import annotations

from collections.abc import Mapping

from hardware import mdb_protocol as proto

FAULTS = ("fail", "no_answer")
FAILURE_LINE = "c,ERR,VEND 3"   # the vendor example's "could not dispense"


def unknown_faults(faults: Mapping[int, str]) -> list[str]:
    """The fault names in ``faults`` that the simulator does not know, sorted."""
    return sorted(set(faults.values()) - set(FAULTS))


class VendFaults:
    """Which items go wrong, and how the machine then reports their vend."""

    def __init__(self, faults: Mapping[int, str]) -> None:
        unknown = unknown_faults(faults)
        if unknown:
            raise ValueError(f"unknown MDB simulator fault(s): {', '.join(unknown)}")
        self._faults = dict(faults)

    def vend_report(self, item: int) -> str | None:
        """The line that ends the vend of ``item``, or None when the machine never answers."""
        fault = self._faults.get(item)
        if fault == "no_answer":
            return None
        return FAILURE_LINE if fault == "fail" else proto.VEND_SUCCESS
