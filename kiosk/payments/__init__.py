"""Payment gateways behind one interface (``kiosk.payments.base.Gateway``)."""
