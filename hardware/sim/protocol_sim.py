"""pyserial URL handler for ``sim://``: a simulated MDB bridge opened in-process.

pyserial's ``serial_for_url`` imports ``<package>.protocol_<scheme>`` from each package in
``serial.protocol_handler_packages`` and instantiates its ``Serial``; ``hardware.mdb`` adds
``hardware.sim`` to that list, as OctoPrint selects its virtual printer. So the MDB driver opens
``sim://...`` exactly as it opens ``/dev/ttyAMA0``: this ``Serial`` is pyserial's own POSIX port,
opened on the pty of the ``SimulatedMdbMachine`` the URL names (see
``hardware.sim.sim_url.parse_sim_url`` for the options). The machine outlives the port,
like a real bridge: a reconnect finds it in the state it was left in.
"""

from __future__ import annotations

import serial
from serial.serialutil import SerialException

from hardware.sim.mdb_bridge import simulated_bridge
from hardware.sim.sim_url import parse_sim_url


class Serial(serial.Serial):
    """A POSIX serial port on the pty of the simulated bridge named by its ``sim://`` URL."""

    @serial.Serial.port.setter  # type: ignore[attr-defined, untyped-decorator]
    def port(self, port: str | None) -> None:
        if port is not None:
            parse_sim_url(port)  # a ValueError before any open, as for an unknown scheme
        serial.Serial.port.fset(self, port)  # type: ignore[attr-defined]

    def open(self) -> None:
        url = self.port
        if url is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            bridge = simulated_bridge(url)
        except (ValueError, RuntimeError) as exc:
            raise SerialException(f"could not open {url}: {exc}") from None
        self.portstr = bridge.port  # pyserial's POSIX open() opens portstr
        try:
            super().open()
        finally:
            self.portstr = url
