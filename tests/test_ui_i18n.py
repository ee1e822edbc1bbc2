"""The text catalogues: every language complete, placeholders matching, English as the fallback,
and no customer-facing literal left in the screens' code."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from kiosk.flow import ClaimReason
from kiosk.i18n import (
    REFERENCE,
    Catalogue,
    CatalogueError,
    default_catalogue,
    language_for,
    placeholders,
    read_table,
)
from kiosk.resources import assets_dir
from kiosk.ui.screens import CLAIM_TEXTS

CATALOGUE = default_catalogue()
OTHERS = [code for code in CATALOGUE.languages if code != REFERENCE]
SCREENS = Path(__file__).resolve().parent.parent / "kiosk" / "ui" / "screens.py"


def test_english_spanish_and_german_ship_in_that_order() -> None:
    assert CATALOGUE.languages[:3] == ("en", "es", "de")
    assert {p.stem for p in (assets_dir() / "i18n").glob("*.toml")} == set(CATALOGUE.languages)


@pytest.mark.parametrize("language", OTHERS)
def test_every_language_has_every_key_with_the_same_placeholders(language: str) -> None:
    english = CATALOGUE.keys(REFERENCE)
    assert english, "en.toml is empty or unreadable"
    assert sorted(english - CATALOGUE.keys(language)) == [], "missing in " + language
    assert sorted(CATALOGUE.keys(language) - english) == [], "unknown to en.toml"
    for key in english:
        mine, theirs = CATALOGUE.template(language, key), CATALOGUE.template(REFERENCE, key)
        assert mine is not None and theirs is not None
        assert placeholders(mine) == placeholders(theirs), (language, key)
        assert mine.strip(), (language, key)
        assert mine.count("\n") == theirs.count("\n"), (language, key)  # button lines


def test_every_language_names_itself_differently() -> None:
    names = [CATALOGUE.with_language(code).text("language.name") for code in CATALOGUE.languages]
    assert names[:3] == ["English", "Español", "Deutsch"] and len(set(names)) == len(names)


def test_every_key_the_screens_use_exists() -> None:
    """Every literal ``c.t("...")`` key in screens.py, the claim texts by reason, and the
    message screens' prefixes."""
    tree = ast.parse(SCREENS.read_text())
    used: set[str] = set()
    prefixes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "t" and node.args \
                and isinstance(node.args[0], ast.Constant):
            used.add(node.args[0].value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "_message_screen":
            prefixes.add(node.args[0].value)  # type: ignore[attr-defined]
    assert len(used) > 20
    assert set(CLAIM_TEXTS) == set(ClaimReason)  # every reason a code is given has its words
    used |= set(CLAIM_TEXTS.values())
    english = CATALOGUE.keys(REFERENCE)
    assert sorted(used - english) == []
    for prefix in prefixes:
        assert {f"{prefix}.title", f"{prefix}.body"} <= english
    unused = {k for k in english if k not in used and k.split(".")[0] not in prefixes}
    assert sorted(unused) == []


def test_no_customer_words_are_left_in_the_screens_code() -> None:
    """String literals in screens.py are keys, formats or names; prose lives in the catalogue."""
    tree = ast.parse(SCREENS.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)  # type: ignore[attr-defined]
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    prose = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            words = [word for word in node.value.split() if word.isalpha() and len(word) > 1]
            label = node.value.isalpha() and node.value[:1].isupper() and not node.value.isupper()
            if (len(words) >= 2 or label) and not node.value.startswith("Status: ") \
                    and node.value not in names:  # forward references in annotations
                prose.append(node.value)
    # what is left: the technician's English status line and messages for programmers
    assert all(text.endswith("needs a sale") or "{" in text for text in prose), prose


def test_a_missing_key_falls_back_to_english_and_is_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "en.toml").write_text('"a" = "Hello {name}"\n"b" = "Bye"\n')
    (tmp_path / "xx.toml").write_text('"a" = "Hallo {name}"\n')
    catalogue = Catalogue.load(tmp_path, "xx")
    with caplog.at_level(logging.WARNING, logger="kiosk.i18n"):
        assert catalogue.text("a", name="Ana") == "Hallo Ana"
        assert catalogue.text("b") == "Bye"
        assert catalogue.text("b") == "Bye"
        assert catalogue.text("nowhere") == "nowhere"
    assert [r.getMessage() for r in caplog.records].count(
        "text 'b' missing in language xx: showing English") == 1


def test_a_placeholder_nobody_filled_stays_visible_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('"a" = "Pay {amount} {symbol}"\n')
    assert Catalogue.load(tmp_path).text("a", amount=3) == "Pay 3 {symbol}"


def test_a_broken_language_file_is_left_out_and_the_others_still_work(
        tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('"a" = "Hello"\n')
    (tmp_path / "de.toml").write_text('"a" = \n')
    (tmp_path / "es.toml").write_text('"a" = 3\n')
    catalogue = Catalogue.load(tmp_path, "de")
    assert catalogue.languages == ("en",) and catalogue.text("a") == "Hello"
    with pytest.raises(CatalogueError, match="expected text"):
        read_table(tmp_path / "es.toml")


@pytest.mark.parametrize("locale, language", [
    ("en", "en"), ("es", "es"), ("de", "de"), ("de-AT", "de"), ("es-MX", "es"),
    ("pt-BR", "en"), ("fr", "en")])
def test_the_machine_locale_picks_the_language(locale: str, language: str) -> None:
    assert CATALOGUE.resolve(locale) == language
    assert CATALOGUE.with_language(locale).language == language


@pytest.mark.parametrize("locale, language", [
    ("de", "de"), ("de-AT", "de"), ("es_MX", "es"), ("pt-BR", None), ("fr", None)])
def test_a_locale_has_a_language_only_when_its_texts_exist(locale: str,
                                                            language: str | None) -> None:
    assert language_for(locale, CATALOGUE.languages) == language


def test_the_language_button_cycles_through_every_language() -> None:
    seen = ["en"]
    for _ in CATALOGUE.languages:
        seen.append(CATALOGUE.with_language(seen[-1]).next_language())
    assert seen[:3] == ["en", "es", "de"] and seen[-1] == "en"
    assert sorted(seen[:-1]) == sorted(CATALOGUE.languages)
