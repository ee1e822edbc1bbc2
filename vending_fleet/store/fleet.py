"""The machines' side of the store: status, state, events and replies as they arrive, and the
views the pages read (machines, slots, sales, totals, claims)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from kiosk.claims import claim_code as derived_claim_code
from kiosk.claims import normalize_claim_code
from vending_fleet.model import Claim, Machine, Sale, Slot, Total, TotalsBy
from vending_fleet.store import payloads as p
from vending_fleet.store.database import Database, Row, Tx
from vending_fleet.store.dialect import amount_out, time_out

_OPEN = "(" + ", ".join(f"'{status}'" for status in p.OPEN_CLAIM) + ")"

# A newer status of a sale replaces the stored one only if it is later in the machine's journal
# (its seq): a step that arrives late after a reconnect leaves the newer status standing. While
# the sale stays an open claim, it keeps the time the claim opened.
_UPSERT_TX = f"""
INSERT INTO txs (machine, tx, seq, status, reason, amount, currency, status_at, claim_code,
                 claim_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (machine, tx) DO UPDATE SET
    seq = excluded.seq, status = excluded.status, reason = excluded.reason,
    amount = excluded.amount, currency = excluded.currency,
    status_at = CASE WHEN txs.status IN {_OPEN} AND excluded.status IN {_OPEN}
                     THEN txs.status_at ELSE excluded.status_at END
WHERE excluded.seq > txs.seq
"""

# A retained state can come again after a newer one (a console reconnecting): keep the newest
# of a journal by seq; a new journal (seq from 1 again) wins by time.
_UPSERT_STATE = """
INSERT INTO machine_state (machine, journal, seq, at, payload) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (machine) DO UPDATE SET
    journal = excluded.journal, seq = excluded.seq, at = excluded.at, payload = excluded.payload
WHERE (excluded.journal = machine_state.journal AND excluded.seq > machine_state.seq)
   OR (excluded.journal <> machine_state.journal AND excluded.at >= machine_state.at)
"""

_SEEN = """
INSERT INTO machine_seen (machine, at) VALUES (?, ?)
ON CONFLICT (machine) DO UPDATE SET
    at = CASE WHEN excluded.at > machine_seen.at THEN excluded.at ELSE machine_seen.at END
"""

_MACHINES = """
SELECT seen.machine, seen.at, st.online, st.in_service, st.reason, st.version, ms.payload
FROM machine_seen seen
LEFT JOIN machine_status st ON st.machine = seen.machine
LEFT JOIN machine_state ms ON ms.machine = seen.machine
"""

_SALE_COLUMNS = "event_id, machine, tx, at, slot, item, amount, currency, gateway, asset"
_CLAIM_COLUMNS = "machine, tx, claim_code, status, reason, amount, currency, status_at"


class FleetQueries:
    _db: Database

    # -- ingest

    def record_status(self, machine: str, status: Mapping[str, Any], at: datetime) -> None:
        # No id: the broker keeps one retained status per machine, the latest.
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO machine_status (machine, online, in_service, reason, version, at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (machine) DO UPDATE SET"
                " online = excluded.online, in_service = excluded.in_service,"
                " reason = excluded.reason, version = excluded.version, at = excluded.at",
                (machine, int(status.get("online") is True),
                 int(status.get("in_service") is True), p.text(status, "reason"),
                 p.text(status, "version"), tx.dialect.time_in(at)))
            _seen(tx, machine, at)

    def record_state(self, machine: str, state: Mapping[str, Any], at: datetime) -> None:
        journal, seq = p.order(p.text(state, "id"))
        with self._db.transaction() as tx:
            tx.execute(_UPSERT_STATE, (machine, journal, seq,
                                       tx.dialect.time_in(p.event_time(state, at)),
                                       p.dumps(state)))
            _seen(tx, machine, at)

    def record_event(self, machine: str, event: Mapping[str, Any], at: datetime,
                     text: str | None = None) -> bool:
        event_id = p.text(event, "id")
        if not event_id:
            raise ValueError("an event without an id")
        journal, seq = p.order(event_id)
        happened = p.event_time(event, at)
        group, kind = p.text(event, "group"), p.text(event, "kind")
        sale_tx, status = p.text(event, "tx"), p.text(event, "status")
        sale = group == "sale" and bool(sale_tx) and bool(status)
        price = p.sale_amount(event.get("amount")) if sale else Decimal(0)
        with self._db.transaction() as tx:
            # Each time converted once: thousands of events a second make it count.
            happened_in, at_in = tx.dialect.time_in(happened), tx.dialect.time_in(at)
            added = tx.execute(
                "INSERT INTO events (id, machine, journal, seq, grp, kind, at, received_at, tx,"
                " status, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (event_id, machine, journal, seq, group, kind, happened_in, at_in,
                 sale_tx or None, status or None, p.dumps(event) if text is None else text))
            if not added:
                return False    # seen before (a resend, or another console stored it)
            tx.execute(_SEEN, (machine, at_in))
            if sale:
                _record_sale_step(tx, machine, event, seq, happened_in, price)
            return True

    # -- views

    def machines(self) -> list[Machine]:
        with self._db.transaction(write=False) as tx:
            return [_machine(row) for row in tx.rows(_MACHINES + " ORDER BY seen.machine")]

    def machine(self, machine_id: str) -> Machine | None:
        with self._db.transaction(write=False) as tx:
            row = tx.one(_MACHINES + " WHERE seen.machine = ?", (machine_id,))
        return None if row is None else _machine(row)

    def slots(self, machine_id: str | None = None) -> list[Slot]:
        query = "SELECT machine, payload FROM machine_state"
        params: tuple[str, ...] = ()
        if machine_id is not None:
            query, params = query + " WHERE machine = ?", (machine_id,)
        with self._db.transaction(write=False) as tx:
            rows = tx.rows(query + " ORDER BY machine", params)
        return [slot for machine, payload in rows for slot in _slots(str(machine), payload)]

    def sales(self, start: datetime, end: datetime, machine: str | None = None,
              limit: int | None = None) -> list[Sale]:
        with self._db.transaction(write=False) as tx:
            query = f"SELECT {_SALE_COLUMNS} FROM sales WHERE at >= ? AND at < ?"
            params: list[object] = [tx.dialect.time_in(start), tx.dialect.time_in(end)]
            if machine is not None:
                query += " AND machine = ?"
                params.append(machine)
            query += " ORDER BY at DESC, event_id DESC"
            if limit is not None:
                query += " LIMIT ?"
                params.append(limit)
            return [_sale(row) for row in tx.rows(query, params)]

    def totals(self, by: TotalsBy, start: datetime, end: datetime) -> list[Total]:
        # Summed here, in Decimal, so both databases give the same exact figures.
        sums: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for sale in self.sales(start, end):
            key = (_total_key(sale, by), sale.currency)
            count, total = sums.get(key, (0, Decimal(0)))
            sums[key] = (count + 1, total + sale.amount)
        return [Total(key, currency, count, total)
                for (key, currency), (count, total) in sorted(sums.items())]

    def open_claims(self) -> list[Claim]:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows(f"SELECT {_CLAIM_COLUMNS} FROM txs WHERE status IN {_OPEN}"
                           " ORDER BY status_at, machine, tx")
        return [_claim(row) for row in rows]

    def find_claim(self, code: str) -> Claim | None:
        """The sale with claim code ``code`` (typed any way the kiosk forgives): an open claim
        first, else the latest settled one (its status then says how it ended)."""
        key = normalize_claim_code(code)
        if not key:
            return None
        with self._db.transaction(write=False) as tx:
            row = tx.one(f"SELECT {_CLAIM_COLUMNS} FROM txs WHERE claim_key = ? ORDER BY"
                         f" CASE WHEN status IN {_OPEN} THEN 0 ELSE 1 END, status_at DESC"
                         " LIMIT 1", (key,))
        return None if row is None else _claim(row)

    def events_of(self, machine: str, since: datetime) -> Sequence[Mapping[str, Any]]:
        with self._db.transaction(write=False) as tx:
            rows = tx.rows("SELECT journal, seq, at, payload FROM events"
                           " WHERE machine = ? AND at >= ?",
                           (machine, tx.dialect.time_in(since)))
        # Journal order: by seq within a journal; journals (a replaced one starts at seq 1
        # again) by their first event's time.
        first: dict[str, datetime] = {}
        for journal, _, at, _ in rows:
            when = time_out(at)
            first[journal] = min(first.get(journal, when), when)
        rows.sort(key=lambda row: (first[row[0]], row[0], int(row[1])))
        return [p.loads(row[3]) for row in rows]


def _seen(tx: Tx, machine: str, at: datetime) -> None:
    tx.execute(_SEEN, (machine, tx.dialect.time_in(at)))


def _record_sale_step(tx: Tx, machine: str, event: Mapping[str, Any], seq: int,
                      happened_in: object, price: Decimal) -> None:
    sale_tx, status = p.text(event, "tx"), p.text(event, "status")
    currency = p.text(event, "currency")
    # The code is derived from the tx id (kiosk.claims), so even a sale whose steps never
    # named it (vend_unknown) can be found by the code on the customer's screen.
    code = p.claim_code(event) or derived_claim_code(sale_tx)
    tx.execute(_UPSERT_TX, (machine, sale_tx, seq, status, p.reason(event),
                            tx.dialect.amount_in(price), currency, happened_in,
                            code, normalize_claim_code(code)))
    if p.claim_code(event):
        tx.execute("UPDATE txs SET claim_code = ?, claim_key = ? WHERE machine = ? AND tx = ?",
                   (code, normalize_claim_code(code), machine, sale_tx))
    if status == "vended" and p.text(event, "kind") in p.SALE_KINDS:
        tx.execute(
            f"INSERT INTO sales ({_SALE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (p.text(event, "id"), machine, sale_tx, happened_in,
             p.text(event, "slot"), p.text(event, "item"), tx.dialect.amount_in(price),
             currency, p.text(event, "gateway"), p.text(event, "asset")))


def _machine(row: Row) -> Machine:
    machine, seen, online, in_service, reason, version, payload = row
    state = p.loads(payload) if payload is not None else {}
    today = state.get("sales_today")
    sold = today.get("count") if isinstance(today, Mapping) else 0
    claims = state.get("open_claims")
    return Machine(
        id=str(machine), online=bool(online), in_service=bool(in_service),
        reason=str(reason or ""), version=str(version or ""), last_seen=time_out(seen),
        open_claims=claims if isinstance(claims, int) else 0,
        currency=p.text(state, "currency"), sales_today=sold if isinstance(sold, int) else 0,
        config_version=p.text(state, "config_version"))


def _slots(machine: str, payload: object) -> list[Slot]:
    state = p.loads(payload)
    currency = p.text(state, "currency")
    found = state.get("slots")
    slots = []
    for slot in found if isinstance(found, list) else []:
        if not isinstance(slot, Mapping):
            continue
        try:
            price = p.amount(slot.get("price"))
        except ValueError:
            continue     # a slot we cannot price is not shown rather than shown wrong
        stock = slot.get("stock")
        slots.append(Slot(machine=machine, slot=p.text(slot, "slot"), name=p.text(slot, "name"),
                          price=price, currency=currency,
                          stock=stock if isinstance(stock, int) else 0,
                          enabled=slot.get("enabled") is True,
                          disabled_reason=p.text(slot, "disabled_reason")))
    return slots


def _sale(row: Row) -> Sale:
    event_id, machine, sale_tx, at, slot, item, price, currency, gateway, asset = row
    return Sale(event_id=str(event_id), machine=str(machine), tx=str(sale_tx), at=time_out(at),
                slot=str(slot), item=str(item), amount=amount_out(price),
                currency=str(currency), gateway=str(gateway), asset=str(asset))


def _claim(row: Row) -> Claim:
    machine, sale_tx, code, status, reason, price, currency, at = row
    return Claim(machine=str(machine), tx=str(sale_tx), code=str(code), status=str(status),
                 reason=str(reason), amount=amount_out(price), currency=str(currency),
                 opened_at=time_out(at))


def _total_key(sale: Sale, by: TotalsBy) -> str:
    if by is TotalsBy.DAY:
        return sale.at.date().isoformat()      # the UTC day
    return {TotalsBy.MACHINE: sale.machine, TotalsBy.ITEM: sale.item,
            TotalsBy.ASSET: sale.asset, TotalsBy.GATEWAY: sale.gateway}[by]
