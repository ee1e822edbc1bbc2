"""What the console knows, as its pages and API read it, and ``Store``: the one storage
interface (SQLite or PostgreSQL, ``vending_fleet.store``) the ingester, the commands, the alerts
and the web app work through.

Money is ``Decimal`` (stored as exact decimal text or NUMERIC), never a float. Times are
timezone-aware UTC ``datetime``s. Every write is one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


class Role(StrEnum):
    VIEWER = "viewer"          # sees everything, changes nothing
    OPERATOR = "operator"      # also sends commands and settles claims
    ADMIN = "admin"            # also manages accounts


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    password_hash: str = field(repr=False)     # vending_fleet.web.passwords


@dataclass(frozen=True)
class Session:
    id: str                    # the cookie's random value
    user: User
    csrf: str                  # the token every form of this session must carry
    expires_at: datetime


@dataclass(frozen=True)
class Machine:
    """A machine as the console last heard of it (status, state and events)."""

    id: str
    online: bool
    in_service: bool
    reason: str                # why not in service (or why offline: the last will's)
    version: str
    last_seen: datetime | None # the last message of any kind from it
    open_claims: int
    currency: str
    sales_today: int
    config_version: str


@dataclass(frozen=True)
class Slot:
    machine: str
    slot: str
    name: str
    price: Decimal
    currency: str
    stock: int
    enabled: bool
    disabled_reason: str


@dataclass(frozen=True)
class Sale:
    """A vended sale (its ``vend_result`` event with ``status`` vended)."""

    event_id: str
    machine: str
    tx: str
    at: datetime
    slot: str
    item: str
    amount: Decimal
    currency: str
    gateway: str
    asset: str                 # the coin paid ("" if the gateway did not say)


@dataclass(frozen=True)
class Claim:
    """A sale the operator owes something: its latest status is an open claim status
    (refund_due, paid_late, vend_unknown) on its machine."""

    machine: str
    tx: str
    code: str                  # the claim code the customer brings ("" if none)
    status: str
    reason: str
    amount: Decimal
    currency: str
    opened_at: datetime


@dataclass(frozen=True)
class Total:
    key: str                   # the day (YYYY-MM-DD), machine, item, asset or gateway
    currency: str
    count: int
    amount: Decimal


class TotalsBy(StrEnum):
    DAY = "day"
    MACHINE = "machine"
    ITEM = "item"
    ASSET = "asset"
    GATEWAY = "gateway"


@dataclass(frozen=True)
class CommandRecord:
    """A command the console sent, and the machine's reply once it came."""

    id: str
    machine: str
    command: str
    args: Mapping[str, Any]
    sent_by: str               # the user's name
    sent_at: datetime
    status: str                # "sent", then the reply's: applied, rejected, replayed
    reply: Mapping[str, Any] | None


@dataclass(frozen=True)
class Alert:
    key: str                   # stable: "<rule>:<machine>[:<slot>]"
    machine: str
    rule: str
    message: str
    since: datetime
    cleared_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user: str
    action: str                # "command", "settle", "login", "user_added"...
    detail: Mapping[str, Any]


class Store(Protocol):
    """The console's storage. Implementations: ``vending_fleet.store.open_store(url)``."""

    # -- ingest (vending_fleet.ingest)
    def batch(self) -> AbstractContextManager[None]:
        """The record_* calls this thread makes inside are one commit; if one raises, none of
        them is stored."""
    def record_status(self, machine: str, status: Mapping[str, Any], at: datetime) -> None: ...
    def record_state(self, machine: str, state: Mapping[str, Any], at: datetime) -> None: ...
    def record_event(self, machine: str, event: Mapping[str, Any], at: datetime,
                     text: str | None = None) -> bool:
        """Store one event by its ``id`` (a duplicate changes nothing: False); ``text``: the
        event as it arrived (JSON), kept as is instead of written again from ``event``."""
    def record_reply(self, machine: str, reply: Mapping[str, Any], at: datetime) -> bool: ...

    # -- reads for the pages and the API
    def machines(self) -> list[Machine]: ...
    def machine(self, machine_id: str) -> Machine | None: ...
    def slots(self, machine_id: str | None = None) -> list[Slot]: ...
    def sales(self, start: datetime, end: datetime, machine: str | None = None,
              limit: int | None = None) -> list[Sale]:
        """Vended sales in [start, end), newest first."""
    def totals(self, by: TotalsBy, start: datetime, end: datetime) -> list[Total]: ...
    def open_claims(self) -> list[Claim]:
        """Oldest first."""
    def find_claim(self, code: str) -> Claim | None: ...
    def events_of(self, machine: str, since: datetime) -> Sequence[Mapping[str, Any]]:
        """A machine's events (payloads) since ``since``, in its journal order."""

    # -- commands
    def command_sent(self, record: CommandRecord) -> None: ...
    def commands(self, machine: str | None = None, limit: int = 100) -> list[CommandRecord]: ...

    # -- alerts
    def alerts(self, active_only: bool = True) -> list[Alert]: ...
    def raise_alert(self, alert: Alert) -> bool:
        """Open ``alert`` unless one with its key is open already (True if newly raised)."""
    def clear_alert(self, key: str, at: datetime) -> bool: ...

    # -- people
    def add_user(self, name: str, role: Role, password_hash: str) -> User: ...
    def user(self, name: str) -> User | None: ...
    def users(self) -> list[User]: ...
    def start_session(self, user: User, session_id: str, csrf: str, expires_at: datetime,
                      now: datetime) -> Session:
        """A new session; those expired by ``now`` (the console's clock) go."""
    def session(self, session_id: str, now: datetime) -> Session | None: ...
    def end_session(self, session_id: str) -> None: ...
    def audit(self, entry: AuditEntry) -> None: ...
    def audit_log(self, limit: int = 200) -> list[AuditEntry]: ...

    def close(self) -> None: ...
