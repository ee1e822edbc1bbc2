"""The money truth: every payment a gateway received ends vended, refunded or claimable.

Held against the journal's transactions (the ``Journal.transactions()`` / ``kiosk journal
--json`` shape) and the payments the gateway reports as *received*: any money that arrived,
paid in full, part paid, overpaid, paid after the sale ended, or under a success reply that did
not match the order. The rules:

- every received payment's sale ended ``vended``, ``refunded`` or with an open claim that
  ``kiosk journal --claims`` lists (``OPEN_CLAIM_STATUSES``);
- no sale was vended twice (``vend_started`` at most once);
- no vend without ``paid_verified`` before it, and none the gateway got no money for.

Ordering matters. A payment still being watched, or a refund still queued, is not settled yet:
the caller first lets the kiosk settle (``Runtime.settle(..., watches=True)``) and stop. Then
``audit`` reads the journal and only *then* the gateway, so money that arrived meanwhile is
still checked (and reported unsettled) instead of missed, and every vend in the journal meets a
list of payments at least as new as itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from kiosk.errors import JournalError
from kiosk.journal import FILE_NAME, OPEN_CLAIM_STATUSES, Journal

# The ends a sale with money in it may have: the item, the money back, an open claim, or a
# claim the operator settled by hand.
SETTLED_STATUSES: frozenset[str] = frozenset({"vended", "refunded", "settled"}) \
    | OPEN_CLAIM_STATUSES

Transaction = Mapping[str, Any]


class Received(Protocol):
    """A payment the gateway got money for (``kiosk.sim.ReceivedPayment``)."""

    @property
    def tx_id(self) -> str: ...

    @property
    def amount(self) -> Decimal: ...

    @property
    def asset(self) -> str: ...


@dataclass(frozen=True)
class Verdict:
    """What the check found: how many payments it held the journal to, and what is wrong."""

    received: int
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """One line: the count and whether all is well (the violations are listed apart)."""
        if self.ok:
            return f"{self.received} payments received, all vended, refunded or claimed"
        return f"{len(self.violations)} problem(s) with the {self.received} payments received"


def check_money(transactions: Sequence[Transaction], received: Iterable[Received]) -> list[str]:
    """Every way the journal and the gateway's received payments disagree; empty when none."""
    by_id = {tx["id"]: tx for tx in transactions}
    paid_ids: set[str] = set()
    violations: list[str] = []
    for payment in received:
        paid_ids.add(payment.tx_id)
        violations.extend(_unsettled(payment, by_id.get(payment.tx_id)))
    for tx in transactions:
        violations.extend(_vend_problems(tx, tx["id"] in paid_ids))
    return violations


def _unsettled(payment: Received, tx: Transaction | None) -> list[str]:
    money = f"{payment.amount:f} {payment.asset}".rstrip()
    if tx is None:
        return [f"{money} received for {payment.tx_id}, a sale the journal does not know"]
    if tx["status"] not in SETTLED_STATUSES:
        return [(f"{money} received for {payment.tx_id} (slot {tx['slot']}), but the sale is "
                 f"{tx['status']}: not vended, refunded or an open claim")]
    return []


def _vend_problems(tx: Transaction, paid: bool) -> list[str]:
    kinds = [event["kind"] for event in tx["events"]]
    starts = kinds.count("vend_started")
    if not starts:
        return []
    problems = []
    if starts > 1:
        problems.append(f"{tx['id']} was vended {starts} times")
    if "paid_verified" not in kinds[:kinds.index("vend_started")]:
        problems.append(f"{tx['id']} was vended without paid_verified before it")
    if not paid:
        problems.append(f"{tx['id']} was vended, but the gateway received no money for it")
    return problems


def journal_transactions(source: Journal | Path) -> list[dict[str, Any]]:
    """The transactions of an open journal, or of a data directory or ``journal.db`` file."""
    if isinstance(source, Journal):
        return source.transactions()
    path = Path(source)
    data_dir = path.parent if path.name == FILE_NAME else path
    if not (data_dir / FILE_NAME).is_file():  # opening would create an empty one
        raise JournalError(f"no journal in {data_dir}")
    with Journal.open_in(data_dir) as journal:
        return journal.transactions()


def audit(source: Journal | Path, read_received: Callable[[], Sequence[Received]]) -> Verdict:
    """Read the journal, then the gateway (in that order: see the module docstring), and
    check one against the other. Call it once the kiosk has settled and stopped."""
    transactions = journal_transactions(source)
    received = read_received()
    return Verdict(len(received), tuple(check_money(transactions, received)))
