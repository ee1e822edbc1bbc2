"""docs/fleet-protocol.md stays true: it names every command and argument the machine takes and
every ``[fleet]`` key, and its signing example produces commands the machine accepts."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kiosk.config.fleet import FleetConfig
from kiosk.errors import CommandRefused
from kiosk.fleet.commands import ARGUMENTS, read_command
from kiosk.fleet.signing import public_key_text, verify

DOC = Path(__file__).resolve().parent.parent / "docs" / "fleet-protocol.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def mentioned(name: str, text: str) -> bool:
    """``name`` as a whole word in back-quotes or plain text (not a part of a longer name)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_every_command_and_its_arguments_are_documented(command: str) -> None:
    text = doc_text()
    assert mentioned(command, text), f"docs/fleet-protocol.md does not name {command}"
    for key in ARGUMENTS[command]:
        argument = key.lstrip("?")
        assert mentioned(argument, text), f"{command}'s argument {argument} is not documented"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(FleetConfig)])
def test_every_fleet_key_is_documented(field: str) -> None:
    key = "broker" if field == "brokers" else field      # one URL or a list, spelled broker
    assert f"`{key}`" in doc_text(), f"[fleet] {key} is not documented"


def signing_example() -> str:
    blocks: list[str] = [block for block in _PYTHON_BLOCK.findall(doc_text())
                         if "sign" in block]
    assert len(blocks) == 1, "expected one ```python block that signs a command"
    return blocks[0]


def test_the_signing_example_makes_commands_the_machine_accepts() -> None:
    namespace: dict[str, Any] = {"__name__": "fleet_protocol_example"}
    exec(compile(signing_example(), str(DOC), "exec"), namespace)   # noqa: S102 (our own doc)
    key, command = namespace["private_key"], namespace["command"]
    public_key = base64.b64decode(public_key_text(key))
    assert namespace["public_key_b64"] == public_key_text(key)
    verify(command, public_key)                         # raises CommandRefused if not
    checked = read_command(command, command["machine"], datetime.now(timezone.utc))
    assert checked.name == command["command"] and dict(checked.args) == command["args"]
    assert command["command"] in ARGUMENTS
    # and its own helper signs any command the same way
    other = namespace["signed_command"](key, "m-002", "set_stock", {"slot": "A2", "stock": 7})
    verify(other, public_key)
    tampered = {**other, "args": {"slot": "A2", "stock": 8}}
    with pytest.raises(CommandRefused, match="bad signature"):
        verify(tampered, public_key)
