"""vending-kiosk: crypto-payment firmware for an unattended vending machine."""

__version__ = "0.1.0"
