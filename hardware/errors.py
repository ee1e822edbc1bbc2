"""Hardware errors: raised when a driver cannot be set up or talked to at all.

A vend that runs and fails (jam, no drop) is not an exception: it is a ``VendResult``.
"""


class HardwareError(Exception):
    """A vend driver cannot be opened, configured or reached."""
