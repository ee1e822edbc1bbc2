"""Where the kiosk finds its pictures and fonts."""

from __future__ import annotations

import os
from pathlib import Path

from kiosk.config import Config

REPO_ASSETS = Path(__file__).resolve().parent.parent / "assets"
SYSTEM_ASSETS = Path("/usr/share/vending-kiosk/assets")


def assets_dir() -> Path:
    """``$KIOSK_ASSETS``, else the checkout's ``assets/``, else the installed copy."""
    override = os.environ.get("KIOSK_ASSETS")
    if override:
        return Path(override)
    return REPO_ASSETS if REPO_ASSETS.is_dir() else SYSTEM_ASSETS


def images_dir(config: Config) -> Path:
    """Product images: an ``images/`` folder beside the config wins over the shipped ones."""
    local = config.path.parent / "images"
    return local if local.is_dir() else assets_dir() / "products"
