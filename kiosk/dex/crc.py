"""The G85 integrity check: CRC-16 as vending audit files carry it.

The polynomial x^16 + x^15 + x^2 + 1 (0x8005) processed least significant bit first (0xA001
reflected), initial value 0, no final XOR: the "CRC-16/ARC" variant. It is computed over every
byte of the transaction set from the ``ST`` line through the line before ``G85``, each line with
its CRLF, and written as 4 upper-case hex digits. Checked against the G85 of published machine
files (see ``kiosk.dex`` for which).
"""

from __future__ import annotations

_POLY = 0xA001  # 0x8005 bit-reversed: the register shifts right


def _table() -> tuple[int, ...]:
    """The CRC of every byte value, so each byte costs one lookup."""
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


_TABLE = _table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC of ``data``: ``crc16(b"123456789") == 0xBB3D``."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def g85_value(data: bytes) -> str:
    """The G85 element for ``data`` (ST through the line before G85, CRLFs included)."""
    return f"{crc16(data):04X}"
