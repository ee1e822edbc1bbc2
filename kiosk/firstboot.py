"""``kiosk import-boot-config``: the operator's file on the SD card's FAT partition.

Operators write ``/boot/firmware/vending-kiosk.toml`` (the ``kiosk.toml`` schema, secrets
allowed) on any computer. At boot, before the kiosk starts, this validates it:

- valid: it becomes the active config, its secrets move into ``secrets.toml`` (0600), and the
  file on the FAT partition is rewritten without them (comments kept), so the card carries no
  secret once the machine has booted;
- invalid: the last good config stays active, and the errors are written where the kiosk reads
  them at start-up to show them on screen (out of service) until the file is fixed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.config import SECRET_KEYS, load_config
from kiosk.errors import ConfigError, ConfigIssue

ERRORS_FILE_NAME = "boot-config-errors.txt"
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
_SECRETS = frozenset((table, key) for table, keys in SECRET_KEYS.items() for key in keys)


@dataclass(frozen=True)
class ImportResult:
    imported: bool
    message: str
    issues: tuple[ConfigIssue, ...] = ()


def import_boot_config(boot_file: Path, config_path: Path,
                       errors_dir: Path | None = None) -> ImportResult:
    """Validate ``boot_file``; install it as ``config_path`` (plus secrets) or record why not."""
    if not boot_file.exists():
        return ImportResult(False, f"no operator file at {boot_file}: nothing to import")
    secrets_path = config_path.parent / "secrets.toml"
    text = boot_file.read_text(encoding="utf-8")
    try:
        operator_secrets = _secrets_in(text)
        stripped = _without_secrets(text)
        secrets = {**_read_secrets(secrets_path), **operator_secrets}
        with tempfile.TemporaryDirectory() as scratch:
            candidate = Path(scratch) / boot_file.name
            candidate.write_text(stripped, encoding="utf-8")
            (Path(scratch) / "secrets.toml").write_text(_secrets_toml(secrets))
            config = load_config(candidate)
    except ConfigError as exc:
        issues = tuple(ConfigIssue(str(boot_file), i.table, i.key, i.message)
                       for i in exc.issues)
        _record_errors(errors_dir, issues)
        return ImportResult(False, f"{boot_file} has {len(issues)} error(s); the last good "
                                   "config stays active", issues)
    _write_atomically(secrets_path, _secrets_toml(secrets), mode=0o600)
    _write_atomically(config_path, stripped, mode=0o644)
    if operator_secrets:  # the FAT partition keeps the settings, never the secrets
        _write_atomically(boot_file, stripped, mode=None)
    _record_errors(errors_dir or config.machine.data_dir, ())
    moved = f"; {len(operator_secrets)} secret(s) moved to {secrets_path}" \
        if operator_secrets else ""
    return ImportResult(True, f"imported {boot_file} as {config_path}{moved}")


def recorded_errors(data_dir: Path) -> str:
    """What the last rejected import said, for the kiosk's out-of-service screen ('' if none)."""
    try:
        return (data_dir / ERRORS_FILE_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _secrets_in(text: str) -> dict[tuple[str, str], str]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}  # load_config reports the syntax error with its line
    found: dict[tuple[str, str], str] = {}
    for table, key in sorted(_SECRETS):
        node: Any = doc
        for part in table.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and isinstance(node.get(key), str):
            found[(table, key)] = node[key]
    return found


def _without_secrets(text: str) -> str:
    """The file with every secret key's line removed, comments and layout kept."""
    table = ""
    kept = []
    for line in text.splitlines(keepends=True):
        header = _TABLE.match(line)
        if header:
            table = header.group(1).replace(" ", "")
        key = _KEY.match(line)
        if key and (table, key.group(1)) in _SECRETS:
            continue
        kept.append(line)
    stripped = "".join(kept)
    if _secrets_in(stripped):
        raise ConfigError([ConfigIssue("", "", "", "write each secret on its own line as "
                                       'key = "value" so it can be moved off the card')])
    return stripped


def _read_secrets(path: Path) -> dict[tuple[str, str], str]:
    try:
        return _secrets_in(path.read_text(encoding="utf-8"))
    except OSError:
        return {}


def _secrets_toml(secrets: dict[tuple[str, str], str]) -> str:
    tables: dict[str, list[str]] = {}
    for (table, key), value in sorted(secrets.items()):
        # A JSON string is a valid TOML basic string: quotes and control characters escaped.
        tables.setdefault(table, []).append(f"{key} = {json.dumps(value)}")
    return "".join(f"[{table}]\n" + "\n".join(lines) + "\n\n" for table, lines in tables.items())


def _write_atomically(path: Path, text: str, mode: int | None) -> None:
    """Write beside, fsync, rename: a power cut leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _record_errors(data_dir: Path | None, issues: tuple[ConfigIssue, ...]) -> None:
    if data_dir is None:
        return
    target = data_dir / ERRORS_FILE_NAME
    if not issues:
        target.unlink(missing_ok=True)
        return
    lines = [f"operator file rejected ({len(issues)} error(s)):", *map(str, issues)]
    _write_atomically(target, "\n".join(lines) + "\n", mode=0o644)
