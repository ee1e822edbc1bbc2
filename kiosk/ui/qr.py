"""The payment QR: the largest whole-pixel modules that fit, a 4-module quiet zone, black on
white."""

from __future__ import annotations

from functools import lru_cache

import pygame
import qrcode
from qrcode.constants import ERROR_CORRECT_M

QUIET_ZONE_MODULES = 4  # the QR standard's minimum; phone cameras need it on a busy screen


def qr_matrix(data: str) -> list[list[bool]]:
    """Modules of ``data``'s QR code, without the quiet zone."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


@lru_cache(maxsize=8)
def qr_surface(data: str, max_side: int) -> pygame.Surface:
    """A square surface no larger than ``max_side`` holding the code and its quiet zone.

    Made once per code and size (the payment screen redraws every second for its countdown);
    callers only blit it, never draw on it."""
    matrix = qr_matrix(data)
    modules = len(matrix) + 2 * QUIET_ZONE_MODULES
    scale = max(1, max_side // modules)
    surface = pygame.Surface((modules * scale, modules * scale))
    surface.fill((255, 255, 255))
    for row_index, row in enumerate(matrix):
        for col_index, dark in enumerate(row):
            if dark:
                rect = ((col_index + QUIET_ZONE_MODULES) * scale,
                        (row_index + QUIET_ZONE_MODULES) * scale, scale, scale)
                surface.fill((0, 0, 0), rect)
    return surface
