"""Reading a config file as a TOML document: every way it can fail is one ``ConfigIssue``."""

from __future__ import annotations

import re
import tomllib
from collections import deque
from collections.abc import Mapping
from typing import Any

from kiosk.config.words import is_int
from kiosk.errors import ConfigError, ConfigIssue

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1   # TOML integers are 64-bit (TOML 1.0, "Integer")
_INT64_RULE = f"TOML integers are 64-bit, {INT64_MIN} to {INT64_MAX}"


def parse_toml(text: str, file: str, *, redact: bool) -> dict[str, Any]:
    """``text`` as a TOML document, or ``ConfigError`` with the one reason it is not one.

    Besides syntax errors this covers what ``tomllib`` raises other than ``TOMLDecodeError``:
    ``RecursionError`` on arrays or inline tables nested too deeply, and ``ValueError`` on an
    integer too long to convert; integers beyond TOML's 64 bits are refused as the spec asks.
    ``redact`` leaves out the character ``tomllib`` quotes: in a file with secrets it may be one.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        shown = str(exc)
        if redact:
            shown = re.sub(r"""character (['"]).*?\1""", "character", shown)
        issue = ConfigIssue(file, "", "", f"TOML syntax error: {shown}")
    except RecursionError:
        issue = ConfigIssue(file, "", "", "nested too deeply: arrays or inline tables inside "
                                          "each other beyond what the kiosk reads")
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        issue = ConfigIssue(file, "", "", f"an integer is out of range: {_INT64_RULE}")
    else:
        where = _beyond_int64(doc)
        if where is None:
            return doc
        issue = ConfigIssue(file, *where, f"integer out of range: {_INT64_RULE}")
    raise ConfigError([issue])


def load_toml(file: str, issues: list[ConfigIssue], *, redact: bool) -> dict[str, Any] | None:
    """The parsed document, or ``None`` after recording why it could not be read."""
    try:
        with open(file, "rb") as handle:
            return parse_toml(handle.read().decode("utf-8"), file, redact=redact)
    except FileNotFoundError:
        message = "file not found"
    except IsADirectoryError:
        message = "is a directory, not a config file"
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        message = "is not valid UTF-8 text"
    except ConfigError as exc:
        issues.extend(exc.issues)
        return None
    issues.append(ConfigIssue(file, "", "", message))
    return None


def _beyond_int64(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(table, key)`` of an integer beyond 64 bits, if any. A loop, not recursion: the
    document may be nested as deeply as the parser allows."""
    pending: deque[tuple[str, str, Any]] = deque(("", k, v) for k, v in doc.items())
    while pending:
        table, key, value = pending.popleft()
        if isinstance(value, dict):
            name = f"{table}.{key}" if table else key
            pending.extend((name, k, v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((table, f"{key}[{i}]" if isinstance(item, dict) else key, item)
                           for i, item in enumerate(value))
        elif is_int(value) and not INT64_MIN <= value <= INT64_MAX:
            return table, key
    return None
