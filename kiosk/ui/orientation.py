"""Panel rotation done by the app: SDL on KMSDRM always draws in the panel's native orientation.

``display.rotation`` is in degrees **clockwise**, like ``video=DSI-1:...,rotate=N`` in
``cmdline.txt``: the upright picture the customer reads is turned N degrees clockwise onto the
panel. So for a panel mounted turned 90 degrees counter-clockwise from its native landscape
(a portrait kiosk built from the 800x480 display), ``rotation = 90`` shows an upright 480x800
picture.

Screens draw on a *logical* surface in the customer's orientation; once per changed frame
``present`` turns it onto the native display surface. Touch and mouse positions arrive in native
coordinates and ``to_logical`` is the one place that maps them back; the autopilot's synthetic
clicks go through ``to_native`` and then the same adapter, like a finger.

Mapping is per pixel: logical pixel (x, y) is shown at native pixel ``to_native((x, y))``, the
exact pixel ``pygame.transform.rotate`` puts it on (tests compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

ROTATIONS = (0, 90, 180, 270)


@dataclass(frozen=True)
class Orientation:
    native_size: tuple[int, int]
    rotation: int = 0                 # degrees clockwise: 0, 90, 180 or 270

    def __post_init__(self) -> None:
        if self.rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, not {self.rotation!r}")

    @property
    def logical_size(self) -> tuple[int, int]:
        width, height = self.native_size
        return (height, width) if self.rotation in (90, 270) else (width, height)

    def logical_surface(self, native: pygame.Surface) -> pygame.Surface:
        """Where screens draw: the display surface itself when nothing needs turning."""
        if self.rotation == 0:
            return native
        return pygame.Surface(self.logical_size, 0, native)

    def present(self, logical: pygame.Surface, native: pygame.Surface) -> None:
        """Put the logical frame on the native surface, turned ``rotation`` degrees clockwise."""
        if logical is native:
            return
        # pygame turns counter-clockwise for positive angles; multiples of 90 are exact.
        native.blit(pygame.transform.rotate(logical, -self.rotation), (0, 0))

    def to_logical(self, x: float, y: float) -> tuple[int, int]:
        """A native position (pixels, may be fractional) -> the logical pixel under it."""
        width, height = self.native_size           # native
        if self.rotation == 90:
            lx, ly = y, width - x
        elif self.rotation == 180:
            lx, ly = width - x, height - y
        elif self.rotation == 270:
            lx, ly = height - y, x
        else:
            lx, ly = x, y
        lw, lh = self.logical_size
        return _clamp(lx, lw), _clamp(ly, lh)

    def to_native(self, point: tuple[int, int]) -> tuple[int, int]:
        """The native pixel that shows logical pixel ``point``."""
        x, y = point[0] + 0.5, point[1] + 0.5        # pixel centres: the mapping stays exact
        width, height = self.native_size
        if self.rotation == 90:
            nx, ny = width - y, x
        elif self.rotation == 180:
            nx, ny = width - x, height - y
        elif self.rotation == 270:
            nx, ny = y, height - x
        else:
            nx, ny = x, y
        return _clamp(nx, width), _clamp(ny, height)

    def finger_to_logical(self, nx: float, ny: float) -> tuple[int, int]:
        """An SDL finger position (0..1 of the window, possibly a little outside) -> logical."""
        width, height = self.native_size
        return self.to_logical(nx * width, ny * height)


def _clamp(value: float, size: int) -> int:
    return min(max(int(value), 0), max(0, size - 1))
