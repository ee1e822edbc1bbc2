"""Commands on the machine's ``cmd`` topic: read, checked against the fleet's key, and handed to
the runtime to apply (``kiosk.runtime.remote``). docs/fleet-protocol.md lists them.

The checks, in order, each answered with its reason: a JSON object; an id; a valid signature by
the key in ``[fleet] command_public_key`` (none configured: every command refused); this
machine's id; issued no later than now (with 5 minutes of clock skew) and not expired, with a
lifetime of at most a day; a known command with its arguments of the right types. A command
that fails before its signature is verified is never recorded under its id, so a forger cannot
use up the id of a real command; one that fails after is, and a repeat of it is "replayed".
Anyone who can publish on ``cmd`` can send unsigned messages: they are answered, but journalled
at most once a minute, so a flood cannot fill the journal.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from kiosk.errors import CommandRefused

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=5)
LIMITED_JOURNAL_EVERY_S = 60.0    # a flood of forged or replayed messages must not fill it
LONGEST_LIFETIME = timedelta(days=1)
MAX_MESSAGE_BYTES = 16 * 1024
_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
# command: {argument: its type}; arguments after "?" may be left out
ARGUMENTS: Mapping[str, Mapping[str, type]] = {
    "set_price": {"slot": str, "price": str},
    "set_stock": {"slot": str, "stock": int},
    "set_slot_enabled": {"slot": str, "enabled": bool},
    "set_service": {"in_service": bool, "?reason": str},
    "selftest": {},
    "send_audit": {"?reset": bool},
    "settle_claim": {"claim": str, "how": str, "?reference": str},
}


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: Mapping[str, Any]
    issued_at: datetime
    expires_at: datetime


class Untimely(CommandRefused):
    """Issued in the future or expired: this machine's clock may be the one that is wrong, so
    the id is not kept (once the clock is right, the fleet's resend is applied)."""


class Answers(Protocol):
    """What the inbox needs of the journal."""

    def command_reply(self, command_id: str) -> dict[str, Any] | None: ...

    def command_refused(self, command_id: str | None, reason: str, *,
                        record: bool) -> dict[str, Any]: ...

    def answer_only(self, command_id: str | None, reason: str) -> None: ...

    def answer_replayed(self, command_id: str) -> None: ...


class CommandInbox:
    """The fleet link's side: each message checked on the link's thread (it is quick), then
    applied on the runtime's sale worker by ``apply``; refusals journalled and answered here."""

    def __init__(self, machine_id: str, public_key: bytes | None, journal: Answers,
                 apply: Callable[[Command], None],
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._machine_id = machine_id
        self._public_key = public_key
        self._journal = journal
        self._apply = apply
        self._now = now
        self._clock = clock
        self._limited_journalled_at: float | None = None
        self._limited_quiet = 0            # refusals answered, not journalled, since then
        # Handed to ``apply`` and not yet expired: a copy arriving meanwhile is dropped (its
        # reply is on its way). The journal knows the ids handled before.
        self._queued: dict[str, datetime] = {}

    def receive(self, payload: bytes) -> None:
        command_id: str | None = None
        verified = False
        try:
            doc = _object(payload)
            command_id = _command_id(doc)
            if self._public_key is None:
                raise CommandRefused("this machine has no command_public_key in [fleet]: "
                                     "it takes no commands")
            from kiosk.fleet.signing import verify   # cryptography: only once commands come

            verify(doc, self._public_key)
            verified = True
            if command_id is not None and self._repeat(command_id):
                return
            command = read_command(doc, self._machine_id, self._now())
        except CommandRefused as exc:
            self._refused(command_id, str(exc), verified and not isinstance(exc, Untimely))
            return
        self._queued[command.id] = command.expires_at
        self._apply(command)

    def _repeat(self, command_id: str) -> bool:
        """A copy of a command handled before (answered ``replayed``, journalled at most once
        a minute: a captured command sent again and again must not fill the journal or queue
        work in front of the sales) or still queued (dropped). False: a new id."""
        if self._journal.command_reply(command_id) is None:
            now = self._now()
            self._queued = {queued: expires for queued, expires in self._queued.items()
                            if expires > now}
            if command_id not in self._queued:
                return False
            log.info("fleet command %s arrived again while queued: its reply is on its way",
                     command_id)
            return True
        log.warning("fleet command %s refused: replayed", command_id)
        if self._once_a_minute() is None:
            self._journal.answer_replayed(command_id)
        else:
            self._journal.command_refused(command_id, "replayed", record=True)
        return True

    def _refused(self, command_id: str | None, reason: str, record: bool) -> None:
        """Journal and answer a refusal. ``record``: verified, so journalled with its id kept.
        What fails before its signature is checked may be anyone's, and what fails on this
        machine's clock may be a copy sent again and again: journalled at most once a minute
        (with how many were not), answered always."""
        log.warning("fleet command %s refused: %s", command_id or "(no id)", reason)
        if record:
            self._journal.command_refused(command_id, reason, record=True)
            return
        note = self._once_a_minute()
        if note is None:
            self._journal.answer_only(command_id, reason)
        else:
            self._journal.command_refused(command_id, reason + note, record=False)

    def _once_a_minute(self) -> str | None:
        """May a refusal be journalled now? None: not yet (counted); else the note to add,
        how many were answered without being journalled since the last one."""
        now = self._clock()
        last = self._limited_journalled_at
        if last is not None and now - last < LIMITED_JOURNAL_EVERY_S:
            self._limited_quiet += 1
            return None
        quiet, self._limited_journalled_at, self._limited_quiet = self._limited_quiet, now, 0
        return f" ({quiet} more refused, not journalled, since)" if quiet else ""


def read_command(doc: Mapping[str, Any], machine_id: str, now: datetime) -> Command:
    """A signed command's content, checked; ``CommandRefused`` with the reason."""
    command_id = _command_id(doc)
    if command_id is None:
        raise CommandRefused('malformed: "id" must be 1 to 100 letters, digits or "._:-"')
    machine = doc.get("machine")
    if machine != machine_id:
        raise CommandRefused(f"for another machine ({json.dumps(machine)}), not {machine_id}")
    issued_at, expires_at = _moment(doc, "issued_at"), _moment(doc, "expires_at")
    if issued_at > now + CLOCK_SKEW:
        raise Untimely(f"issued in the future ({doc['issued_at']}; this machine's clock "
                       f"reads {now.isoformat(timespec='seconds')})")
    if expires_at <= now:
        raise Untimely(f"expired at {doc['expires_at']}")
    if not issued_at < expires_at <= issued_at + LONGEST_LIFETIME:
        raise CommandRefused("expires_at must be after issued_at and at most a day later")
    name = doc.get("command")
    if not isinstance(name, str) or name not in ARGUMENTS:
        raise CommandRefused(f"unknown command {json.dumps(name)} (known: "
                             f"{', '.join(ARGUMENTS)})")
    return Command(command_id, name, check_arguments(name, doc.get("args", {})), issued_at,
                   expires_at)


def _object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_MESSAGE_BYTES:
        raise CommandRefused(f"malformed: {len(payload)} bytes, more than a command can be")
    try:
        doc = json.loads(payload.decode("utf-8"), parse_constant=_not_a_number)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandRefused(f"malformed: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise CommandRefused("malformed: a command is a JSON object")
    return doc


def _not_a_number(name: str) -> object:
    """JSON has no NaN or Infinity (Python's reader accepts them): no command holds one."""
    raise ValueError(f"{name} is not a JSON number")


def _command_id(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("id")
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _moment(doc: Mapping[str, Any], key: str) -> datetime:
    text = doc.get(key)
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise CommandRefused(f'malformed: "{key}" must be an ISO 8601 time with its zone, like '
                             '"2026-11-25T10:00:00Z"')
    return moment


def check_arguments(name: str, args: object) -> dict[str, Any]:
    """The arguments of the known command ``name``, checked against ``ARGUMENTS``; else
    ``CommandRefused`` naming the argument. The console checks with it before sending."""
    if not isinstance(args, dict):
        raise CommandRefused(f'malformed: "args" of {name} must be an object')
    wanted = ARGUMENTS[name]
    names = {key.lstrip("?") for key in wanted}
    unknown = sorted(set(args) - names)
    if unknown:
        raise CommandRefused(f"{name} takes no argument {json.dumps(unknown[0])} (it takes: "
                             f"{', '.join(sorted(names)) or 'none'})")
    for key, kind in wanted.items():
        arg = key.lstrip("?")
        if arg not in args:
            if key.startswith("?"):
                continue
            raise CommandRefused(f'{name} needs "{arg}"')
        value = args[arg]
        # bool is an int in Python: a count must not be true or false
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CommandRefused(f'{name}: "{arg}" must be {_TYPE_WORDS[kind]}, found '
                                 f"{_shown(value)}")
    return dict(args)


def _shown(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):     # the console's caller may hand over any object
        return repr(value)


_TYPE_WORDS: Mapping[type, str] = {str: "a string", int: "an integer", bool: "true or false"}
