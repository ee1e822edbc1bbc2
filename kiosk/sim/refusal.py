"""What a simulated payer's page refuses, shared by the MixPay checkout and the WCT Pay wallet."""

from __future__ import annotations


class PayRefused(Exception):
    """The payer's page refuses a payment or cancel (unknown payment, expired, already paid...)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status, self.message = http_status, message
