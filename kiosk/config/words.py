"""How the config's messages speak of values: their kind, a list of choices, a did-you-mean."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any


def is_int(value: Any) -> bool:
    """A TOML integer (``bool`` is an ``int`` to Python, not to TOML)."""
    return isinstance(value, int) and not isinstance(value, bool)


def one_of(choices: Sequence[object]) -> str:
    shown = [json.dumps(c) for c in choices]
    return "one of " + ", ".join(shown[:-1]) + " or " + shown[-1]


def suggest(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str:
    folded = {c.casefold(): c for c in candidates}  # "a1" should find "A1"
    match = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=cutoff)
    return f'did you mean "{folded[match[0]]}"?' if match else ""


def describe(value: Any, hide: bool = False) -> str:
    """How a TOML value looks to the operator: 'string "abc"', 'integer 5', 'boolean true'."""
    kind = _kind(value)
    if hide:
        return f"{kind} (value hidden)"
    if isinstance(value, str):
        if not value:
            return "an empty string"
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"string {json.dumps(text, ensure_ascii=False)}"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    return kind if isinstance(value, (list, dict)) else f"{kind} {value}"


def _kind(value: Any) -> str:
    for type_, name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"),
                        (list, "array"), (dict, "table")):
        if isinstance(value, type_):
            return name
    return "date/time"
