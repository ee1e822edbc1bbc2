"""The secrets file (``secrets.toml`` beside the config, mode 0600) and secret keys.

A secret key is a field its dataclass hides from ``repr`` (``field(repr=False)``); the schema
lists them (``Schema.secret_keys``), and they are the only keys the secrets file may hold. Their
values are never echoed in a message, and in the secrets file not even an odd key's name is.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.config.files import load_toml
from kiosk.config.reader import Ctx, Reader, Schema, Secrets
from kiosk.errors import ConfigIssue


def load_secrets(config_path: Path, secrets_path: Path | str | None, schema: Schema,
                 issues: list[ConfigIssue], warnings: list[ConfigIssue]) -> Secrets:
    if secrets_path is None:
        default = config_path.parent / "secrets.toml"
        if not default.is_file():
            return Secrets(str(default))
        secrets_path = default
    file = str(secrets_path)
    doc = load_toml(file, issues, redact=True)
    if doc is None:
        return Secrets(file, readable=False)
    _check_mode(file, warnings)
    return _read(Ctx(file, issues, Secrets(file), schema, redact_all=True), doc)


def secret(reader: Reader, key: str) -> str:
    """A secret key: type-checked in this file, overridden by the secrets file when set there.
    Found in this file it works, with a warning: this file is readable by every user."""
    value = reader.str_(key)
    ctx = reader.ctx
    if value and reader.ok(key):
        ctx.warn(reader.table, key, f"a secret in this file, which is not protected like the "
                                    f"secrets file: move it into {ctx.secrets.file} (mode 0600; "
                                    "from the SD card's operator file the import at boot does)")
    return ctx.secrets.values.get((reader.table, key), value)


def require_secret(reader: Reader, key: str, value: str, why: str) -> None:
    if reader.ctx.secrets.readable:  # an unparsable secrets file is already reported
        reader.require(key, value, f"{why}; put it in {reader.ctx.secrets.file}")


def secrets_present(reader: Reader) -> bool:
    """The table is in the config, or the secrets file holds a key of it."""
    return reader.present or any(t == reader.table for t, _ in reader.ctx.secrets.values)


def _check_mode(file: str, warnings: list[ConfigIssue]) -> None:
    """Only the kiosk's own user may read the secrets: other users could take the keys."""
    try:
        mode = stat.S_IMODE(os.stat(file).st_mode)
    except OSError:
        return  # it was just read; a file gone since has nothing left to protect
    if mode & 0o077:
        warnings.append(ConfigIssue(file, "", "", f"readable by group or others (mode "
                                                  f"{mode:04o}): other users could take the "
                                                  f"secrets; chmod 600 {file}"))


def _read(ctx: Ctx, doc: Mapping[str, Any]) -> Secrets:
    secret_keys = ctx.schema.secret_keys
    allowed = ", ".join(f"{t}.{k}" for t, keys in secret_keys.items() for k in keys)
    only = f"the secrets file may only hold {allowed}"
    readers = {"": Reader(ctx, doc, "", True)}
    tables = [(_table(readers, table), keys) for table, keys in secret_keys.items()]
    found = Secrets(ctx.file)
    for reader, keys in tables:
        for key in keys:
            value = reader.str_(key)
            if reader.has(key) and reader.ok(key):
                found.values[(reader.table, key)] = value
        reader.finish(only)
    # Then the tables around them, innermost first: [payment], then the top level.
    for table in reversed([table for table in readers if table not in secret_keys]):
        readers[table].finish(only)
    return found


def _table(readers: dict[str, Reader], table: str) -> Reader:
    """The reader of ``table`` ("payment.wctpay"), its parents' readers made on the way."""
    if table not in readers:
        parent, _, name = table.rpartition(".")
        readers[table] = _table(readers, parent).sub(name)
    return readers[table]
