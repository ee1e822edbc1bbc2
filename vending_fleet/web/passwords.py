"""Password hashes: salted scrypt (stdlib ``hashlib.scrypt``), slow on purpose so a stolen
database does not give the passwords away cheaply.

Encoded as ``scrypt$<n>$<r>$<p>$<salt base64>$<hash base64>`` so the cost can be raised later
without breaking the hashes already stored (each carries its own parameters).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

N = 2**14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Bounds on what a stored hash may ask for: a corrupted (or planted) row must not make one
# login allocate gigabytes or spin for minutes.
_MAX_MEMORY = 2**26            # bytes: 128 * r * n
_MAX_P = 16


def hash_password(password: str) -> str:
    """A new salted hash of ``password``, to store."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, N, R, P, HASH_BYTES)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a wrong password or a malformed
    hash (never an exception, so a bad row cannot break the login page)."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n and n & (n - 1) == 0 and 0 < r and 128 * r * n <= _MAX_MEMORY
            and 0 < p <= _MAX_P and salt and expected):
        return False
    digest = _scrypt(password, salt, n, r, p, len(expected))
    return hmac.compare_digest(digest, expected)


def dummy_verify(password: str) -> None:
    """Spend as long as a real check: a login for an unknown name must not answer faster than
    one with a wrong password (that would tell which names exist)."""
    verify_password(password, _DUMMY)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem above the 128 * r * n bytes scrypt needs (OpenSSL's default is 32 MiB).
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=128 * r * n + 2**20, dklen=length)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_DUMMY = hash_password(secrets.token_urlsafe(16))
