"""Which language the customer screens speak: the customer's pick, and back to
``machine.locale`` for the next customer. The screen's own business, not the sale's."""

from __future__ import annotations

from kiosk.flow import KioskState, Screen
from kiosk.i18n import Catalogue


class LanguageChoice:
    """The language on screen; each change is reported so the app can redraw."""

    def __init__(self, catalogue: Catalogue, locale: str) -> None:
        self._catalogue = catalogue
        self.default = catalogue.resolve(locale)
        self.current = self.default
        self._picked_at = 0.0                    # when the customer last changed the language
        self._seen_screen: Screen | None = None  # on the last frame, drawn or not

    def pick_next(self, now: float) -> bool:
        """The language button: the next language in the cycle; True if it changed."""
        self._picked_at = now
        return self._set(self._catalogue.with_language(self.current).next_language())

    def follow(self, state: KioskState, idle_s: float, now: float) -> bool:
        """Back to ``machine.locale`` for the next customer: when the kiosk returns to attract
        (after a sale, a cancel, inactivity, a fault), unless this customer just tapped Back on
        the item list; and when a language was picked on attract but nobody started within
        ``idle_s``. True if the language changed."""
        previous, self._seen_screen = self._seen_screen, state.screen
        if state.screen is not Screen.ATTRACT:
            return False
        changed = False
        if previous is not None and previous is not Screen.ATTRACT:
            backed_out = (previous is Screen.CHOOSE_ITEM
                          and state.last_input == state.screen_since)
            if not backed_out:
                changed = self._set(self.default)
        if now - max(self._picked_at, state.screen_since) >= idle_s:
            changed = self._set(self.default) or changed
        return changed

    def _set(self, language: str) -> bool:
        if language == self.current:
            return False
        self.current = language
        return True
