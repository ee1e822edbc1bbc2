"""A fleet command's checks without a broker (kiosk.fleet.commands, kiosk.fleet.signing): the
signature over the canonical bytes, the machine, the times, the command and its arguments, and
what ``CommandInbox`` journals for each refusal; property tests feed it anything at all."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.config.fleet import decode_public_key
from kiosk.errors import CommandRefused
from kiosk.fleet.commands import (
    ARGUMENTS,
    CLOCK_SKEW,
    MAX_MESSAGE_BYTES,
    Command,
    CommandInbox,
    read_command,
)
from kiosk.fleet.signing import canonical, public_key_text, sign, verify

MACHINE = "m-001"
NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone.utc)
FLEET_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PUBLIC = decode_public_key(public_key_text(FLEET_KEY))
assert PUBLIC is not None
PUBLIC_KEY: bytes = PUBLIC


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def unsigned(name: str = "set_stock", args: dict[str, Any] | None = None, *,
             command_id: str = "c-0001", machine: str = MACHINE, issued: datetime = NOW,
             lifetime: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    return {"id": command_id, "machine": machine, "command": name,
            "args": {"slot": "A1", "stock": 5} if args is None else args,
            "issued_at": stamp(issued), "expires_at": stamp(issued + lifetime)}


def signed(name: str = "set_stock", args: dict[str, Any] | None = None, *,
           key: Ed25519PrivateKey = FLEET_KEY, **options: Any) -> dict[str, Any]:
    return sign(unsigned(name, args, **options), key)


def encode(doc: object) -> bytes:
    return json.dumps(doc).encode("utf-8")


class FakeJournal:
    """What the inbox asks of the journal: every answer recorded; ``handled`` the ids the
    journal knows (recorded refusals, and what a test puts there as applied)."""

    def __init__(self) -> None:
        self.refused: list[tuple[str | None, str, bool]] = []      # journalled and answered
        self.answered: list[tuple[str | None, str]] = []           # answered only
        self.replayed: list[str] = []                              # answered "replayed" only
        self.handled: dict[str, dict[str, Any]] = {}

    def command_reply(self, command_id: str) -> dict[str, Any] | None:
        return self.handled.get(command_id)

    def command_refused(self, command_id: str | None, reason: str, *,
                        record: bool) -> dict[str, Any]:
        self.refused.append((command_id, reason, record))
        reply = {"command": command_id, "status": "rejected", "ok": False, "error": reason}
        if record and command_id is not None:
            self.handled.setdefault(command_id, reply)
        return reply

    def answer_only(self, command_id: str | None, reason: str) -> None:
        self.answered.append((command_id, reason))

    def answer_replayed(self, command_id: str) -> None:
        self.replayed.append(command_id)


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Inbox:
    """A ``CommandInbox`` on a fake journal, a fake apply and fixed clocks."""

    def __init__(self, public_key: bytes | None = PUBLIC_KEY, now: datetime = NOW) -> None:
        self.journal = FakeJournal()
        self.applied: list[Command] = []
        self.monotonic = Monotonic()
        self.inbox = CommandInbox(MACHINE, public_key, self.journal, self.applied.append,
                                  now=lambda: now, clock=self.monotonic)

    def receive(self, payload: bytes | dict[str, Any]) -> None:
        self.inbox.receive(payload if isinstance(payload, bytes) else encode(payload))

    def refusal(self, payload: bytes | dict[str, Any]) -> tuple[str | None, str, bool]:
        """The one refusal ``payload`` gets (and nothing applied)."""
        self.receive(payload)
        assert self.applied == [] and self.journal.answered == []
        assert len(self.journal.refused) == 1, self.journal.refused
        return self.journal.refused[0]


# --------------------------------------------------------------------------- signing

def test_a_valid_signed_command_round_trips() -> None:
    doc = signed("set_price", {"slot": "A1", "price": "2.75"})
    verify(doc, PUBLIC_KEY)
    command = read_command(doc, MACHINE, NOW)
    assert command == Command("c-0001", "set_price", {"slot": "A1", "price": "2.75"},
                              NOW, NOW + timedelta(minutes=5))

    inbox = Inbox()
    inbox.receive(doc)
    assert inbox.applied == [command] and inbox.journal.refused == []


def test_public_key_text_is_the_base64_of_the_32_raw_bytes() -> None:
    text = public_key_text(FLEET_KEY)
    assert len(text) == 44 and text.endswith("=")
    assert len(base64.b64decode(text)) == 32
    assert public_key_text(OTHER_KEY) != text


def test_canonical_sorts_keys_drops_the_signature_and_has_no_white_space() -> None:
    doc = {"z": 1, "a": {"y": True, "b": "é"}, "signature": "whatever"}
    assert canonical(doc) == '{"a":{"b":"é","y":true},"z":1}'.encode()
    assert canonical(doc) == canonical(dict(reversed(list(doc.items()))))


def test_the_key_order_of_the_json_does_not_matter() -> None:
    doc = signed()
    shuffled = dict(reversed(list(doc.items())))
    shuffled["args"] = dict(reversed(list(doc["args"].items())))
    assert list(shuffled) != list(doc)
    assert json.dumps(shuffled) != json.dumps(doc)
    inbox = Inbox()
    inbox.receive(json.dumps(shuffled, indent=3).encode())
    assert len(inbox.applied) == 1 and inbox.journal.refused == []


def test_the_signature_covers_every_field() -> None:
    doc = signed()
    for field in ("id", "machine", "command", "issued_at", "expires_at"):
        changed = {**doc, field: doc[field] + "x"}
        with pytest.raises(CommandRefused, match="bad signature"):
            verify(changed, PUBLIC_KEY)
    with pytest.raises(CommandRefused, match="bad signature"):
        verify({**doc, "extra": 1}, PUBLIC_KEY)


# --------------------------------------------------------------------------- refusals

def _with_signature(text: object) -> Callable[[], dict[str, Any]]:
    return lambda: {**unsigned(), "signature": text}


def _tampered() -> dict[str, Any]:
    doc = signed()
    doc["args"]["stock"] = 99
    return doc


BEFORE_SIGNATURE = [
    ("unsigned", lambda: unsigned(), "unsigned"),
    ("signature null", _with_signature(None), "unsigned"),
    ("signature not text", _with_signature(12345), "malformed signature: expected base64"),
    ("signature not base64", _with_signature("not base64 !!"), "malformed signature: not base64"),
    ("signature 63 bytes", _with_signature(base64.b64encode(bytes(63)).decode()),
     "malformed signature: 63 bytes"),
    ("signature 65 bytes", _with_signature(base64.b64encode(bytes(65)).decode()),
     "malformed signature: 65 bytes"),
    ("wrong key", lambda: signed(key=OTHER_KEY), "bad signature"),
    ("tampered args", _tampered, "bad signature"),
]


@pytest.mark.parametrize(("make", "reason"), [case[1:] for case in BEFORE_SIGNATURE],
                         ids=[case[0] for case in BEFORE_SIGNATURE])
def test_refusals_before_the_signature_is_verified_are_not_recorded(
        make: Callable[[], dict[str, Any]], reason: str) -> None:
    command_id, said, record = Inbox().refusal(make())
    assert reason in said
    assert command_id == "c-0001"            # echoed in the reply...
    assert record is False                   # ...but never kept: a forger cannot use it up


def _bad_args(name: str, args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: signed(name, args)


AFTER_SIGNATURE = [
    ("other machine", lambda: signed(machine="m-002"), 'for another machine ("m-002")'),
    ("lifetime over a day", lambda: signed(issued=NOW - timedelta(minutes=1),
                                           lifetime=timedelta(days=1, minutes=2)),
     "at most a day later"),
    ("expires before issued", lambda: signed(issued=NOW + timedelta(minutes=4),
                                             lifetime=timedelta(minutes=-2)),
     "expires_at must be after issued_at"),
    ("expires when issued", lambda: signed(issued=NOW + timedelta(minutes=1),
                                           lifetime=timedelta(0)),
     "expires_at must be after issued_at"),
    ("naive issued_at", lambda: sign({**unsigned(), "issued_at": "2026-11-25T10:00:00"},
                                     FLEET_KEY),
     'malformed: "issued_at" must be an ISO 8601 time with its zone'),
    ("naive expires_at", lambda: sign({**unsigned(), "expires_at": "2026-11-25T10:05:00"},
                                      FLEET_KEY),
     'malformed: "expires_at" must be an ISO 8601 time with its zone'),
    ("issued_at not a time", lambda: sign({**unsigned(), "issued_at": "yesterday"}, FLEET_KEY),
     '"issued_at" must be an ISO 8601 time with its zone'),
    ("issued_at a number", lambda: sign({**unsigned(), "issued_at": 1_700_000_000},
                                        FLEET_KEY),
     '"issued_at" must be an ISO 8601 time with its zone'),
    ("expires_at missing", lambda: sign({k: v for k, v in unsigned().items()
                                         if k != "expires_at"}, FLEET_KEY),
     '"expires_at" must be an ISO 8601 time with its zone'),
    ("unknown command", _bad_args("reboot", {}), 'unknown command "reboot"'),
    ("command not text", lambda: sign({**unsigned(), "command": 7}, FLEET_KEY),
     "unknown command 7"),
    ("missing arg", _bad_args("set_stock", {"slot": "A1"}), 'set_stock needs "stock"'),
    ("extra arg", _bad_args("set_stock", {"slot": "A1", "stock": 5, "force": True}),
     'set_stock takes no argument "force"'),
    ("arg to selftest", _bad_args("selftest", {"now": True}), "(it takes: none)"),
    ("string for an int", _bad_args("set_stock", {"slot": "A1", "stock": "5"}),
     '"stock" must be an integer, found "5"'),
    ("bool for an int", _bad_args("set_stock", {"slot": "A1", "stock": True}),
     '"stock" must be an integer, found true'),
    ("float for an int", _bad_args("set_stock", {"slot": "A1", "stock": 5.0}),
     '"stock" must be an integer'),
    ("int for a bool", _bad_args("set_slot_enabled", {"slot": "A1", "enabled": 1}),
     '"enabled" must be true or false, found 1'),
    ("number for a string", _bad_args("set_price", {"slot": "A1", "price": 2.5}),
     '"price" must be a string'),
    ("null for an optional", _bad_args("set_service", {"in_service": False, "reason": None}),
     '"reason" must be a string'),
    ("args not an object", _bad_args("set_stock", ["A1", 5]),  # type: ignore[arg-type]
     '"args" of set_stock must be an object'),
]


@pytest.mark.parametrize(("make", "reason"), [case[1:] for case in AFTER_SIGNATURE],
                         ids=[case[0] for case in AFTER_SIGNATURE])
def test_refusals_after_the_signature_is_verified_are_recorded(
        make: Callable[[], dict[str, Any]], reason: str) -> None:
    command_id, said, record = Inbox().refusal(make())
    assert reason in said
    assert (command_id, record) == ("c-0001", True)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: signed(issued=NOW + CLOCK_SKEW + timedelta(seconds=1)), "issued in the future"),
    (lambda: signed(issued=NOW - timedelta(minutes=10)), "expired at"),
    (lambda: signed(issued=NOW - timedelta(minutes=5)), "expired at"),   # expires exactly now
], ids=["issued beyond the skew", "expired", "expires exactly now"])
def test_refusals_on_this_machines_clock_are_not_recorded(
        make: Callable[[], dict[str, Any]], reason: str) -> None:
    """The machine's clock may be the wrong one (booted before NTP): once it is right, the
    fleet's resend of the same command must still be applied."""
    command_id, said, record = Inbox().refusal(make())
    assert reason in said and (command_id, record) == ("c-0001", False)


def test_a_command_refused_on_a_wrong_clock_is_applied_when_sent_again_later() -> None:
    early = Inbox(now=NOW - timedelta(hours=2))        # the machine's clock is behind
    doc = signed()
    early.receive(doc)
    later = Inbox()
    later.journal = early.journal
    later.inbox = CommandInbox(MACHINE, PUBLIC_KEY, early.journal, later.applied.append,
                               now=lambda: NOW, clock=later.monotonic)
    later.receive(doc)
    assert [c.id for c in later.applied] == ["c-0001"]


def test_a_replayed_command_is_answered_but_journalled_at_most_once_a_minute() -> None:
    """A captured command sent again and again: never applied twice, never queued in front of
    the sales, and the journal holds one refusal a minute, not one per copy."""
    inbox = Inbox()
    doc = signed()
    inbox.receive(doc)
    inbox.journal.handled["c-0001"] = {"command": "c-0001", "status": "applied"}
    for _ in range(100):
        inbox.receive(doc)
    inbox.monotonic.t += 60
    inbox.receive(doc)
    assert [c.id for c in inbox.applied] == ["c-0001"]
    assert inbox.journal.refused == [("c-0001", "replayed", True)] * 2
    assert inbox.journal.replayed == ["c-0001"] * 99


def test_a_copy_that_arrives_while_the_command_is_queued_is_dropped() -> None:
    inbox = Inbox()
    doc = signed()
    inbox.receive(doc)
    inbox.receive(doc)                  # not applied yet: its reply is on its way
    assert [c.id for c in inbox.applied] == ["c-0001"]
    assert inbox.journal.refused == [] and inbox.journal.replayed == []


def test_issued_within_the_clock_skew_is_accepted() -> None:
    inbox = Inbox()
    inbox.receive(signed(issued=NOW + CLOCK_SKEW))
    assert len(inbox.applied) == 1


def test_a_lifetime_of_exactly_a_day_is_accepted() -> None:
    inbox = Inbox()
    inbox.receive(signed(issued=NOW - timedelta(hours=1), lifetime=timedelta(days=1)))
    assert len(inbox.applied) == 1


def test_a_time_with_another_zone_is_the_same_instant() -> None:
    """docs/fleet-protocol.md 4.1 asks for "ISO 8601 with a zone", not UTC only: +02:00 is
    taken as the instant it names (only a time without a zone is refused)."""
    doc = sign({**unsigned(), "issued_at": "2026-11-25T12:00:00+02:00",
                "expires_at": "2026-11-25T12:05:00+02:00"}, FLEET_KEY)
    inbox = Inbox()
    inbox.receive(doc)
    assert [(c.issued_at, c.expires_at) for c in inbox.applied] == [
        (NOW, NOW + timedelta(minutes=5))]
    late = sign({**unsigned(), "issued_at": "2026-11-25T13:00:00+02:00",
                 "expires_at": "2026-11-25T13:05:00+02:00"}, FLEET_KEY)   # an hour ahead
    assert "issued in the future" in Inbox().refusal(late)[1]


@pytest.mark.parametrize("command_id", ["", "has space", "x" * 101, "semi;colon", 42, None,
                                        "é"])
def test_an_invalid_id_is_refused_and_never_echoed(command_id: object) -> None:
    doc = signed()
    doc["id"] = command_id
    doc = sign({k: v for k, v in doc.items() if k != "signature"}, FLEET_KEY)
    refused_id, said, record = Inbox().refusal(doc)
    assert refused_id is None and record is True
    assert 'malformed: "id" must be 1 to 100' in said


def test_an_id_of_100_characters_is_fine() -> None:
    inbox = Inbox()
    inbox.receive(signed(command_id="a._:-" * 20))
    assert [command.id for command in inbox.applied] == ["a._:-" * 20]


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{not json", "malformed: not JSON"),
    (b"", "malformed: not JSON"),
    (b"\xff\xfe{}", "malformed: not JSON"),
    ('{"id": "c-1", "x": "caf\xe9"}'.encode("latin-1"), "malformed: not JSON"),
    (b"[1, 2]", "malformed: a command is a JSON object"),
    (b'"c-1"', "malformed: a command is a JSON object"),
    (b"null", "malformed: a command is a JSON object"),
    (b"42", "malformed: a command is a JSON object"),
])
def test_messages_that_are_not_a_json_object_are_refused(payload: bytes, reason: str) -> None:
    command_id, said, record = Inbox().refusal(payload)
    assert (command_id, record) == (None, False)
    assert reason in said


def test_a_message_over_16_kib_is_refused_before_it_is_parsed() -> None:
    doc = signed("set_service", {"in_service": False, "reason": ""})
    size = len(encode(doc))
    doc = signed("set_service", {"in_service": False,
                                 "reason": "x" * (MAX_MESSAGE_BYTES - size + 1)})
    payload = encode(doc)
    assert len(payload) == MAX_MESSAGE_BYTES + 1
    command_id, said, record = Inbox().refusal(payload)
    assert (command_id, record) == (None, False)
    assert f"malformed: {MAX_MESSAGE_BYTES + 1} bytes" in said

    exact = signed("set_service", {"in_service": False,
                                   "reason": "x" * (MAX_MESSAGE_BYTES - size)})
    assert len(encode(exact)) == MAX_MESSAGE_BYTES
    inbox = Inbox()
    inbox.receive(exact)
    assert len(inbox.applied) == 1


def test_without_a_public_key_every_command_is_refused() -> None:
    for doc in (signed(), signed("selftest", {}), unsigned()):
        command_id, reason, record = Inbox(public_key=None).refusal(doc)
        assert (command_id, record) == ("c-0001", False)
        assert "no command_public_key" in reason


def test_unverified_refusals_are_journalled_at_most_once_a_minute_but_always_answered(
        ) -> None:
    inbox = Inbox()
    inbox.receive(unsigned(command_id="c-1"))
    inbox.monotonic.t += 30
    inbox.receive(unsigned(command_id="c-2"))
    inbox.receive(b"not json")
    inbox.receive(signed(machine="m-002", command_id="c-3"))   # verified: always journalled
    inbox.monotonic.t += 30                                    # a minute since the first
    inbox.receive(signed(key=OTHER_KEY, command_id="c-4"))
    inbox.monotonic.t += 59
    inbox.receive(unsigned(command_id="c-5"))
    assert inbox.applied == []
    assert [(cid, record) for cid, _, record in inbox.journal.refused] == [
        ("c-1", False), ("c-3", True), ("c-4", False)]
    assert "unsigned" in inbox.journal.refused[0][1]
    assert "(2 more refused, not journalled, since)" in inbox.journal.refused[2][1]
    assert "bad signature" in inbox.journal.refused[2][1]
    assert [(cid, reason.split(":")[0]) for cid, reason in inbox.journal.answered] == [
        ("c-2", "unsigned"), (None, "malformed"), ("c-5", "unsigned")]


def test_optional_arguments_may_be_left_out_or_given() -> None:
    inbox = Inbox()
    for number, (name, args) in enumerate((
            ("set_service", {"in_service": True}),
            ("set_service", {"in_service": False, "reason": "cleaning"}),
            ("send_audit", {}), ("send_audit", {"reset": True}),
            ("settle_claim", {"claim": "ABCD", "how": "item_given"}), ("selftest", {}))):
        inbox.receive(signed(name, args, command_id=f"c-{number}"))
    assert [(c.name, dict(c.args)) for c in inbox.applied] == [
        ("set_service", {"in_service": True}),
        ("set_service", {"in_service": False, "reason": "cleaning"}),
        ("send_audit", {}), ("send_audit", {"reset": True}),
        ("settle_claim", {"claim": "ABCD", "how": "item_given"}), ("selftest", {})]
    assert inbox.journal.refused == []


def test_args_left_out_are_no_args() -> None:
    doc = sign({k: v for k, v in unsigned("selftest", {}).items() if k != "args"}, FLEET_KEY)
    inbox = Inbox()
    inbox.receive(doc)
    assert [(c.name, dict(c.args)) for c in inbox.applied] == [("selftest", {})]


# ------------------------------------------------ what JSON allows Python but not a command

ZERO_SIGNATURE = base64.b64encode(bytes(64)).decode()


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_refused_not_raised(constant: bytes) -> None:
    """Python's JSON reader takes them; canonical() (allow_nan=False) could not write them
    back: found before the signature, the message is refused, journalled, answered."""
    for doc in (b'{"id": "c-1", "signature": "%s", "x": %s}' % (ZERO_SIGNATURE.encode(), constant),
                b'{"id": "c-1", "args": {"stock": %s}}' % constant):
        command_id, said, record = Inbox().refusal(doc)
        assert record is False and said.startswith("malformed")


def test_a_lone_surrogate_is_refused_not_raised() -> None:
    payload = b'{"id": "c-1", "signature": "%s", "x": "\\ud800"}' % ZERO_SIGNATURE.encode()
    command_id, said, record = Inbox().refusal(payload)
    assert (command_id, record) == ("c-1", False)
    assert said.startswith("malformed")


def test_a_lone_surrogate_in_a_signed_command_is_refused() -> None:
    """Not even the console could sign it: canonical() cannot write it as UTF-8."""
    with pytest.raises(UnicodeEncodeError):
        canonical({"x": "\ud800"})
    payload = encode({**signed(), "x": "\ud800"})
    command_id, said, record = Inbox().refusal(payload)
    assert (command_id, record) == ("c-0001", False) and said.startswith("malformed")


# --------------------------------------------------------------------------- properties

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
                     max_size=2)
clean_scalars = (st.none() | st.booleans()
                 | st.integers(min_value=-(2**63), max_value=2**63) | st.text(max_size=12))
clean_json = st.recursive(clean_scalars, lambda children: st.lists(children, max_size=4)
                          | st.dictionaries(st.text(max_size=8), children, max_size=4),
                          max_leaves=20)
# What a hostile publisher may send besides: floats with NaN and infinities, lone surrogates.
any_json = st.recursive(clean_scalars | st.floats() | surrogates,
                        lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8) | surrogates, children,
                                          max_size=4),
                        max_leaves=20)
FIELDS = ["id", "machine", "command", "args", "issued_at", "expires_at", "signature"]
command_like = st.fixed_dictionaries({}, optional={
    name: any_json | st.sampled_from(["c-1", MACHINE, "set_stock", "selftest", stamp(NOW),
                                      stamp(NOW + timedelta(minutes=1)),
                                      base64.b64encode(bytes(64)).decode()])
    for name in FIELDS})
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _received(payload: bytes) -> Inbox:
    inbox = Inbox()
    inbox.receive(payload)          # never raises
    assert inbox.applied == [], payload
    assert inbox.journal.answered == []
    assert len(inbox.journal.refused) == 1
    command_id, reason, record = inbox.journal.refused[0]
    assert reason and record is False
    return inbox


@PROPERTY
@given(any_json | command_like)
def test_any_unsigned_json_is_refused_never_raised_never_applied(doc: object) -> None:
    _received(encode(doc))


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_never_raised_never_applied(payload: bytes) -> None:
    _received(payload)


def _fits(name: str, args: object) -> bool:
    if name not in ARGUMENTS or not isinstance(args, dict):
        return False
    wanted = {key.lstrip("?"): (kind, key.startswith("?"))
              for key, kind in ARGUMENTS[name].items()}
    if set(args) - set(wanted):
        return False
    for arg, (kind, optional) in wanted.items():
        if arg not in args:
            if not optional:
                return False
            continue
        value = args[arg]
        if type(value) is not kind:      # bool is not an int here, nor an int a bool
            return False
    return True


arg_names = st.sampled_from(sorted({key.lstrip("?") for args in ARGUMENTS.values()
                                    for key in args} | {"force", ""}))
arg_values = (st.booleans() | st.integers(min_value=-5, max_value=100) | st.text(max_size=6)
              | st.none() | st.lists(st.integers(), max_size=2))
confusing = st.sampled_from([True, False, 0, 1, "1", "true", "", None, 2.0, [], {}])
random_args = st.dictionaries(arg_names, arg_values, max_size=4)


def args_for(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments that fit ``name``: every required one, some optional ones, right types."""
    wanted = ARGUMENTS[name]
    return st.fixed_dictionaries(
        {key: st.from_type(kind) for key, kind in wanted.items() if not key.startswith("?")},
        optional={key[1:]: st.from_type(kind) for key, kind in wanted.items()
                  if key.startswith("?")})


fitting_args = st.sampled_from(sorted(ARGUMENTS)).flatmap(
    lambda name: st.tuples(st.just(name), args_for(name)))



@st.composite
def near_fitting(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Arguments that fit, with one of them changed (a bool for an int, an int for a bool...),
    one left out or one added; or left as they are."""
    name, args = draw(fitting_args)
    how = draw(st.sampled_from(["change", "drop", "add", "keep"]))
    names = sorted({key.lstrip("?") for key in ARGUMENTS[name]})
    if how == "change" and names:
        args = {**args, draw(st.sampled_from(names)): draw(confusing | arg_values)}
    elif how == "drop" and args:
        dropped = draw(st.sampled_from(sorted(args)))
        args = {key: value for key, value in args.items() if key != dropped}
    elif how == "add":
        args = {**args, draw(arg_names): draw(arg_values)}
    return name, args


# Python's bool is an int: every argument of one of the two types, given the other.
CONFUSABLE = [(name, key.lstrip("?"), kind) for name, wanted in sorted(ARGUMENTS.items())
              for key, kind in wanted.items() if kind in (int, bool)]


@st.composite
def type_confused(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Fitting arguments but one: a bool where an int belongs, or an int (0, 1) for a bool."""
    name, arg, kind = draw(st.sampled_from(CONFUSABLE))
    args = draw(args_for(name))
    value = draw(st.booleans() if kind is int else st.integers(min_value=0, max_value=1))
    return name, {**args, arg: value}


def test_bool_is_never_taken_for_an_int_nor_an_int_for_a_bool() -> None:
    assert not _fits("set_stock", {"slot": "A1", "stock": True})
    assert not _fits("set_slot_enabled", {"slot": "A1", "enabled": 0})
    assert _fits("set_stock", {"slot": "A1", "stock": 0})


@PROPERTY
@given(st.one_of(
    st.tuples(st.sampled_from([*sorted(ARGUMENTS), "reboot"]), random_args),
    fitting_args, near_fitting(), type_confused()),
    st.sampled_from(["c-1", "fleet:cmd.42_x"]))
def test_validly_signed_commands_apply_exactly_when_their_args_fit(
        command: tuple[str, dict[str, Any]], command_id: str) -> None:
    name, args = command
    doc = signed(name, args, command_id=command_id)
    inbox = Inbox()
    inbox.receive(encode(doc))
    if _fits(name, args):
        assert [(c.id, c.name, dict(c.args)) for c in inbox.applied] == [(command_id, name, args)]
        assert inbox.journal.refused == []
    else:
        assert inbox.applied == []
        assert [(cid, record) for cid, _, record in inbox.journal.refused] == [(command_id, True)]


@PROPERTY
@given(fitting_args, st.data())
def test_any_change_to_a_signed_command_is_refused_as_unverified(
        fitting: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    name, args = fitting
    doc = signed(name, args)
    field = data.draw(st.sampled_from(["id", "machine", "command", "args", "issued_at",
                                       "expires_at"]))
    value = data.draw(clean_json.filter(lambda v: v != doc[field]))
    forged = {**doc, field: value}
    inbox = Inbox()
    inbox.receive(encode(forged))
    assert inbox.applied == []
    assert len(inbox.journal.refused) == 1
    _, reason, record = inbox.journal.refused[0]
    assert record is False and "bad signature" in reason
