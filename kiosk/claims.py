"""Claim codes: what a customer photographs when a paid sale could not vend.

Derived from the transaction id, so the screen (pure flow), the journal and the operator's
look-up agree without sharing state. Seven Crockford base32 characters (35 bits) and a Luhn
mod 32 check character, shown as ``XXXX-XXXX``: no I, L, O or U, so it survives a photo and a
phone call, and a mistyped character or swapped neighbours are caught.
"""

from __future__ import annotations

import base64
import hashlib

# Crockford base32: digits and letters without I, L, O, U.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                          _CROCKFORD.encode("ascii"))
_CLAIM_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_DATA_CHARS = 7


def claim_code(tx_id: str) -> str:
    """The customer's claim code for ``tx_id``, e.g. ``"0HFF-B56R"``."""
    digest = hashlib.sha256(tx_id.encode("utf-8")).digest()
    data = base64.b32encode(digest[:5]).translate(_CROCKFORD_FROM_RFC4648).decode("ascii")
    code = data[:_DATA_CHARS] + _check_char(data[:_DATA_CHARS])
    return f"{code[:4]}-{code[4:]}"


def normalize_claim_code(code: str) -> str:
    """``" abcd-efgh "`` -> ``"ABCDEFGH"``: upper case, no separators, Crockford look-alikes
    (I and L read as 1, O as 0) mapped to the characters a claim code actually contains."""
    kept = "".join(ch for ch in code.upper() if ch.isalnum())
    return kept.translate(_CLAIM_ALIASES)


def is_valid_claim_code(code: str) -> bool:
    """True when ``code`` (as typed, any case or separators) has a correct check character."""
    kept = normalize_claim_code(code)
    if len(kept) != _DATA_CHARS + 1 or any(ch not in _CROCKFORD for ch in kept):
        return False
    return _check_char(kept[:_DATA_CHARS]) == kept[-1]


def _check_char(data: str) -> str:
    """Luhn mod N (N = 32) over the Crockford alphabet."""
    total = 0
    factor = 2
    for char in reversed(data):
        addend = factor * _CROCKFORD.index(char)
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return _CROCKFORD[(32 - total % 32) % 32]
