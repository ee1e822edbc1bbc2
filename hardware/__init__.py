"""Vend hardware behind one interface: simulated, GPIO spiral motors, MDB cashless bridge.

This package never imports ``kiosk``: it knows slots by the motor index or MDB item the
caller passes in, not by the kiosk's config.
"""

from hardware.base import (
    DriverHealth,
    KeypadSelection,
    Probe,
    VendDriver,
    VendOutcome,
    VendRequest,
    VendResult,
)
from hardware.errors import HardwareError

__all__ = ["DriverHealth", "HardwareError", "KeypadSelection", "Probe", "VendDriver",
           "VendOutcome", "VendRequest", "VendResult"]
