"""The fleet's Ed25519 command key: the private half signs every command (docs/fleet-protocol.md,
section 5) and lives only with the console, in a PEM file (PKCS8, unencrypted) readable by the
console alone; the public half goes into each machine's ``[fleet] command_public_key``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.fleet.signing import public_key_text

log = logging.getLogger(__name__)


class KeyFileError(ValueError):
    """The key file is missing, unreadable, or not an unencrypted Ed25519 private key."""


def load_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The fleet's private key from ``path``; a warning when others may read the file (it would
    let them sign commands: change prices, stock, settle claims)."""
    file = Path(path)
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
        data = file.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"fleet key {file}: cannot be read ({exc.strerror or exc}); "
                           "make one with `vending-fleet keygen`") from exc
    if mode & 0o077:
        log.warning("fleet key %s is readable by group or others (mode %04o): anyone who can "
                    "read it can sign commands to every machine; chmod 600 it", file, mode)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:          # encrypted: the console runs unattended, it has no password
        raise KeyFileError(f"fleet key {file}: encrypted with a password; the console needs "
                           "it unencrypted (PKCS8 PEM, mode 0600)") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"fleet key {file}: not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"fleet key {file}: a {type(key).__name__.lstrip('_')}, not an "
                           "Ed25519 private key (machines verify Ed25519 signatures only)")
    return key


def generate_key(path: str | os.PathLike[str]) -> str:
    """A new fleet key written to ``path`` (created with mode 0600; an existing file is never
    overwritten: losing the old key means re-keying every machine). Returns the public key
    text for ``[fleet] command_public_key``."""
    file = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        # O_EXCL: no overwrite, and the mode is set at creation (no moment of 0644)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"fleet key {file} exists already: not overwritten (every machine "
                           "trusts its public key); move it away first to replace it") from exc
    except OSError as exc:
        raise KeyFileError(f"fleet key {file}: cannot be created ({exc.strerror or exc})") \
            from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(file, 0o600)         # the umask may have taken bits away, never added: sure
    except OSError as exc:
        file.unlink(missing_ok=True)
        raise KeyFileError(f"fleet key {file}: cannot be written ({exc.strerror or exc})") \
            from exc
    return public_key_text(key)
