"""Which EVA-DTS event identifier stands for each way a vend can fail.

The codes come from the standard's event tables for snack/can/bottle machines (group ``EJ``)
and products (group ``EL``), as open parsers list them (``EJB`` dispense motor, ``EJC``
helix assembly, ``EJM`` product delivery system, ``EJZ`` other unlisted fault, ``ELA``
product delivery failure).
"""

from __future__ import annotations

# hardware.VendOutcome values (and the journal's recovery actions) -> event identifier
OUTCOME_EVENTS: dict[str, str] = {
    "no_drop": "ELA",         # the motor turned, nothing crossed the drop beam
    "jam": "EJC",             # the spiral did not leave or regain home
    "motor_fault": "EJB",     # the motor could not be driven
    "denied": "EJM",          # the machine refused the vend
    "timeout": "EJM",         # the machine never answered
    "unknown": "EJZ",         # the item may have dropped: nobody knows
    "not_dispensed": "EJZ",   # a restart stopped the sale before the machine was told
    "vend_unknown": "EJZ",    # a restart came mid-vend
}
OTHER = "EJZ"


def event_code(outcome: str) -> str:
    """The event identifier for a failed vend's outcome."""
    return OUTCOME_EVENTS.get(outcome, OTHER)
