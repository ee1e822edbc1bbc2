"""The pygame adapter: SDL events -> domain events, kiosk state -> pixels. No business logic."""

import os

# pygame prints a banner on import; stdout belongs to the sale log (one JSON line a customer).
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
