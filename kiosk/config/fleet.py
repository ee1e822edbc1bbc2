"""``[fleet]``: the broker this machine reports to and the key its commands are signed with.

Free of paho and cryptography's heavier parts, like every section: ``kiosk check-config`` and
the first-boot import read it. The broker credentials belong in the secrets file. Without a
``[fleet]`` table the kiosk has no fleet link at all and behaves as it always did.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from kiosk.config.gateway import loopback
from kiosk.config.reader import Reader
from kiosk.config.secrets import secret

DEFAULT_PREFIX = "vk/v1"
KEEPALIVE_MAX_S = 20          # the last will reaches the console within 1.5 x keep-alive
_BROKER = re.compile(r"mqtts?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?/?")
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")   # no MQTT wildcards, no "$"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class Broker:
    """One broker address: ``mqtts://host:8883`` (TLS) or ``mqtt://host:1883``."""

    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


@dataclass(frozen=True)
class FleetConfig:
    # One broker, or the nodes of a cluster tried in turn (a list): the same fleet either way.
    brokers: tuple[Broker, ...] = ()
    insecure: bool = False               # allow mqtt:// (no TLS) off this machine
    ca_file: Path | None = None          # None: the system's trusted CAs
    topic_prefix: str = DEFAULT_PREFIX
    command_public_key: str = ""         # base64 of the fleet's Ed25519 public key (32 bytes)
    keepalive_s: int = 15
    outbox_limit: int = 10_000           # rows kept for a broker that is away; facts never go
    home_assistant: bool = False         # MQTT discovery messages for Home Assistant
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    def public_key_bytes(self) -> bytes | None:
        """The 32 bytes of the command key, or ``None``: then every command is refused."""
        return decode_public_key(self.command_public_key)


def decode_public_key(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def read_fleet(r: Reader, config_dir: Path) -> FleetConfig | None:
    """The ``[fleet]`` table, or ``None`` when the config has none (no fleet link)."""
    if not r.present and not any(table == r.table for table, _ in r.ctx.secrets.values):
        r.finish()
        return None
    insecure = r.bool_("insecure", False)
    config = FleetConfig(
        brokers=read_brokers(r, "broker", insecure, needed_by="the fleet link"),
        insecure=insecure,
        ca_file=_ca_file(r, config_dir),
        topic_prefix=r.str_("topic_prefix", DEFAULT_PREFIX, pattern=_PREFIX,
                            shape='topic levels of letters, digits, ".", "_" or "-" joined by '
                                  '"/", like "vk/v1" (no "+", "#" or leading "/")'),
        command_public_key=_public_key(r),
        keepalive_s=r.int_("keepalive_s", 15, lo=5, hi=KEEPALIVE_MAX_S),
        outbox_limit=r.int_("outbox_limit", 10_000, lo=100, hi=10_000_000),
        home_assistant=r.bool_("home_assistant", False),
        username=secret(r, "username"),
        password=secret(r, "password"),
    )
    if config.password and not config.username:
        r.require("username", config.username, "a broker password needs its user name")
    r.finish()
    return config


def read_brokers(r: Reader, key: str, insecure: bool, *, needed_by: str) -> tuple[Broker, ...]:
    """``key``: one broker URL, or a list of them (the nodes of one cluster); plain mqtt:// only
    to this machine or with ``insecure``. The kiosk's ``[fleet] broker`` and the console's
    ``[broker] url`` both read through here."""
    raw = r.raw(key)
    urls = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else None
    if raw is None:
        r.require(key, None, f'{needed_by} needs its broker, e.g. {key} = '
                             '"mqtts://mqtt.fleet.example.net:8883"')
        return ()
    if not urls or not all(isinstance(url, str) for url in urls):
        r.wrong(key, 'an mqtts:// URL or a list of them (the nodes of one cluster)', raw)
        return ()
    brokers = []
    for url in urls:
        broker = _broker(r, key, url, insecure)
        if broker is None:
            return ()
        brokers.append(broker)
    return tuple(brokers)


def _broker(r: Reader, key: str, url: str, insecure: bool) -> Broker | None:
    if not _BROKER.fullmatch(url):
        r.wrong(key, 'a broker URL like "mqtts://host:8883" (mqtts: TLS, or mqtt: plain)', url)
        return None
    parts = urlsplit(url)
    try:
        port = DEFAULT_PORTS[parts.scheme] if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        r.error(key, f'"{url}": the port must be between 1 and 65535')
        return None
    if parts.scheme == "mqtt" and not loopback(url):
        if not insecure:
            r.error(key, f'"{url}" is plain mqtt://: sales, claims and the broker '
                              "password would cross the network unencrypted; use mqtts:// (only "
                              "this machine may be reached by mqtt://), or set insecure = true "
                              "for a test broker on a network you trust (dangerous)")
            return None
        r.ctx.warn(r.table, key, f'"{url}" is plain mqtt://, allowed by insecure = true: '
                                      "telemetry and the broker password cross the network "
                                      "unencrypted")
    return Broker(parts.hostname or "", port, parts.scheme == "mqtts")


def _ca_file(r: Reader, config_dir: Path) -> Path | None:
    text = r.line("ca_file", "", shape="a file path")
    if not text:
        return None
    path = Path(config_dir, Path(text).expanduser())
    if not path.is_file():
        r.error("ca_file", f'"{path}" is not a file: the CA certificate (PEM) the broker\'s '
                           "certificate is checked against")
        return None
    return path


def _public_key(r: Reader) -> str:
    text = r.str_("command_public_key", "")
    if text and decode_public_key(text) is None:
        r.error("command_public_key", "must be the base64 of the fleet's 32-byte Ed25519 "
                                      "public key (44 characters ending in \"=\"): commands "
                                      "cannot be checked against anything else")
        return ""
    if not text:
        r.ctx.warn(r.table, "command_public_key", "not set: every command from the fleet will "
                                                  "be refused (telemetry still flows)")
    return text
