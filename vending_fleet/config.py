"""The console's own config file (``vending-fleet serve --config PATH``): strict like the
kiosk's, through the same reader (``kiosk.config.reader``): every key typed and range-checked,
unknown keys reported with a did-you-mean, every problem in one pass, each naming file, table
and key. The broker's user name and password belong in ``console-secrets.toml`` beside the file
(mode 0600); found in the file itself they work, with a warning.

```toml
[console]
listen = "127.0.0.1:8080"                 # host:port the dashboard is served on
database = "sqlite:////var/lib/vending-fleet/console.db"   # or postgresql://user@host/db
signing_key = "fleet-key.pem"             # vending-fleet keygen; relative to this file
secure_cookies = true                     # false only for plain http on this machine

[broker]
url = "mqtts://mqtt.fleet.example.net:8883"   # or a list: the nodes of one cluster
ca_file = "fleet-ca.pem"                  # optional: the system's trusted CAs otherwise
topic_prefix = "vk/v1"
share_group = "consoles"                  # optional: several consoles split the events
client_id = "vending-fleet-a"             # optional; distinct per console of a share group
keepalive_s = 30

[alerts]
offline_after_min = 15                    # at least 10: machines say they are there every 5
no_sales_after_h = 6
low_stock = 2
vend_failures = 3
vend_failure_window_min = 60
claims_open_after_h = 24
evaluate_every_s = 30
webhook = "https://hooks.example.net/vending"   # optional
```

SQLite URLs follow ``vending_fleet.store.open_store``: ``sqlite:////abs/path.db`` (four
slashes: absolute), ``sqlite:///name.db`` or a plain path (relative: here, to this file's
directory).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kiosk.config.files import load_toml
from kiosk.config.fleet import DEFAULT_PREFIX, Broker, read_brokers
from kiosk.config.gateway import loopback
from kiosk.config.reader import Ctx, Reader, Schema
from kiosk.config.secrets import load_secrets, secret
from kiosk.errors import ConfigError, ConfigIssue

DEFAULT_DATABASE = "sqlite:////var/lib/vending-fleet/console.db"
DEFAULT_LISTEN = "127.0.0.1:8080"
SECRETS_NAME = "console-secrets.toml"
_PREFIX = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_GROUP = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")

SCHEMA = Schema(
    secret_keys={"broker": ("username", "password")},
    names=frozenset({
        "console", "listen", "database", "signing_key", "secure_cookies",
        "broker", "url", "insecure", "ca_file", "topic_prefix", "share_group", "client_id",
        "keepalive_s", "username", "password",
        "alerts", "offline_after_min", "no_sales_after_h", "low_stock", "vend_failures",
        "vend_failure_window_min", "claims_open_after_h", "evaluate_every_s", "webhook",
    }))


@dataclass(frozen=True)
class BrokerSettings:
    brokers: tuple[Broker, ...]
    insecure: bool = False
    ca_file: Path | None = None
    topic_prefix: str = DEFAULT_PREFIX
    share_group: str = ""
    client_id: str = ""
    keepalive_s: int = 30
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class AlertSettings:
    offline_after: timedelta = timedelta(minutes=15)
    no_sales_after: timedelta = timedelta(hours=6)
    low_stock: int = 2
    vend_failures: int = 3
    vend_failure_window: timedelta = timedelta(hours=1)
    claims_open_after: timedelta = timedelta(hours=24)
    evaluate_every_s: float = 30.0
    webhook: str = ""


@dataclass(frozen=True)
class ConsoleConfig:
    path: Path
    host: str
    port: int
    database: str
    signing_key: Path
    secure_cookies: bool
    broker: BrokerSettings
    alerts: AlertSettings
    warnings: tuple[ConfigIssue, ...] = ()


def load_console_config(path: Path | str, secrets_path: Path | str | None = None
                        ) -> ConsoleConfig:
    """``path`` (and ``console-secrets.toml`` beside it, if there): a ``ConsoleConfig``, or
    ``ConfigError`` listing every issue."""
    config_path = Path(path)
    file = str(config_path)
    issues: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    doc = load_toml(file, issues, redact=False)
    if secrets_path is None:
        beside = config_path.parent / SECRETS_NAME
        secrets_path = beside if beside.is_file() else None
    if secrets_path is None:
        from kiosk.config.reader import Secrets

        secrets = Secrets(str(config_path.parent / SECRETS_NAME))
    else:
        secrets = load_secrets(config_path, secrets_path, SCHEMA, issues, warnings)
    if doc is None:
        raise ConfigError(issues)
    ctx = Ctx(file, issues, secrets, SCHEMA, warnings=warnings)
    top = Reader(ctx, doc, "", True)
    base = config_path.resolve().parent
    console = top.sub("console")
    host, port = _listen(console)
    database = _database(console, base)
    signing_key = Path(base, Path(console.line("signing_key", "fleet-key.pem",
                                               shape="a file path", required=True))
                       .expanduser())
    secure_cookies = console.bool_("secure_cookies", True)
    console.finish()
    broker = _broker_settings(top.sub("broker"), base)
    alerts = _alerts(top.sub("alerts"))
    top.finish()
    if not secure_cookies and not _loopback_host(host):
        ctx.warn("console", "secure_cookies", "false while the dashboard listens beyond this "
                                              "machine: session cookies travel without TLS")
    if issues:
        raise ConfigError(issues)
    return ConsoleConfig(config_path, host, port, database, signing_key, secure_cookies,
                         broker, alerts, tuple(warnings))


def _listen(r: Reader) -> tuple[str, int]:
    text = r.str_("listen", DEFAULT_LISTEN, pattern=_LISTEN,
                  shape='host:port like "127.0.0.1:8080" (an IPv6 host in brackets)')
    match = _LISTEN.fullmatch(text) or _LISTEN.fullmatch(DEFAULT_LISTEN)
    assert match is not None
    port = int(match.group(2))
    if not 0 <= port <= 65535:
        r.error("listen", f'"{text}": the port must be between 1 and 65535 (0: any free one)')
    return match.group(1).strip("[]"), port


def _database(r: Reader, base: Path) -> str:
    text = r.line("database", DEFAULT_DATABASE, shape="a database URL", required=True)
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return text
    if "://" in text and not text.startswith("sqlite://"):
        r.wrong("database", 'a database URL: "sqlite:////path/console.db" or '
                            '"postgresql://user@host/db"', without_password(text))
        return DEFAULT_DATABASE
    path = text.removeprefix("sqlite://")
    if path != text:
        path = path.removeprefix("/")
    if path == ":memory:":
        return "sqlite:///:memory:"
    if not path.strip():
        r.error("database", f'"{text}" names no database file')
        return DEFAULT_DATABASE
    return "sqlite:///" + str(Path(base, Path(path).expanduser()))


def without_password(url: str) -> str:
    """``url`` to show in a message: a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _broker_settings(r: Reader, base: Path) -> BrokerSettings:
    insecure = r.bool_("insecure", False)
    brokers = read_brokers(r, "url", insecure, needed_by="the console")
    ca_text = r.line("ca_file", "", shape="a file path")
    ca_file = Path(base, Path(ca_text).expanduser()) if ca_text else None
    if ca_file is not None and not ca_file.is_file():
        r.error("ca_file", f'"{ca_file}" is not a file: the CA certificate (PEM) the broker\'s '
                           "certificate is checked against")
    settings = BrokerSettings(
        brokers=brokers,
        insecure=insecure,
        ca_file=ca_file,
        topic_prefix=r.str_("topic_prefix", DEFAULT_PREFIX, pattern=_PREFIX,
                            shape='topic levels of letters, digits, ".", "_" or "-" joined by '
                                  '"/", like "vk/v1" (no "+", "#" or leading "/")'),
        share_group=r.str_("share_group", "", pattern=_GROUP,
                           shape='a group name of 1 to 64 letters, digits, ".", "_" or "-"'),
        client_id=r.str_("client_id", "", pattern=_CLIENT_ID,
                         shape='1 to 100 letters, digits, ".", "_" or "-"'),
        keepalive_s=r.int_("keepalive_s", 30, lo=5, hi=300),
        username=secret(r, "username"),
        password=secret(r, "password"),
    )
    if settings.password and not settings.username:
        r.require("username", settings.username, "a broker password needs its user name")
    r.finish()
    if not settings.client_id:
        # A fixed id and a kept session: events sent while the console restarts wait for it
        # at the broker. Consoles sharing a group need one each: the host name tells them apart.
        suffix = f"-{socket.gethostname()}" if settings.share_group else ""
        cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", f"vending-fleet{suffix}")[:100]
        settings = BrokerSettings(**{**settings.__dict__, "client_id": cleaned})
    return settings


def _alerts(r: Reader) -> AlertSettings:
    webhook = r.line("webhook", "", shape="an https:// URL")
    if webhook:
        from vending_fleet.webhook import check_url

        try:
            check_url(webhook)
        except ValueError as exc:
            r.error("webhook", str(exc))
            webhook = ""
    settings = AlertSettings(
        offline_after=timedelta(minutes=r.int_("offline_after_min", 15, lo=10, hi=10_080)),
        no_sales_after=timedelta(hours=r.int_("no_sales_after_h", 6, lo=1, hi=720)),
        low_stock=r.int_("low_stock", 2, lo=0, hi=10_000),
        vend_failures=r.int_("vend_failures", 3, lo=1, hi=100),
        vend_failure_window=timedelta(minutes=r.int_("vend_failure_window_min", 60, lo=1,
                                                     hi=10_080)),
        claims_open_after=timedelta(hours=r.int_("claims_open_after_h", 24, lo=1, hi=720)),
        evaluate_every_s=r.number("evaluate_every_s", 30.0, lo=1, hi=3600),
        webhook=webhook,
    )
    r.finish()
    return settings


def _loopback_host(host: str) -> bool:
    return loopback(f"http://{'[' + host + ']' if ':' in host else host}/")


def write_config(path: Path, *, broker_url: str, database: str, signing_key: Path,
                 listen: str = DEFAULT_LISTEN, secure_cookies: bool = True,
                 client_id: str = "") -> Path:
    """A console config file (for ``demo``, the tests and the bench)."""
    lines = ["[console]", f'listen = "{listen}"', f'database = "{database}"',
             f'signing_key = "{signing_key}"',
             f"secure_cookies = {'true' if secure_cookies else 'false'}", "",
             "[broker]", f'url = "{broker_url}"']
    if client_id:
        lines.append(f'client_id = "{client_id}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
