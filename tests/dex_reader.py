"""An independent reader of EVA-DTS audit files, written from the standard's layout for the
tests (it shares no code with ``kiosk.dex``): lines split on CRLF, elements on ``*``, elements
numbered from 1 as the standard numbers them (``VA1`` element 02 is ``seg[2]``)."""

from __future__ import annotations

from dataclasses import dataclass, field


class DexFormatError(AssertionError):
    """The text is not a well-formed audit file."""


@dataclass(frozen=True)
class Seg:
    tag: str
    elements: tuple[str, ...]

    def __getitem__(self, number: int) -> str:
        """Element ``number`` (1-based); an element the line leaves off reads as ``""``."""
        return self.elements[number - 1] if number <= len(self.elements) else ""

    def num(self, number: int) -> int:
        text = self[number]
        return int(text) if text.strip() else 0


@dataclass
class Product:
    """A PA1 line and the PA2..PA4 lines after it."""

    pa1: Seg
    blocks: dict[str, Seg] = field(default_factory=dict)


@dataclass
class DexFile:
    lines: list[str]                # without their line ends
    segs: list[Seg]

    def all(self, tag: str) -> list[Seg]:
        return [seg for seg in self.segs if seg.tag == tag]

    def one(self, tag: str) -> Seg:
        found = self.all(tag)
        if len(found) != 1:
            raise DexFormatError(f"{len(found)} {tag} segments, expected one")
        return found[0]

    def products(self) -> dict[str, Product]:
        products: dict[str, Product] = {}
        current: Product | None = None
        for seg in self.segs:
            if seg.tag == "PA1":
                current = products[seg[1]] = Product(seg)
            elif seg.tag in ("PA2", "PA3", "PA4") and current is not None:
                current.blocks[seg.tag] = seg
        return products

    def transaction_set(self) -> list[str]:
        """The lines from ST through SE, both included."""
        tags = [seg.tag for seg in self.segs]
        return self.lines[tags.index("ST"):tags.index("SE") + 1]

    def crc_checks_out(self, crc: object = None) -> bool:
        """G85 against CRC-16 (poly 0x8005, reflected, init 0) of ST .. the line before G85."""
        tags = [seg.tag for seg in self.segs]
        covered = self.lines[tags.index("ST"):tags.index("G85")]
        data = "".join(line + "\r\n" for line in covered).encode("ascii")
        value = crc(data) if callable(crc) else reference_crc16(data)
        return f"{value:04X}" == self.one("G85")[1].strip().upper()

    def se_count_checks_out(self) -> bool:
        return self.one("SE").num(1) == len(self.transaction_set())


def reference_crc16(data: bytes) -> int:
    """CRC-16/ARC written out bit by bit: feed each bit of each byte, low bit first."""
    register = 0x0000
    for byte in data:
        for bit in range(8):
            incoming = (byte >> bit) & 1
            top = register & 1
            register >>= 1
            if top ^ incoming:
                register ^= 0xA001
    return register


def parse(text: str, *, crlf: bool = True) -> DexFile:
    """Split ``text`` into segments; with ``crlf`` every line must end in CRLF."""
    if crlf:
        if not text.endswith("\r\n") or "\n" in text.replace("\r\n", ""):
            raise DexFormatError("lines do not all end with CRLF")
        lines = text[:-2].split("\r\n")
    else:
        lines = [line.rstrip("\r") for line in text.strip("\r\n").split("\n")]
    segs = []
    for line in lines:
        tag, *elements = line.split("*")
        if not (tag[:1].isalpha() and tag.isalnum()):
            raise DexFormatError(f"not a segment: {line!r}")
        segs.append(Seg(tag, tuple(elements)))
    if [segs[0].tag, segs[1].tag] != ["DXS", "ST"] or segs[-1].tag != "DXE":
        raise DexFormatError("the envelope is not DXS, ST ... DXE")
    return DexFile(lines, segs)
