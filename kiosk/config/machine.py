"""``[machine]`` and ``[display]``: who the kiosk is, its money and language, and its screen."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kiosk.config.gateway import example_host, placeholder
from kiosk.config.reader import Reader
from kiosk.money import MINOR_UNITS

ROTATIONS = (0, 90, 180, 270)
DISPLAY_MAX = 16384                # pixels: SDL's largest window and texture side
SUPPORT_MAX = 80                  # [machine] support: one line on the claim and fault screens
_MACHINE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SUPPORT_URL = re.compile(r"(?i)https?://[^/\s?#@]+\S*")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class MachineConfig:
    id: str = "vm-0001"
    currency: str = "USD"
    locale: str = "en"
    data_dir: Path = Path("/var/lib/vending-kiosk")
    support: str = ""                  # how a customer reaches the operator: phone, e-mail, URL
    wait_for_time_sync: bool = True    # no money before NTP set the clock (kiosk.time_sync)


@dataclass(frozen=True)
class DisplayConfig:
    width: int = 0
    height: int = 0
    rotation: int = 0
    fullscreen: bool = True


def read_machine(r: Reader, config_dir: Path) -> MachineConfig:
    machine_id = r.str_("id", "vm-0001", pattern=_MACHINE_ID,
                        shape='1 to 64 letters, digits, ".", "_" or "-"')
    currency = r.str_("currency", "USD")
    if r.ok("currency") and currency not in MINOR_UNITS:
        hint = f'did you mean "{currency.upper()}"?' if currency.upper() in MINOR_UNITS else ""
        r.wrong("currency", 'an ISO 4217 code the kiosk knows, such as "USD", "EUR" or "JPY"',
                currency, hint)
        currency = "USD"
    locale = _locale(r)
    data_dir = _data_dir(r, config_dir)
    support = _support(r)
    wait_for_time_sync = r.bool_("wait_for_time_sync", True)
    r.finish()
    return MachineConfig(machine_id, currency, locale, data_dir, support, wait_for_time_sync)


def read_display(r: Reader) -> DisplayConfig:
    config = DisplayConfig(
        width=r.int_("width", 0, lo=0, hi=DISPLAY_MAX),
        height=r.int_("height", 0, lo=0, hi=DISPLAY_MAX),
        rotation=r.choice("rotation", 0, ROTATIONS),
        fullscreen=r.bool_("fullscreen", True),
    )
    r.finish()
    return config


def _data_dir(r: Reader, config_dir: Path) -> Path:
    """Absolute; a relative path is relative to the config file, not to wherever the service
    happened to start, and ``~user`` is expanded."""
    default = "/var/lib/vending-kiosk"
    text = r.line("data_dir", default, shape="a directory path", required=True)
    try:
        expanded = Path(text).expanduser()
    except RuntimeError:  # no such user, or no home directory to expand "~" to
        r.error("data_dir", f'"{text}" starts with a home directory ("~") this machine does '
                            "not have: write the full path")
        expanded = Path(default)
    return Path(os.path.abspath(config_dir / expanded))


def _locale(r: Reader) -> str:
    """A language the screens have texts in: exact ("de") or regional ("de-AT"), never a silent
    fall back to English."""
    # Imported here: kiosk.i18n -> kiosk.resources imports this package.
    from kiosk.i18n import default_catalogue, language_for

    locale = r.str_("locale", "en", pattern=_LOCALE, shape='a language tag like "en" or "de-AT"')
    languages = default_catalogue().languages
    # With no catalogue at all the installation is broken, not the config (kiosk.i18n logs it).
    if r.ok("locale") and languages and language_for(locale, languages) is None:
        listed = ", ".join(f'"{code}"' for code in languages)
        r.error("locale", f'the kiosk has no screen texts in "{locale}": choose one of its '
                          f'languages ({listed}), or a regional form of one such as "de-AT"')
        return "en"
    return locale


def _support(r: Reader) -> str:
    """How customers reach the operator: a phone number, an e-mail or an http(s) URL (also shown
    as a QR), on one line that fits the claim and fault screens."""
    support = r.str_("support", "").strip()
    if not support:
        return ""
    if len(support) > SUPPORT_MAX:
        r.error("support", f"must be at most {SUPPORT_MAX} characters (a phone number, an "
                           f"e-mail or a web address), found {len(support)}")
    elif not support.isprintable():
        r.error("support", "must be one line, without line breaks, tabs or control characters")
    elif support.lower().startswith(("http:", "https:")) and not _SUPPORT_URL.fullmatch(support):
        r.wrong("support", "a web address like https://help.example.net/vm-0001 (http or https "
                           "and a host name)", support)
    elif placeholder(support) or any(example_host(d) for d in _DOMAIN.findall(support)):
        shown = json.dumps(support, ensure_ascii=False)
        r.error("support", f"not configured: still a placeholder ({shown}); put "
                           "the phone number, e-mail or web address customers reach you at "
                           "here, or remove the line")
    else:
        return support
    return ""
