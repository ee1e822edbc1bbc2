"""``--screenshots``: a PNG of every new screen and of every new thing asked of the customer.

The picture is the upright (logical) one, what the customer reads whatever the rotation; the
main thread only copies the pixels, a worker encodes and writes them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygame
from PIL import Image

from kiosk.flow import KioskState


class ScreenRecorder:
    """Numbered PNGs in ``directory`` (none when it is None), written in order by one thread.

    Numbering goes on after the pictures already there, so a kiosk that leaves its
    out-of-service screen and starts selling in the same process (a new recorder) keeps one
    story in order instead of starting again at 0001 beside the first one's pictures."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._shots: int | None = None            # the last number used; read by the writer
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenshots")
        self._last_asked: tuple[object, ...] = ()  # what the last shot asked of the customer

    def frame_drawn(self, surface: pygame.Surface, state: KioskState, new_screen: bool) -> None:
        """A frame is on screen: record it if it is a new screen, or a new QR, amount or code
        on the same one (a re-quote, a top-up, a withdrawn code): each is a record of what
        the customer was told."""
        asked = _asked_of_customer(state)
        if new_screen or asked != self._last_asked:
            self._shoot(surface, state)
            self._last_asked = asked

    def close(self) -> None:
        """Wait for the pictures still being written."""
        self._writer.shutdown(wait=True)

    def _shoot(self, surface: pygame.Surface, state: KioskState) -> None:
        if self._directory is None:
            return
        pixels = pygame.image.tobytes(surface, "RGB")
        self._writer.submit(self._write_next, self._directory, state.screen.value,
                            surface.get_size(), pixels)

    def _write_next(self, directory: Path, screen: str, size: tuple[int, int],
                    pixels: bytes) -> None:
        """On the writer thread: the directory is read there, never on the pygame thread."""
        if self._shots is None:
            self._shots = _last_number(directory)
        self._shots += 1
        _write_png(directory / f"{self._shots:04d}-{screen}.png", size, pixels)


def _asked_of_customer(state: KioskState) -> tuple[object, ...]:
    """What the screen asks the customer to pay, or gives them to keep."""
    sale = state.sale
    if sale is None:
        return ()
    request, status = sale.request, sale.status
    return (request.link if request else None, request.crypto_amount if request else None,
            status.remaining if status else None, sale.claim_code)


def _last_number(directory: Path) -> int:
    """The highest picture number already in ``directory`` (0 for none or no directory:
    pathlib's glob finds nothing there rather than raising)."""
    numbers = (path.name.partition("-")[0] for path in directory.glob("*.png"))
    return max((int(number) for number in numbers if number.isdigit()), default=0)


def _write_png(path: Path, size: tuple[int, int], pixels: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.frombytes("RGB", size, pixels).save(path)
