"""Ed25519 signatures over a command's canonical bytes (docs/fleet-protocol.md, "Signing").

The canonical form is the command object without its ``signature``, as JSON with keys sorted,
no white space and UTF-8 text; commands hold only strings, integers, booleans and objects of
them, so every signer writes the same bytes (no floats, whose spelling varies). The console
signs with the fleet's private key; a machine holds only the public key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiosk.errors import CommandRefused

SIGNATURE = "signature"


def canonical(command: Mapping[str, Any]) -> bytes:
    """The bytes a command's signature covers."""
    unsigned = {key: value for key, value in command.items() if key != SIGNATURE}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign(command: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The command with its signature (the console's side; tests use it too)."""
    signature = base64.b64encode(key.sign(canonical(command))).decode("ascii")
    return {**command, SIGNATURE: signature}


def public_key_text(key: Ed25519PrivateKey) -> str:
    """What ``[fleet] command_public_key`` holds for this private key."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def verify(command: Mapping[str, Any], public_key: bytes) -> None:
    """``CommandRefused`` unless the command carries a valid signature by ``public_key``."""
    text = command.get(SIGNATURE)
    if text is None:
        raise CommandRefused("unsigned: every command must be signed by the fleet's key")
    if not isinstance(text, str):
        raise CommandRefused("malformed signature: expected base64 text")
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CommandRefused("malformed signature: not base64") from exc
    if len(signature) != 64:
        raise CommandRefused(f"malformed signature: {len(signature)} bytes, an Ed25519 "
                             "signature has 64")
    try:
        signed = canonical(command)
    except (ValueError, UnicodeEncodeError) as exc:   # NaN, a lone surrogate: not text
        raise CommandRefused("malformed: the command cannot be written as UTF-8 JSON") from exc
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except InvalidSignature as exc:
        raise CommandRefused("bad signature: not signed by this machine's fleet key, or "
                             "changed since it was signed") from exc
