"""Example screenshots of the customer screens, for the README and for reviewing a layout.

    python -m kiosk.ui.gallery docs/screens                     # the README's set
    python -m kiosk.ui.gallery shots --all --size 720x1280      # every screen, every language
    python -m kiosk.ui.gallery shots --all --size 800x480 --rotation 90

Each PNG is what the panel shows (the native surface, rotated like on the machine). The sample
sales (``kiosk.ui.samples``, which the screen tests draw too) are played through the real flow,
so the screens show what a customer would see. With ``--all`` the result screens also come once
per reason a customer keeps a code (``...-expired-part_paid.png``), each with the sample
operator contact.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kiosk.flow import ClaimReason, Screen
from kiosk.resources import assets_dir
from kiosk.ui.samples import CLAIM_VARIANTS, NOW, claim_screen, sample_state

SUPPORT = "+1 555 0142 or help@vending-operator.test"

# (screen, size, rotation, language) of the README's pictures
README_SET = (
    *((screen, (800, 480), 0, language)
      for language in ("en", "de")
      for screen in (Screen.ATTRACT, Screen.CHOOSE_ITEM, Screen.AWAITING_PAYMENT,
                     Screen.VEND_FAILED)),
    (Screen.AWAITING_PAYMENT, (720, 1280), 0, "en"),
)


def save(directory: Path, screen: Screen, size: tuple[int, int], rotation: int,
         language: str, reason: ClaimReason | None = None) -> Path:
    import pygame

    from kiosk.ui.orientation import Orientation
    from kiosk.ui.screens import View, render

    orientation = Orientation(size, rotation)
    native = pygame.Surface(size)
    logical = orientation.logical_surface(native)
    view = View(currency="USD", images_dir=assets_dir() / "products", machine_id="vm-0042",
                support=SUPPORT)
    render(logical, sample_state(screen, reason), view, NOW, language)
    orientation.present(logical, native)
    suffix = f"-r{rotation}" if rotation else ""
    face = f"-{reason.value}" if reason is not None else ""
    path = directory / f"{size[0]}x{size[1]}{suffix}-{language}-{screen.value}{face}.png"
    directory.mkdir(parents=True, exist_ok=True)
    pygame.image.save(native, str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.ui.gallery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--all", action="store_true", help="every screen in every language")
    parser.add_argument("--size", default="800x480", help="with --all: WIDTHxHEIGHT")
    parser.add_argument("--rotation", type=int, default=0, choices=(0, 90, 180, 270))
    args = parser.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from kiosk.i18n import default_catalogue

    pygame.display.init()
    pygame.font.init()
    if args.all:
        width, height = (int(n) for n in args.size.lower().split("x"))
        faces: list[tuple[Screen, ClaimReason | None]] = [
            *((screen, None) for screen in Screen),
            *((claim_screen(reason), reason) for reason in CLAIM_VARIANTS)]
        wanted = [(screen, (width, height), args.rotation, language, reason)
                  for language in default_catalogue().languages for screen, reason in faces]
    else:
        wanted = [(*sample, None) for sample in README_SET]
    for screen, size, rotation, language, reason in wanted:
        print(save(args.directory, screen, size, rotation, language, reason))
    return 0


if __name__ == "__main__":
    sys.exit(main())
