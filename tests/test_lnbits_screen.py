"""The LNbits payment screen: the QR a phone reads is the upper-case ``LIGHTNING:`` invoice, and
the words say the sats, the fiat price and the rate they were converted at."""

from __future__ import annotations

from decimal import Decimal

import pytest
import zxingcpp

from kiosk.flow import AssetsLoaded, CoinChosen, PaymentCreated, Screen
from kiosk.payments.base import PaymentRequest
from kiosk.payments.lnbits_replies import link_for
from kiosk.sim.lnbits_state import new_invoice
from kiosk.ui.samples import TO_QR, play
from test_ui_screens import (  # noqa: F401  (sdl: the SDL fixture)
    LANGUAGES,
    LAYOUTS,
    check_layout,
    draw,
    layout_id,
    sdl,
)

BOLT11 = new_invoice("wallet", 2500, "Sparkling water", {}, 0.0, 120).bolt11
REQUEST = PaymentRequest("ab" * 32, link_for(BOLT11), 1120, crypto_amount=Decimal(2500),
                         crypto_symbol="sats", rate=Decimal(1000))
STEPS = (*TO_QR[:2], AssetsLoaded("A1", ()), CoinChosen(None), PaymentCreated("tx-1", REQUEST))


@pytest.mark.parametrize("layout", LAYOUTS[:4], ids=layout_id)
def test_the_qr_is_the_upper_case_lightning_invoice_and_the_words_the_rate(
        layout: tuple[tuple[int, int], int]) -> None:
    state = play(*STEPS)
    assert state.screen is Screen.AWAITING_PAYMENT
    frame = draw(state, *layout)
    [code] = zxingcpp.read_barcodes(frame.native_image())
    assert code.text == "LIGHTNING:" + BOLT11.upper() and len(BOLT11) > 280
    assert frame.drawn("2.50 USD")
    assert frame.drawn("Pay 2500 sats at 1000 sats per USD")


@pytest.mark.parametrize("layout", LAYOUTS, ids=layout_id)
def test_the_lightning_screen_fits_every_panel_and_language(
        layout: tuple[tuple[int, int], int]) -> None:
    state = play(*STEPS)
    for language in LANGUAGES:
        check_layout(draw(state, *layout, language))
