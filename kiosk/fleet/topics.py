"""The machine's topics: all under ``<topic_prefix>/<machine id>/`` (docs/fleet-protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    machine_id: str

    def of(self, leaf: str) -> str:
        return f"{self.prefix}/{self.machine_id}/{leaf}"

    @property
    def status(self) -> str:
        """Retained: online or not, in service or why not (the last will says offline)."""
        return self.of("status")

    @property
    def cmd(self) -> str:
        """Signed commands to this machine."""
        return self.of("cmd")
