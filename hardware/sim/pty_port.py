"""A pseudo-terminal behind a stable path, for a simulated serial device.

``path`` is a symlink in a private temp directory pointing at the pty's slave
(``/dev/pts/N``). ``unplug()`` closes the pty (the driver's reads fail with EIO, as when a USB
bridge is pulled) and removes the link; ``plug()`` opens a new pty, whose ``/dev/pts/N``
differs, and re-points the link, so the driver reconnects to the same path.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import tempfile
import tty

log = logging.getLogger(__name__)

READ_BYTES = 1024


class PtyPort:
    """The device's end of a pty (the master), and the link the driver opens."""

    def __init__(self, prefix: str, name: str) -> None:
        self._dir = tempfile.mkdtemp(prefix=prefix)
        self.path = os.path.join(self._dir, name)
        self._master: int | None = None
        self._slave: int | None = None
        self._inbox = bytearray()   # a partial line, until its newline comes

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)         # no echo or line editing before the driver opens it
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        link = self.path + ".new"
        os.symlink(os.ttyname(slave), link)
        os.replace(link, self.path)  # atomic: the driver never sees a half-made link
        self._inbox.clear()

    def unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if os.path.lexists(self.path):
            os.unlink(self.path)

    def remove(self) -> None:
        """Unplug for good and remove the temp directory."""
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def read_lines(self, timeout_s: float) -> list[str]:
        """The whole lines the driver wrote, waiting up to ``timeout_s`` for any (plugged)."""
        master = self._master
        assert master is not None, "plug() first"
        ready, _, _ = select.select([master], [], [], timeout_s)
        if not ready:
            return []
        self._inbox += os.read(master, READ_BYTES)  # never EIO: we hold a slave fd open
        lines = []
        while (end := self._inbox.find(b"\n")) >= 0:
            lines.append(self._inbox[:end].decode("ascii", "replace").rstrip("\r"))
            del self._inbox[:end + 1]
        return lines

    def write(self, raw: bytes) -> None:
        """Write to the driver (plugged); dropped when nobody reads and the pty is full."""
        assert self._master is not None, "plug() first"
        try:
            os.write(self._master, raw)
        except BlockingIOError:
            log.debug("pty full (nobody reading): dropped %r", raw)
