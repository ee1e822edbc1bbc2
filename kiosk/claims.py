"""Claim codes: what a customer photographs when a paid sale could not vend.

Derived from the transaction id, so the screen (pure flow), the journal and the operator's
look-up agree without sharing state.
"""

from __future__ import annotations

import base64
import hashlib

# Crockford base32: digits and letters without I, L, O, U.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                          _CROCKFORD.encode("ascii"))
_CLAIM_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def claim_code(tx_id: str) -> str:
    """The customer's claim code for ``tx_id``: 8 Crockford base32 characters as ``XXXX-XXXX``.

    Deterministic (sha256 of the id), so an operator can recompute it; 40 bits, so two sales
    practically never share one. No I, L, O or U, so it survives a photo and a phone call.
    """
    digest = hashlib.sha256(tx_id.encode("utf-8")).digest()
    code = base64.b32encode(digest[:5]).translate(_CROCKFORD_FROM_RFC4648).decode("ascii")
    return f"{code[:4]}-{code[4:]}"


def normalize_claim_code(code: str) -> str:
    """``" abcd-efgh "`` -> ``"ABCDEFGH"``: upper case, no separators, Crockford look-alikes
    (I and L read as 1, O as 0) mapped to the characters a claim code actually contains."""
    kept = "".join(ch for ch in code.upper() if ch.isalnum())
    return kept.translate(_CLAIM_ALIASES)
