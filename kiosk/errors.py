"""The kiosk's one error hierarchy.

    KioskError
    ├── ConfigError (ValueError)          config file is wrong; carries every problem found
    ├── JournalError                      the sales journal cannot be read or written
    ├── FleetError                        the fleet's broker cannot be reached or refused us
    ├── CommandRefused                    a fleet command was not applied (the reason says why)
    └── GatewayError                      a payment gateway call did not give a usable answer
        ├── GatewayUnavailable (ConnectionError)   transport failure or 5xx: try again later
        │   └── GatewayTimeout (TimeoutError)      no answer within the explicit timeout
        ├── GatewayRateLimited                     the gateway asked us to slow down
        ├── GatewayProtocolError (ValueError)      the reply is not what the API documents
        ├── GatewayRejected                        the API understood and said no
        └── OperationNotSupported                  the gateway has no such call (e.g. refund)

Hardware errors live in ``hardware.errors`` because ``hardware/`` never imports ``kiosk/``.
Messages never contain secrets: clients build them from field names and public values only.
"""

from __future__ import annotations

from dataclasses import dataclass


class KioskError(Exception):
    """Root of every error the kiosk raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, located by file, table and key."""

    file: str
    table: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"[{self.table}]" if self.table else "(top level)"
        key = f" {self.key}" if self.key else ""
        return f"{self.file}: {where}{key}: {self.message}"


class ConfigError(KioskError, ValueError):
    """A config file is invalid; ``issues`` lists every problem, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class DisplayError(KioskError):
    """There is no screen to draw on (SDL found none, or only its offscreen driver)."""


class JournalError(KioskError):
    """The sales journal cannot be opened, read or written."""


class FleetError(KioskError):
    """The fleet link cannot reach its broker, or the broker refused it."""


class CommandRefused(KioskError):
    """A command from the fleet is not applied; the message is the reason sent back."""


class GatewayError(KioskError):
    """A payment gateway call failed; the message names the gateway and the call."""


class GatewayUnavailable(GatewayError, ConnectionError):
    """The gateway could not be reached or answered with a server error."""


class GatewayTimeout(GatewayUnavailable, TimeoutError):
    """The gateway did not answer within the configured timeout."""


class GatewayRateLimited(GatewayError):
    """The gateway refused the call because we exceeded its rate limit."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GatewayProtocolError(GatewayError, ValueError):
    """The gateway's reply does not match its documented shape."""


class GatewayRejected(GatewayError):
    """The gateway understood the request and refused it (``code`` is the gateway's own)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class OperationNotSupported(GatewayError):
    """The gateway has no API for this operation (MixPay cannot cancel or refund)."""
