"""``kiosk import-boot-config``: the operator's file on the SD card's FAT partition.

Operators write ``/boot/firmware/vending-kiosk.toml`` (the ``kiosk.toml`` schema, secrets
allowed) on any computer. At boot, before the kiosk starts, this validates it:

- valid: it becomes the active config, its secrets move into ``secrets.toml`` (0600), and the
  file on the FAT partition is rewritten without them (comments kept);
- invalid, not TOML at all, or anything else going wrong: nothing of it is imported, the last
  good config stays active, and the errors are written where the kiosk reads them at start-up
  to show them on screen (out of service) until the file is fixed. The import fails closed: no
  exception leaves the kiosk selling on the old config in silence.

Either way the card keeps no secret: every line assigning a key named like one (``key``,
``api_key``, ``api_secret``, ``secret``, ``pin_hash``, ``password``, ``token``, in any table,
commented out too) is removed from the file on the card. They are found line by line, so this
works on a file that does not parse; a rejected file's secrets are gone, and the errors say so.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.config import SECRET_KEYS, load_config, parse_toml
from kiosk.errors import ConfigError, ConfigIssue
from kiosk.files import write_atomically

ERRORS_FILE_NAME = "boot-config-errors.txt"
_SECRETS = frozenset((table, key) for table, keys in SECRET_KEYS.items() for key in keys)
# Key names taken for secrets in any table: the schema's own, and the words people use for one.
SECRET_NAMES = frozenset({key for _, key in _SECRETS} | {"secret", "password", "token"})
_QUOTES = "\"'\u201c\u201d\u2018\u2019"      # straight and "smart" quotes around a key
# One part of a (dotted) key: bare, or quoted with any quotes, even a mismatched pair.
_PART = rf"(?:[A-Za-z0-9_-]+|[{_QUOTES}][^{_QUOTES}\n]*[{_QUOTES}])"
_KEY = rf"{_PART}(?:\s*\.\s*{_PART})*"
# The key a line starts with, commented out or not, and what follows it.
_LEADING_KEY = re.compile(rf"^\s*(#\s*)?({_KEY})(.*)$")
# A key inside an inline table on the line: "{ key =" or ", key =".
_INLINE_KEY = re.compile(rf"[{{,]\s*({_KEY})\s*=")
_OWN_LINE = ('write each secret on its own line as key = "value" so it can be moved off the '
             "card")


@dataclass(frozen=True)
class ImportResult:
    imported: bool
    message: str
    issues: tuple[ConfigIssue, ...] = ()


@dataclass(frozen=True)
class _Stripped:
    """A file's text without its secret lines."""

    text: str
    removed: int                  # lines taken out
    inline: bool                  # a secret sat in a line with other keys (an inline table)


def import_boot_config(boot_file: Path, config_path: Path,
                       errors_dir: Path | None = None) -> ImportResult:
    """Validate ``boot_file``; install it as ``config_path`` (plus secrets) or record why not.

    A file that is not a valid config is an ``ImportResult`` with its issues. Any other failure
    (the card unreadable, a disk full) is recorded the same way, so the kiosk shows it, and then
    raised: the import failed, and the caller says so."""
    try:
        if not boot_file.exists():
            return ImportResult(False, f"no operator file at {boot_file}: nothing to import")
        return _import(boot_file, config_path, errors_dir)
    except ConfigError as exc:
        return _reject(boot_file, errors_dir, tuple(exc.issues))
    except Exception as exc:  # fail closed whatever it is: out of service with the reason
        _reject(boot_file, errors_dir, (ConfigIssue(str(boot_file), "", "", "could not be "
                                                    f"imported: {type(exc).__name__}: {exc}"),))
        raise


def _reject(boot_file: Path, errors_dir: Path | None,
            issues: tuple[ConfigIssue, ...]) -> ImportResult:
    """Nothing imported: the card loses its secret lines, the kiosk gets the reasons."""
    note = _remove_secret_lines(boot_file)
    message = f"{boot_file} has {len(issues)} error(s); the last good config stays active"
    try:
        _record_errors(errors_dir, issues, note)
    except OSError as exc:  # the kiosk cannot open its journal there either: out of service
        note += f"; the errors could not be recorded in {errors_dir}: {exc.strerror or exc}"
    return ImportResult(False, message + (f"; {note}" if note else ""), issues)


def recorded_errors(data_dir: Path) -> str:
    """What the last rejected import said, for the kiosk's out-of-service screen ('' if none)."""
    try:
        return (data_dir / ERRORS_FILE_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _import(boot_file: Path, config_path: Path, errors_dir: Path | None) -> ImportResult:
    try:
        text = boot_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(boot_file), "", "", "is not valid UTF-8 text: save "
                                       "it as UTF-8 (plain text)")]) from None
    # A file that does not parse is rejected as a whole: no part of it is guessed at.
    operator_secrets = _secrets_in(parse_toml(text, str(boot_file), redact=True))
    stripped = _without_secrets(text)
    if stripped.inline or _secrets_in(_parse_stripped(stripped.text, boot_file)):
        raise ConfigError([ConfigIssue(str(boot_file), "", "", _OWN_LINE)])
    secrets_path = config_path.parent / "secrets.toml"
    secrets = {**_read_secrets(secrets_path), **operator_secrets}
    with tempfile.TemporaryDirectory() as scratch:
        candidate = Path(scratch) / boot_file.name
        candidate.write_text(stripped.text, encoding="utf-8")
        (Path(scratch) / "secrets.toml").write_text(_secrets_toml(secrets), encoding="utf-8")
        try:
            config = load_config(candidate)
        except ConfigError as exc:  # name the operator's file, not the scratch copies
            raise ConfigError([ConfigIssue(str(boot_file), i.table, i.key, i.message)
                               for i in exc.issues]) from None
    # Secrets first, then the card, then the config: a failure part way never loses a secret,
    # and the card is clean as soon as secrets.toml holds them.
    write_atomically(secrets_path, _secrets_toml(secrets).encode(), mode=0o600)
    if stripped.removed:
        write_atomically(boot_file, stripped.text.encode(), mode=None)
    write_atomically(config_path, stripped.text.encode(), mode=0o644)
    _record_errors(errors_dir or config.machine.data_dir, (), "")
    moved = f"; {len(operator_secrets)} secret(s) moved to {secrets_path}" \
        if operator_secrets else ""
    return ImportResult(True, f"imported {boot_file} as {config_path}{moved}")


def _parse_stripped(text: str, boot_file: Path) -> dict[str, Any]:
    """The file without its secret lines; if taking them out broke it, they were not each on a
    line of their own (a multi-line array or table around them)."""
    try:
        return parse_toml(text, str(boot_file), redact=True)
    except ConfigError:
        raise ConfigError([ConfigIssue(str(boot_file), "", "", _OWN_LINE)]) from None


def _secrets_in(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for table, key in sorted(_SECRETS):
        node: Any = doc
        for part in table.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and isinstance(node.get(key), str):
            found[(table, key)] = node[key]
    return found


def _secret_name(key_text: str) -> bool:
    """Whether a (possibly dotted, quoted) key ends in a secret's name."""
    last = key_text.split(".")[-1].strip().strip(_QUOTES).strip()
    return last.lower() in SECRET_NAMES


def _secret_line(line: str) -> tuple[bool, bool]:
    """``(secret, inline)``: whether ``line`` assigns a secret-looking key, and whether that key
    sits in an inline table among others. A line that starts with such a key is one whatever
    follows (``api_secret: "x"`` is a typo, not a different key); a commented-out line only
    with its ``=``, so that comments merely mentioning the word stay."""
    leading = _LEADING_KEY.match(line)
    if leading and _secret_name(leading.group(2)):
        return not leading.group(1) or leading.group(3).lstrip().startswith("="), False
    inner = any(_secret_name(m.group(1)) for m in _INLINE_KEY.finditer(line))
    return inner, inner and not line.lstrip().startswith("#")


def _without_secrets(text: str) -> _Stripped:
    """``text`` without the lines that assign a secret-looking key, found line by line (so in a
    file that does not parse too); comments, layout and line endings kept. A multi-line string
    opened on such a line goes with it."""
    kept: list[str] = []
    removed = 0
    inline = False
    closing = ""                       # the delimiter of a multi-line secret being removed
    for line in text.split("\n"):    # "\n" only: a control character must not split a line
        if closing:
            removed += 1
            closing = "" if closing in line else closing
            continue
        secret, in_table = _secret_line(line)
        if not secret:
            kept.append(line)
            continue
        removed += 1
        inline = inline or in_table
        value = line.split("=", 1)[1].lstrip() if "=" in line else ""
        for delimiter in ('"""', "'''"):
            if value.startswith(delimiter) and delimiter not in value[3:]:
                closing = delimiter
    return _Stripped("\n".join(kept), removed, inline)


def _remove_secret_lines(boot_file: Path) -> str:
    """Take the secret lines off the card of a rejected file; what happened, for the errors."""
    try:
        # Bytes that are not UTF-8 become surrogates and back: the rest is written unchanged.
        stripped = _without_secrets(boot_file.read_bytes().decode("utf-8", "surrogateescape"))
        if stripped.removed:
            write_atomically(boot_file, stripped.text.encode("utf-8", "surrogateescape"),
                              mode=None)
    except OSError as exc:
        return f"secret lines could not be removed from the card: {exc.strerror or exc}"
    if not stripped.removed:
        return ""
    return (f"{stripped.removed} secret line(s) removed from the card and not imported: write "
            "them again in the fixed file")


def _read_secrets(path: Path) -> dict[tuple[str, str], str]:
    """The secrets already installed; one that does not parse stops the import rather than
    being overwritten with only the operator file's."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return _secrets_in(parse_toml(text, str(path), redact=True))


def _secrets_toml(secrets: dict[tuple[str, str], str]) -> str:
    tables: dict[str, list[str]] = {}
    for (table, key), value in sorted(secrets.items()):
        # A JSON string is a valid TOML basic string: quotes and control characters escaped.
        tables.setdefault(table, []).append(f"{key} = {json.dumps(value)}")
    return "".join(f"[{table}]\n" + "\n".join(lines) + "\n\n" for table, lines in tables.items())


def _record_errors(data_dir: Path | None, issues: tuple[ConfigIssue, ...], note: str) -> None:
    if data_dir is None:
        return
    target = data_dir / ERRORS_FILE_NAME
    if not issues:
        target.unlink(missing_ok=True)
        return
    lines = [f"operator file rejected ({len(issues)} error(s)):", *map(str, issues)]
    write_atomically(target, ("\n".join(lines + [note] if note else lines) + "\n").encode(),
                      mode=0o644)
