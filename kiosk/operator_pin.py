"""The operator PIN: a salted slow hash (PBKDF2-SHA256) and writing it into ``secrets.toml``.

The stored form describes itself: ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``.
Verifying takes a noticeable fraction of a second on a Pi on purpose: never on the UI thread.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from kiosk.errors import KioskError

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 200_000
# Fewer makes guessing a 4-digit PIN from a stolen hash a matter of seconds (OWASP's PBKDF2-SHA256
# advice is far higher; this is what a Pi verifies in well under a second).
MIN_ITERATIONS = 100_000
MIN_DIGITS = 4
MAX_DIGITS = 8


def valid_pin(pin: str) -> bool:
    return pin.isascii() and pin.isdigit() and MIN_DIGITS <= len(pin) <= MAX_DIGITS


def hash_pin(pin: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    if not valid_pin(pin):
        raise ValueError(f"a PIN is {MIN_DIGITS} to {MAX_DIGITS} digits")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """True only if ``stored`` is a well-formed hash of ``pin``; never raises on bad input."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    iterations, salt, expected = parsed
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def pin_hash_problem(stored: str) -> str:
    """Why ``stored`` is not a sound PIN hash ('' if it is): malformed, so no PIN opens the
    menu, or weak, so a copy of the secrets file gives the PIN away quickly."""
    parsed = _parse(stored)
    if parsed is None:
        return (f"not a PIN hash ({ALGORITHM}$<iterations>$<salt hex>$<hash hex>): no PIN "
                "opens the operator menu")
    if parsed[0] < MIN_ITERATIONS:
        return (f"weak: {parsed[0]} PBKDF2 iterations, fewer than {MIN_ITERATIONS:,}, so a "
                "copy of the hash gives the PIN away quickly")
    return ""


def _parse(stored: str) -> tuple[int, bytes, bytes] | None:
    """``(iterations, salt, digest)`` of a well-formed stored hash, else ``None``."""
    try:
        algorithm, iterations, salt_hex, hash_hex = stored.split("$")
        if algorithm != ALGORITHM or not 1 <= int(iterations) <= 10_000_000:
            return None
        salt, digest = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
    except ValueError:
        return None
    # A digest of another length can never match: the hash is damaged (e.g. cut short).
    return (int(iterations), salt, digest) if len(digest) == hashlib.sha256().digest_size \
        else None


_TABLE = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")
_PIN_KEY = re.compile(r"^\s*pin_hash\s*=")


def with_pin_hash(text: str, pin_hash: str) -> str:
    """``text`` (a secrets.toml) with ``[operator] pin_hash`` set, everything else kept."""
    line = f'pin_hash = "{pin_hash}"'
    lines = text.splitlines()
    table = ""
    operator_at: int | None = None
    for index, current in enumerate(lines):
        match = _TABLE.match(current)
        if match:
            table = match.group(1).strip()
            if table == "operator":
                operator_at = index
            continue
        if table == "operator" and _PIN_KEY.match(current):
            lines[index] = line
            return "\n".join(lines) + "\n"
    if operator_at is not None:
        lines.insert(operator_at + 1, line)
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += ["[operator]", line]
    return "\n".join(lines) + "\n"


def write_pin_hash(secrets_path: Path, pin_hash: str) -> None:
    """Set the hash in ``secrets_path`` in place (opened r+, rewritten, fsynced, mode 0600):
    the service may write that file but not create files beside it. Created (0600) if absent.

    A file that is not UTF-8 text is not rewritten (that would lose it): ``KioskError``.
    """
    flags = os.O_RDWR | os.O_CREAT
    fd = os.open(secrets_path, flags, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        try:
            text = handle.read()
        except UnicodeDecodeError:
            raise KioskError(f"{secrets_path}: not UTF-8 text; nothing changed") from None
        handle.seek(0)
        handle.write(with_pin_hash(text, pin_hash))
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
