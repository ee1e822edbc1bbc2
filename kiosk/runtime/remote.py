"""The fleet's commands, applied on the sale worker: in order with the sales, one at a time, each
in one journal commit with its record and its reply (``Journal.fleet_command``).

A command that makes no sense on this machine (a slot it does not have, a negative stock, a
claim code nobody was given) is refused with the reason; nothing about it changes the price of
a sale already under way (``Sale.price``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from kiosk.config import Config
from kiosk.dex import RESET_KIND, audit_read
from kiosk.errors import CommandRefused
from kiosk.journal import OPEN_CLAIM_STATUSES, Settlement, SlotChange
from kiosk.journal.commands import SETTLED_BY
from kiosk.money import format_amount, parse_decimal, price_problem
from kiosk.runtime.health import SERVICE_OFF, SERVICE_ON, Health, out_of_service_reason
from kiosk.runtime.parts import Parts
from kiosk.selftest import report_json, running_selftest

if TYPE_CHECKING:
    from kiosk.fleet.commands import Command   # cryptography: only with a fleet

log = logging.getLogger(__name__)

STOCK_MAX = 10_000


class RemoteCommands:
    def __init__(self, parts: Parts, health: Health, config: Config) -> None:
        self._parts = parts
        self._health = health
        self._config = config

    def apply(self, command: Command) -> None:
        """Apply ``command``, or journal why not; either way the fleet gets a reply."""
        journal = self._parts.journal
        if journal.command_reply(command.id) is not None:   # applied or refused before
            journal.command_refused(command.id, "replayed", record=True)
            return
        try:
            getattr(self, f"_{command.name}")(command)
        except CommandRefused as exc:
            log.warning("fleet command %s (%s) refused: %s", command.id, command.name, exc)
            journal.command_refused(command.id, str(exc), record=True)

    def crashed(self, command: Command, exc: Exception) -> None:
        """A bug while applying: the fleet still hears that it was not applied."""
        self._parts.journal.command_refused(
            command.id, f"not applied: the kiosk failed ({type(exc).__name__})", record=True)

    # -- the commands

    def _set_price(self, command: Command) -> None:
        slot = self._slot(command)
        currency = self._parts.settings.currency
        text = command.args["price"]
        try:
            price = parse_decimal(text)
        except ValueError as exc:
            raise CommandRefused(f'set_price: "{text}" is not a price like "2.50"') from exc
        problem = price_problem(price, f'"{text}"', currency)
        if problem:
            raise CommandRefused(f"set_price: {problem}")
        config_price = self._parts.products[slot].price
        self._change("price_set", command, {"slot": slot, "price": price},
                     {"slot": slot, "price": format_amount(price, currency)},
                     SlotChange(slot, price=price, config_price=config_price))

    def _set_stock(self, command: Command) -> None:
        slot, stock = self._slot(command), command.args["stock"]
        if not 0 <= stock <= STOCK_MAX:
            raise CommandRefused(f"set_stock: stock must be between 0 and {STOCK_MAX}, "
                                 f"found {stock}")
        was = self._parts.journal.slot_states().get(slot)
        self._change("stock_set", command, {"slot": slot, "stock": stock,
                                            "was": was.stock if was else None},
                     {"slot": slot, "stock": stock}, SlotChange(slot, stock=stock))

    def _set_slot_enabled(self, command: Command) -> None:
        slot, enabled = self._slot(command), command.args["enabled"]
        self._change("slot_enabled" if enabled else "slot_disabled", command, {"slot": slot},
                     {"slot": slot, "enabled": enabled}, SlotChange(slot, enabled=enabled))

    def _set_service(self, command: Command) -> None:
        in_service = command.args["in_service"]
        reason = " ".join(str(command.args.get("reason", "")).split())[:80]
        reply = self._parts.journal.fleet_command(
            command.id, SERVICE_ON if in_service else SERVICE_OFF, {"reason": reason},
            {"in_service": in_service})
        if reply["status"] == "applied":      # a copy that lost the race changes nothing
            self._health.take_out_of_service("" if in_service else
                                             out_of_service_reason(reason))

    def _selftest(self, command: Command) -> None:
        parts = self._parts
        checks = running_selftest(self._config, parts.driver, parts.gateway)
        report = report_json(checks)
        parts.journal.record_selftest(report["passed"], report["checks"])
        self._parts.journal.fleet_command(command.id, "selftest_run",
                                          {"passed": report["passed"]}, report)

    def _send_audit(self, command: Command) -> None:
        reset = bool(command.args.get("reset", False))
        now = datetime.fromtimestamp(self._parts.wall_clock(), timezone.utc).astimezone()
        text, reset_detail = audit_read(self._parts.journal, self._config, reset=reset,
                                        now=now)
        # A reset is journalled in the same commit as the command: never twice, never lost.
        kind, detail = (RESET_KIND, reset_detail) if reset_detail else ("audit_sent", {})
        self._parts.journal.fleet_command(command.id, kind, detail,
                                          {"format": "EVA-DTS 6.1", "reset": reset,
                                           "file": text})

    def _settle_claim(self, command: Command) -> None:
        code, how = command.args["claim"], command.args["how"]
        if how not in SETTLED_BY:
            raise CommandRefused(f'settle_claim: "how" must be one of {", ".join(SETTLED_BY)}')
        journal = self._parts.journal
        tx = journal.find_by_claim_code(code)
        if tx is None:
            raise CommandRefused(f'settle_claim: no sale on this machine has claim code '
                                 f'"{code}"')
        if tx["status"] not in OPEN_CLAIM_STATUSES:
            raise CommandRefused(f"settle_claim: claim {tx['claim_code']} is not open (the "
                                 f"sale is {tx['status']})")
        reference = str(command.args.get("reference", ""))[:200]
        journal.fleet_command(command.id, "claim_settled",
                              {"tx": tx["id"], "claim": tx["claim_code"], "how": how},
                              {"tx": tx["id"], "claim": tx["claim_code"], "how": how},
                              settle=Settlement(tx["id"], how, reference))

    # -- shared

    def _slot(self, command: Command) -> str:
        slot = str(command.args["slot"])
        if slot not in self._parts.products:
            known = ", ".join(self._parts.products)
            raise CommandRefused(f'{command.name}: no slot "{slot}" on this machine (slots: '
                                 f"{known})")
        return slot

    def _change(self, kind: str, command: Command, detail: dict[str, Any],
                result: dict[str, Any], change: SlotChange) -> None:
        self._parts.journal.fleet_command(command.id, kind, detail, result, change=change)
        self._parts.post_stock()       # the screen shows the change (prices too)

