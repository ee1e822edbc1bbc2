"""The browsing screens: attract, the item grid, the coin (the item's confirm step), and a
pick on the machine's own keypad (MDB) that starts a sale."""

from __future__ import annotations

from dataclasses import replace

from kiosk.flow.effects import Effect, LoadAssets, ReleaseSelection, Transition
from kiosk.flow.events import (
    AssetsFailed,
    AssetsLoaded,
    CancelPressed,
    CoinChosen,
    Event,
    ItemChosen,
    KeypadSelected,
    StartTapped,
)
from kiosk.flow.state import KioskState, Product, Sale, Screen
from kiosk.flow.steps import FlowSteps, go
from kiosk.money import to_minor


class BrowsingScreens(FlowSteps):
    """Until the customer confirms a coin nothing is asked for; Back and idling go home."""

    def _attract(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, StartTapped):
            return go(state, Screen.CHOOSE_ITEM, now)
        return Transition(state)

    def _choose_item(self, state: KioskState, event: Event, now: float) -> Transition:
        if isinstance(event, ItemChosen) and state.available(event.slot_id):
            product = state.product(event.slot_id)
            assert product is not None
            # The coin screen is also the item's detail and confirm step: nothing is asked
            # for until the customer confirms there (with a coin, or "pay" when the wallet
            # picks the coin), and Back returns to the grid.
            if self.settings.choose_asset:
                sale = Sale(slot_id=product.slot_id, price=product.price)
                return go(state, Screen.CHOOSE_COIN, now, sale,
                          LoadAssets(product.slot_id, product.price, self.settings.currency))
            return go(state, Screen.CHOOSE_COIN, now,
                      Sale(slot_id=product.slot_id, price=product.price, assets=()))
        if isinstance(event, CancelPressed):
            return self._to_attract(state, now)
        return self._idle_check(state, event, now)

    def _choose_coin(self, state: KioskState, event: Event, now: float) -> Transition:
        sale = state.sale
        assert sale is not None
        if isinstance(event, AssetsLoaded) and event.slot_id == sale.slot_id:
            return Transition(replace(state, sale=replace(sale, assets=event.assets)))
        if isinstance(event, AssetsFailed) and event.slot_id == sale.slot_id:
            # The wallet can still choose the coin: offer only that.
            return Transition(replace(state, sale=replace(sale, assets=(),
                                                          message=event.reason)))
        if isinstance(event, CoinChosen) and sale.assets is not None:
            if event.asset is None or event.asset in sale.assets:
                return self._start_payment(state, sale, event.asset, now)
        if isinstance(event, CancelPressed):
            release: tuple[Effect, ...] = (ReleaseSelection(),) if sale.keypad else ()
            return go(state, Screen.CHOOSE_ITEM, now, None, *release)
        return self._idle_check(state, event, now)

    def _keypad_selected(self, state: KioskState, event: KeypadSelected,
                         now: float) -> Transition:
        """A pick on the machine starts the sale for that slot, if the kiosk is free for it."""
        product = self._product_for_selection(state, event)
        if state.screen not in (Screen.ATTRACT, Screen.CHOOSE_ITEM) or product is None \
                or not state.available(product.slot_id):
            return Transition(state, (ReleaseSelection(),))
        state = replace(state, last_input=now)
        sale = Sale(slot_id=product.slot_id, price=product.price, keypad=True)
        if self.settings.choose_asset:
            return go(state, Screen.CHOOSE_COIN, now, sale,
                      LoadAssets(product.slot_id, product.price, self.settings.currency))
        return self._start_payment(state, sale, None, now)

    def _product_for_selection(self, state: KioskState, event: KeypadSelected) -> Product | None:
        by_item = [p for p in state.products if p.mdb_item == event.item]
        if by_item:
            return by_item[0]
        # An item the config does not map: the machine's price picks the slot, if unambiguous.
        by_price = [p for p in state.products if p.mdb_item is None
                    and to_minor(p.price, self.settings.currency) == event.price_minor]
        return by_price[0] if len(by_price) == 1 else None
