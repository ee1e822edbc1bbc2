"""``[vend.mdb]``: the MDB driver's (``hardware/mdb.py``) config section.

Free of pyserial, like every section: the kiosk reads it on any machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from hardware import mdb_protocol as proto
from hardware.config_section import SectionReader

ADDRESSES = (0x10, 0x60)   # MDB cashless device #1 and #2
BAUDRATE_MAX = 4_000_000
_BRIDGE_COMMAND = re.compile(r"[ -~]*[!-~][ -~]*")   # the bridge's serial line is ASCII


@dataclass(frozen=True)
class MdbConfig:
    port: str = "/dev/ttyACM0"
    baudrate: int = 115200
    address: int = 0x10
    patience_s: int = 60
    selection_timeout_s: int = 60      # touchscreen first: the walk to the keypad
    dispense_timeout_s: int = 60       # after approval: the machine's own dispense
    deny_command: str = proto.DENY
    setconf: tuple[str, ...] = ()                                    # extension: C,SETCONF lines
    failure_prefixes: tuple[str, ...] = proto.DEFAULT_FAILURE_PREFIXES  # extension: vend failures


def read_mdb_config(r: SectionReader) -> MdbConfig:
    config = MdbConfig(
        port=r.line("port", "/dev/ttyACM0", shape="a serial port or pyserial URL",
                    required=True),
        baudrate=r.int_("baudrate", 115200, lo=1, hi=BAUDRATE_MAX),
        address=r.int_("address", 0x10),
        patience_s=r.int_("patience_s", 60, lo=5, hi=600),
        selection_timeout_s=r.int_("selection_timeout_s", 60, lo=5, hi=600),
        dispense_timeout_s=r.int_("dispense_timeout_s", 60, lo=5, hi=600),
        deny_command=r.str_("deny_command", proto.DENY, pattern=_BRIDGE_COMMAND,
                            shape='a bridge command such as "C,STOP" (printable ASCII, one '
                                  'line)'),
        setconf=r.str_list("setconf"),
        failure_prefixes=r.str_list("failure_prefixes") or proto.DEFAULT_FAILURE_PREFIXES,
    )
    bad = [line for line in config.setconf
           if not line.startswith("C,SETCONF,") or not _BRIDGE_COMMAND.fullmatch(line)]
    if bad:
        r.error("setconf", f'every line must be a "C,SETCONF,..." command in printable ASCII, '
                           f"found {json.dumps(bad[0])}")
    elif any(line.startswith("C,SETCONF,mdb-addr=") for line in config.setconf):
        r.error("setconf", "the MDB address is set with address = 0x10 or 0x60, not a setconf "
                           "line")
    if r.ok("address") and config.address not in ADDRESSES:
        r.error("address", f"expected 0x10 (cashless #1) or 0x60 (cashless #2), "
                           f"found {config.address:#x}")
    return config
