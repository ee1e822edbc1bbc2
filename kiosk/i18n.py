"""Customer-facing text in several languages, from ``assets/i18n/<language>.toml``.

Each file is flat: ``"screen.thing" = "text with {placeholders}"``. English (``en.toml``) is the
reference: a key missing in another language falls back to English (logged once), and the tests
check that every language has every English key with the same placeholders.

The catalogue is read once, at start-up, never on the render path. Which language is on screen is
UI state (the customer's language button), not the sale flow's business: ``Catalogue`` is
immutable and ``with_language`` hands out a view of the same tables in another language.
"""

from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from kiosk.resources import assets_dir

log = logging.getLogger(__name__)

REFERENCE = "en"
# The language button cycles in this order; any other catalogue found follows, alphabetically.
LANGUAGE_ORDER = ("en", "es", "de")

_Tables = Mapping[str, Mapping[str, str]]


class CatalogueError(ValueError):
    """A catalogue file that cannot be used (bad TOML, a value that is not text)."""


class Catalogue:
    def __init__(self, tables: _Tables, language: str = REFERENCE) -> None:
        self._tables = tables
        known = [code for code in LANGUAGE_ORDER if code in tables]
        self.languages: tuple[str, ...] = tuple(known + sorted(set(tables) - set(known)))
        self.language = self.resolve(language)
        # Shared by every language view of these tables: warn once, build each view once.
        self._warned: set[tuple[str, str]] = set()
        self._views: dict[str, Catalogue] = {self.language: self}

    @classmethod
    def load(cls, directory: Path | None = None, language: str = REFERENCE) -> Catalogue:
        """Every ``*.toml`` in ``directory`` (default: the shipped ``assets/i18n``).

        A language file that cannot be read is left out (logged), so the kiosk still runs in the
        others; only a missing or broken English file leaves keys to show as themselves.
        """
        directory = directory or assets_dir() / "i18n"
        tables: dict[str, Mapping[str, str]] = {}
        for path in sorted(directory.glob("*.toml")):
            try:
                tables[path.stem] = read_table(path)
            except (OSError, CatalogueError) as exc:
                log.error("language %s left out: %s", path.stem, exc)
        if REFERENCE not in tables:
            log.error("no usable %s.toml in %s: screens will show text keys", REFERENCE,
                      directory)
        return cls(MappingProxyType(tables), language)

    def with_language(self, language: str) -> Catalogue:
        """The same tables in ``language`` (resolved like a locale); cheap, shares everything."""
        code = self.resolve(language)
        view = self._views.get(code)
        if view is None:
            view = Catalogue(self._tables, code)
            view._warned, view._views = self._warned, self._views
            self._views[code] = view
        return view

    def resolve(self, locale: str) -> str:
        """The language to show for a locale (``language_for``), else English."""
        return language_for(locale, self._tables) or REFERENCE

    def next_language(self) -> str:
        """The language after this one in the language button's cycle."""
        if self.language not in self.languages:
            return self.languages[0] if self.languages else REFERENCE
        index = self.languages.index(self.language)
        return self.languages[(index + 1) % len(self.languages)]

    def text(self, key: str, **values: object) -> str:
        """``key`` in this language with ``{placeholders}`` filled; English if it is missing."""
        template = self._tables.get(self.language, {}).get(key)
        if template is None:
            template = self._tables.get(REFERENCE, {}).get(key)
            if (self.language, key) not in self._warned:
                self._warned.add((self.language, key))
                log.warning("text %r missing in language %s: %s", key, self.language,
                            "showing English" if template is not None else "showing the key")
            if template is None:
                return key
        return template.format_map(_Leave(values)) if values or "{" in template else template

    def keys(self, language: str) -> frozenset[str]:
        return frozenset(self._tables.get(language, {}))

    def template(self, language: str, key: str) -> str | None:
        return self._tables.get(language, {}).get(key)


def language_for(locale: str, languages: Collection[str]) -> str | None:
    """The language among ``languages`` that shows ``locale``: exact ("de"), else its language
    ("de-AT" -> "de", "pt-BR" -> "pt"); None when there is none."""
    if locale in languages:
        return locale
    primary = locale.replace("_", "-").split("-")[0].lower()
    return primary if primary in languages else None


def placeholders(template: str) -> frozenset[str]:
    """The ``{names}`` a template expects."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template)
                     if name is not None and name != "")


def read_table(path: Path) -> Mapping[str, str]:
    """One language file: flat text values (nested tables are flattened to dotted keys)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    flat: dict[str, str] = {}
    _flatten(path, "", data, flat)
    for key, value in flat.items():
        try:
            placeholders(value)
        except ValueError as exc:
            raise CatalogueError(f"{path}: {key}: {exc}") from exc
    return MappingProxyType(flat)


def _flatten(path: Path, prefix: str, data: Mapping[str, object], out: dict[str, str]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(path, f"{name}.", value, out)
        elif isinstance(value, str):
            out[name] = value
        else:
            raise CatalogueError(f"{path}: {name}: expected text, found {type(value).__name__}")


class _Leave(dict[str, object]):
    """Format values; a placeholder nobody filled stays visible as ``{name}``, never crashes."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped catalogue, read once per process."""
    return Catalogue.load()
